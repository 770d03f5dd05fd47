"""
How every hook retries: bounded attempts with full-jitter exponential backoff (honouring
``Retry-After``), and one pure classifier of each attempt's outcome (return it, retry it after a
delay, reload the credentials once, or raise a typed error). The loop that applies it is
:func:`airflow_provider_kuberay.hooks.steps.send`; the sync and async hooks only perform its steps.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, Protocol

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


# -- what one attempt brought back ------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """
    An HTTP answer to one attempt.

    :param status: its HTTP status.
    :param response: what the caller gets on success (the client library's response, or the body).
    :param text: the body of an error answer (read before classifying; empty for a success).
    :param retry_after: seconds its ``Retry-After`` header asks for, if any.
    """

    status: int
    response: Any = None
    text: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class NoAnswer:
    """
    An attempt that got no HTTP answer: refused, reset, timed out, or a TLS handshake that failed.

    :param error: the client library's exception.
    :param tls: the TLS handshake failed (a certificate will not verify better on a second try).
    """

    error: BaseException
    tls: bool = False


Outcome = Answer | NoAnswer


class CallRules(Protocol):
    """What a kind of API call says about its answers: which to retry and which error each one raises."""

    @property
    def reloads_credentials(self) -> bool:
        """Whether a 401 may go better once the credentials are loaded again (rotated tokens)."""

    @property
    def label(self) -> str:
        """The call in log lines, e.g. ``Kubernetes API to get RayJob ns/j``."""

    def retryable(self, answer: Answer) -> bool:
        """Whether an error answer may go better on another attempt."""

    def answer_error(self, answer: Answer, attempts: int) -> Exception:
        """The typed error of a final error answer, after ``attempts`` attempts."""

    def unreachable_error(self, error: BaseException, attempts: int) -> Exception:
        """The typed error when ``attempts`` attempts got no answer."""

    def tls_error(self, error: BaseException) -> Exception:
        """The typed error of a failed TLS handshake."""


class Action(Enum):
    """What to do with an outcome."""

    RETURN = "return"
    RETRY = "retry"
    RELOAD = "reload credentials"
    RAISE = "raise"


@dataclass(frozen=True)
class Verdict:
    """
    The classifier's answer.

    :param action: what to do.
    :param delay: seconds to wait first (``RETRY``).
    :param error: the typed error (``RAISE``).
    :param why: words for the log (``RETRY``, ``RELOAD``).
    """

    action: Action
    delay: float = 0.0
    error: Exception | None = None
    why: str = ""


def classify(
    outcome: Outcome, rules: CallRules, policy: RetryPolicy, *, attempt: int, attempts: int, reloaded: bool
) -> Verdict:
    """
    Decide what an attempt's outcome calls for: the one place every hook's retry rules live.

    :param outcome: what attempt number ``attempt`` brought back.
    :param rules: the call's rules (which answers to retry, which errors to raise).
    :param policy: backoff windows.
    :param attempt: the attempt (1-based); a credentials reload does not count as one.
    :param attempts: how many attempts the call may make.
    :param reloaded: the credentials were reloaded once already.
    """
    if isinstance(outcome, NoAnswer):
        if outcome.tls:
            return Verdict(Action.RAISE, error=rules.tls_error(outcome.error))
        if attempt >= attempts:
            return Verdict(Action.RAISE, error=rules.unreachable_error(outcome.error, attempt))
        return Verdict(Action.RETRY, policy.delay(attempt), why=f"no answer ({outcome.error!r})")
    if 200 <= outcome.status < 300:
        return Verdict(Action.RETURN)
    if outcome.status == 401 and rules.reloads_credentials and not reloaded:
        # Tokens rotate (service account, exec plugins, kubeconfig files): reload them once.
        return Verdict(Action.RELOAD, why="answered 401")
    if attempt < attempts and rules.retryable(outcome):
        return Verdict(Action.RETRY, policy.delay(attempt, outcome.retry_after), why=f"answered {outcome.status}")
    return Verdict(Action.RAISE, error=rules.answer_error(outcome, attempt))


def one_request_per_attempt(session: Any) -> None:
    """
    Stop an ``aiohttp.ClientSession`` from sending an idempotent request a second time, at once and
    without backoff, when its connection drops: the retry policy must be the only (bounded, jittered)
    one. aiohttp has no public switch for it; without the private one the session is left as it is.

    :param session: the session (the async clients' connection pool).
    """
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
