"""The progress view on the terminal during a shift."""

from __future__ import annotations

import sys
from typing import TextIO


class Console:
    """Lines for events; one self-overwriting status line on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._quiet = quiet
        self._status = ""

    def line(self, text: str) -> None:
        if self._status and self._tty:
            self._stream.write("\r\033[K")
        self._status = ""
        self._stream.write(text + "\n")
        self._stream.flush()

    def status(self, text: str) -> None:
        if self._quiet or text == self._status:
            return
        if self._tty:
            self._stream.write("\r\033[K" + text[:200])
        else:
            self._stream.write(text + "\n")
        self._status = text
        self._stream.flush()


def bar(weight: int, width: int = 20) -> str:
    filled = round(width * weight / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"
