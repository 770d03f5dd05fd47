"""Bounded retries with full-jitter exponential backoff, shared by the sync and async clients."""

from __future__ import annotations

import random
from dataclasses import dataclass

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


def is_transient_status(status_code: int) -> bool:
    """Whether an HTTP status is worth retrying."""
    return status_code in TRANSIENT_STATUS_CODES
