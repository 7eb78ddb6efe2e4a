"""Write the protocol test vectors into docs/protocol.md (between the vectors markers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.vectors import render

BEGIN, END = "<!-- vectors:begin -->\n", "<!-- vectors:end -->"


def main() -> None:
    path = Path(__file__).with_name("protocol.md")
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + BEGIN + render() + END + tail)


if __name__ == "__main__":
    main()
