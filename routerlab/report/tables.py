"""Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from routerlab.report.stats import MeanCI

__all__ = ["markdown_table", "fmt_ci"]


def fmt_ci(ci: MeanCI, digits: int = 3) -> str:
    """``0.123 ± 0.045`` (mean ± half-width of the interval)."""
    return f"{ci.mean:.{digits}f} ± {ci.half_width:.{digits}f}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, MeanCI):
        return fmt_ci(value)
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (dicts), columns in the given order."""
    if not rows:
        return "_(no rows)_\n"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
