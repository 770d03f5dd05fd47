"""Turn streamed log chunks into whole lines for the task log."""

from __future__ import annotations

from collections.abc import Callable


class LineForwarder:
    """
    Forward complete lines of a chunked stream to a sink, keeping a partial last line until it ends.

    :param sink: called once per complete line, without its newline.
    :param on_forwarded: called after lines were forwarded, with :attr:`chars_forwarded`.
    """

    def __init__(self, sink: Callable[[str], None], on_forwarded: Callable[[int], None] | None = None) -> None:
        self._sink = sink
        self.on_forwarded = on_forwarded
        self._partial = ""
        self.lines_forwarded = 0
        self.chars_fed = 0

    @property
    def chars_forwarded(self) -> int:
        """Characters of the stream now in the sink (the partial last line excluded)."""
        return self.chars_fed - len(self._partial)

    def resume_at(self, chars: int) -> None:
        """Continue a stream whose first ``chars`` characters an earlier forwarder delivered already."""
        if self.chars_fed:
            raise RuntimeError("resume_at must be called before the first chunk")
        self.chars_fed = chars

    def feed(self, chunk: str) -> None:
        self.chars_fed += len(chunk)
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._emit(line)
        if complete and self.on_forwarded is not None:
            self.on_forwarded(self.chars_forwarded)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = ""
            if self.on_forwarded is not None:
                self.on_forwarded(self.chars_forwarded)

    def _emit(self, line: str) -> None:
        self._sink(line.rstrip("\r"))
        self.lines_forwarded += 1


def last_lines(text: str, count: int) -> str:
    """The last ``count`` non-empty lines of ``text``."""
    if count <= 0:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])
