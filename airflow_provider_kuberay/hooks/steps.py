"""
Hook operations written once for the sync and the async hooks, as steps.

An operation is a generator: it yields a :class:`Step` (send one request, pause, reload the
credentials, resolve a namespace...) and gets back its result, or has its exception thrown in.
A sync hook performs each step with blocking calls (:func:`run_sync`), an async hook awaits them
(:func:`run_async`); which hook method performs a step is named by the step. So the logic of an
operation, retries included (:func:`send`), exists once, and the hooks only move bytes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_kuberay.hooks.retry import Action, Answer, CallRules, NoAnswer, RetryPolicy, classify

T = TypeVar("T")
Steps = Generator["Step", Any, T]


@dataclass(frozen=True)
class Step:
    """
    Something an operation needs its hook to do.

    :param performer: the name of the hook method that does it (a plain method in a sync hook, a
        coroutine in an async one).
    :param args: its arguments.
    """

    performer: str
    args: tuple[Any, ...] = ()


def send_once(call: Any) -> Step:
    """Send one request, one attempt; the hook answers its :data:`~airflow_provider_kuberay.hooks.retry.Outcome`."""
    return Step("_send_once", (call,))


def pause(seconds: float, why: str = "") -> Step:
    """Wait (before the next attempt, or the next poll); ``why`` goes to the log."""
    return Step("_pause", (seconds, why))


def send(call: CallRules, policy: RetryPolicy, *, attempts: int | None = None) -> Steps[Any]:
    """
    Send a request, attempt after attempt as :func:`~airflow_provider_kuberay.hooks.retry.classify`
    says; return the successful answer's ``response``, or raise the call's typed error.

    :param call: the request (it also carries its rules).
    :param policy: attempts and backoff.
    :param attempts: fewer attempts than the policy's (a watch counts its failures itself).
    """
    limit = policy.attempts if attempts is None else attempts
    attempt, reloaded = 1, False
    while True:
        outcome = yield send_once(call)
        verdict = classify(outcome, call, policy, attempt=attempt, attempts=limit, reloaded=reloaded)
        if verdict.action is Action.RETURN and isinstance(outcome, Answer):
            return outcome.response
        if verdict.error is not None:
            raise verdict.error from (outcome.error if isinstance(outcome, NoAnswer) else None)
        if verdict.action is Action.RELOAD:
            reloaded = True  # a reload is not an attempt
            yield Step("_reload_credentials", (f"{call.label}: {verdict.why}; reloading the credentials",))
        else:
            yield pause(verdict.delay, f"{call.label}: {verdict.why}; retrying ({attempt})")
            attempt += 1


class _Stepper:
    """Walks an operation: hands each step's result (or exception) back in, keeps its return value."""

    def __init__(self, steps: Steps[Any]) -> None:
        self._steps = steps
        self.reply: Any = None
        self.error: Exception | None = None
        self.result: Any = None

    def next(self) -> Step | None:
        """The next step to perform, or ``None`` once the operation returned (see :attr:`result`)."""
        error, self.error = self.error, None
        try:
            step = self._steps.send(self.reply) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            self.result = stop.value
            return None
        self.reply = None
        return step


def run_sync(steps: Steps[T], hook: Any) -> T:
    """Perform an operation's steps with the blocking methods of ``hook``; return its result."""
    stepper = _Stepper(steps)
    while (step := stepper.next()) is not None:
        try:
            stepper.reply = getattr(hook, step.performer)(*step.args)
        except Exception as err:  # the operation may handle it (e.g. "not found" means None)
            stepper.error = err
    return stepper.result


async def run_async(steps: Steps[T], hook: Any) -> T:
    """Perform an operation's steps with the coroutines of ``hook``; return its result."""
    stepper = _Stepper(steps)
    while (step := stepper.next()) is not None:
        try:
            stepper.reply = await getattr(hook, step.performer)(*step.args)
        except Exception as err:  # the operation may handle it (e.g. "not found" means None)
            stepper.error = err
    return stepper.result
