"""Progress of long commands on standard error: a bar on a terminal, optional lines otherwise.

Standard output stays the command's result (JSON lines a pipe reads); the bar goes to
standard error and is redrawn in place at most a few times a second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 30
REDRAW_S = 0.2


class Progress:
    """``[#####     ] 1,200/4,000 files (30%) note`` for ``total`` things of a ``unit``.

    ``lines`` prints a plain line per update where there is no terminal (for logs); without
    it nothing is printed there. ``quiet`` prints nothing at all.
    """

    def __init__(
        self,
        total: int,
        unit: str,
        out: TextIO | None = None,
        *,
        lines: bool = False,
        quiet: bool = False,
    ) -> None:
        self.total = max(total, 0)
        self.unit = unit
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty() and not quiet
        self.lines = lines and not quiet
        self._drawn = 0.0
        self._width = 0

    def update(self, done: int, note: str = "", *, final: bool = False) -> None:
        if not (self.tty or self.lines):
            return
        now = time.monotonic()
        if self.tty and not final and now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        text = self.text(done, note)
        if self.tty:
            # Pad over a longer previous line; end the bar's line when done.
            self.out.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def finish(self, done: int, note: str = "") -> None:
        self.update(done, note, final=True)

    def text(self, done: int, note: str = "") -> str:
        share = done / self.total if self.total else 1.0
        bar = "#" * int(min(share, 1.0) * BAR)
        counted = f"{done:,}/{self.total:,} {self.unit} ({share:.0%})"
        return f"[{bar:<{BAR}}] {counted}" + (f", {note}" if note else "")
