"""
How much of a job's log the task log already holds, kept where a trigger taken over by another
triggerer finds it: an XCom of the deferred task instance.

A trigger keeps nothing itself: when its triggerer dies, another one builds it again from the
kwargs the task deferred with, and it would copy the job's log from the start. The position is an
XCom because the triggerer can write XComs of the task it runs for, and Airflow clears a task
instance's XComs when a new try starts (not when a deferred task resumes): a position never leaks
into the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from airflow.providers.common.compat.sdk import XCom

from airflow_provider_kuberay.log_lines import LineForwarder

POSITION_XCOM_KEY = "kuberay_log_position"


class LogPosition:
    """
    The number of characters of job ``job_id``'s log already in the task log of ``task_instance``.

    Writes are coalesced: one at a time, always of the newest position, so a chatty job costs at
    most one write per round trip to the API server. After a triggerer's death, the lines forwarded
    since the last completed write (a fraction of a second) may repeat; nothing is lost.

    :param task_instance: the deferred task instance the triggerer gives the trigger (``None`` when
        the trigger runs inside the worker: then the position lives in memory only).
    :param job_id: the Ray job whose log is copied.
    :param warn: a logger's ``warning`` method.
    """

    def __init__(self, task_instance: Any | None, job_id: str, warn: Any) -> None:
        self._ti: Any = task_instance  # None in the worker
        self.job_id = job_id
        self._warn = warn
        self._wanted = 0
        self._saved = 0
        self._writer: asyncio.Task[None] | None = None

    @property
    def _where(self) -> dict[str, Any]:
        ti = self._ti
        return {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}

    async def load(self) -> int:
        """Where the task log stands in this job's log for this try (0 when nothing was forwarded yet)."""
        if self._ti is None:
            return 0
        try:
            value = await XCom.aget_one(key=POSITION_XCOM_KEY, **self._where)
        except Exception as err:  # the position is a courtesy: without it the log is copied from the start
            self._warn("Could not read how much of Ray job %s's log was forwarded: %s", self.job_id, err)
            return 0
        if isinstance(value, dict) and value.get("job") == self.job_id and value.get("try") == self._ti.try_number:
            self._saved = self._wanted = int(value.get("chars") or 0)
        return self._saved

    async def resume(self, forwarder: LineForwarder, say: Any) -> None:
        """
        Continue ``forwarder`` where the task log stands (the trigger was taken over from a triggerer
        that died), and record its progress from now on.

        :param say: a logger's ``info`` method.
        """
        if not forwarder.chars_fed and (already := await self.load()):
            say("The task log holds the first %d characters of Ray job %s's log already", already, self.job_id)
            forwarder.resume_at(already)
        forwarder.on_forwarded = self.advance

    def advance(self, chars: int) -> None:
        """The task log now holds ``chars`` characters of the job's log: record it (in the background)."""
        if self._ti is None or chars <= self._wanted:
            return
        self._wanted = chars
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._saved < self._wanted:
            chars = self._wanted
            value = {"job": self.job_id, "try": self._ti.try_number, "chars": chars}
            try:
                await XCom.aset(key=POSITION_XCOM_KEY, value=value, **self._where)
            except Exception as err:
                self._warn("Could not record how much of Ray job %s's log was forwarded: %s", self.job_id, err)
                self._ti = None  # said once; the log goes on without a recorded position
                return
            self._saved = chars

    async def close(self) -> None:
        """Let the last write finish (the trigger is about to fire, or it stops)."""
        if self._writer is not None and not self._writer.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), 5.0)
