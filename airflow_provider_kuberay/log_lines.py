"""Turn streamed log chunks into whole lines for the task log."""

from __future__ import annotations

from collections.abc import Callable


class LineForwarder:
    """
    Forward complete lines of a chunked stream to a sink, keeping a partial last line until it ends.

    :param sink: called once per complete line, without its newline.
    """

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink
        self._partial = ""
        self.lines_forwarded = 0
        self.chars_fed = 0

    def feed(self, chunk: str) -> None:
        self.chars_fed += len(chunk)
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._emit(line)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = ""

    def _emit(self, line: str) -> None:
        self._sink(line.rstrip("\r"))
        self.lines_forwarded += 1


def last_lines(text: str, count: int) -> str:
    """The last ``count`` non-empty lines of ``text``."""
    if count <= 0:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])
