"""Markdown tables for reports, booktabs LaTeX tables for the paper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from routerlab.report.stats import MeanCI

__all__ = ["markdown_table", "fmt_ci", "latex_table", "latex_escape"]


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


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, caption: str, label: str,
                align: str | None = None) -> str:
    """A booktabs ``table`` environment of ``rows``; cells are escaped for LaTeX."""
    align = align or "l" + "r" * (len(columns) - 1)
    body = [" & ".join(latex_escape(_cell(row.get(c, ""))) for c in columns) + r" \\" for row in rows]
    return "\n".join([
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        # Shrink to the text width only when the table is wider (graphicx's \resizebox).
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\end{table}",
        "",
    ])
