"""Bounded retries with full-jitter exponential backoff, shared by the sync and async clients."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# 429 and 5xx mean "the server could not answer now"; anything else is an answer to surface.
TRANSIENT_STATUS_CODES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """
    How often and how patiently to retry a request that failed transiently.

    :param attempts: total attempts, the first included (1 disables retries).
    :param base_delay: seconds of the first backoff window.
    :param max_delay: cap on any one backoff window, in seconds.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); jittered so clients spread."""
        window = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, window)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """
        Seconds to wait after failed attempt number ``attempt``, honouring the server's ``Retry-After``.

        :param attempt: the failed attempt (1-based).
        :param retry_after: seconds the server asked for (see :func:`retry_after_seconds`), if any.
        """
        if retry_after is None:
            return self.backoff(attempt)
        # At least what the server asked for, capped so a bad header cannot stall a task; plus a
        # little jitter so the clients it told the same moment do not all come back together.
        return min(max(retry_after, 0.0), self.max_delay) + random.uniform(0, self.base_delay)


def is_transient_status(status_code: int) -> bool:
    """Whether an HTTP status is worth retrying."""
    return status_code in TRANSIENT_STATUS_CODES


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """
    The wait a ``Retry-After`` header asks for: delta-seconds or an HTTP date (RFC 9110).

    :param value: the header's value.
    :param now: the current time (for HTTP dates; default: now).
    :return: seconds (never negative), or ``None`` when absent or unreadable.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)
