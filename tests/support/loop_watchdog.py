"""Find event-loop blocking: asyncio debug mode reports every callback slower than a threshold."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):  # asyncio's "Executing <Handle ...> took 0.2 seconds"
            self.reports.append(message)


def run_watched(coro: Coroutine[Any, Any, T], threshold: float = 0.05) -> tuple[T, list[str]]:
    """Run ``coro`` in a debug-mode loop; return its result and the callbacks that blocked longer."""
    handler = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = threshold
    # The check is about the provider's code: a full collection of the garbage earlier tests left
    # (hundreds of ms late in a long session) must not be billed to whichever callback it interrupts.
    gc.collect()
    gc.freeze()
    try:
        return loop.run_until_complete(coro), handler.reports
    finally:
        gc.unfreeze()
        loop.close()
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


async def first_event(trigger: Any) -> dict[str, Any]:
    """The payload of a trigger's first event, closing its generator like the triggerer does."""
    generator = trigger.run()
    try:
        event = await generator.__anext__()
    finally:
        await generator.aclose()
    return dict(event.payload)
