"""Tables for the console and for Markdown reports."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """`rows` under `header` as plain text, each column as wide as its widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    return "\n".join(
        [line.format(*header), line.format(*("-" * w for w in widths))]
        + [line.format(*r) for r in rows]
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """`rows` under `header` as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])
