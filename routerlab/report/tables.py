"""Markdown tables for reports, booktabs LaTeX tables for the paper."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from routerlab.report.stats import MeanCI

__all__ = ["markdown_table", "fmt_ci", "latex_table", "latex_escape", "latex_paragraphs"]


def fmt_ci(ci: MeanCI, digits: int = 3) -> str:
    """``0.123 ± 0.045`` (mean ± half-width of the interval); one seed has no interval: ``0.123 ± n/a (1 seed)``."""
    if ci.n < 2:
        return f"{ci.mean:.{digits}f} ± n/a (1 seed)"
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


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    # Characters that pdfLaTeX's default UTF-8 input does not typeset: math equivalents.
    "±": r"$\pm$", "≤": r"$\leq$", "≥": r"$\geq$", "×": r"$\times$", "−": r"$-$", "≈": r"$\approx$",
    "→": r"$\rightarrow$", "α": r"$\alpha$", "γ": r"$\gamma$", "λ": r"$\lambda$", "Δ": r"$\Delta$", "…": r"\ldots{}",
    "–": "--", "—": "---",
}
_APPROX = re.compile(r"~(?=[\d.])")  # "~160 times": about, not a literal tilde


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, for plain-text table cells and prose.

    Raises ``ValueError`` on a non-ASCII character it has no mapping for, since pdfLaTeX would
    stop on it (or drop it) far from here.
    """
    out = []
    for i, part in enumerate(_APPROX.split(text)):
        if i:
            out.append(r"$\sim$")
        for ch in part:
            if ch in _LATEX_ESCAPES:
                out.append(_LATEX_ESCAPES[ch])
            elif ord(ch) < 128:
                out.append(ch)
            else:
                raise ValueError(f"latex_escape: no LaTeX mapping for {ch!r} (U+{ord(ch):04X}) in {text[:60]!r}")
    return "".join(out)


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape ``text``, then turn Markdown ``**bold**`` and ```code``` into LaTeX."""
    out, pos = [], 0
    for match in re.finditer(f"{_BOLD.pattern}|{_CODE.pattern}", text):
        out.append(latex_escape(text[pos:match.start()]))
        bold, code = match.group(1), match.group(2)
        out.append(rf"\textbf{{{latex_escape(bold)}}}" if bold is not None else rf"\texttt{{{latex_escape(code)}}}")
        pos = match.end()
    out.append(latex_escape(text[pos:]))
    return "".join(out)


def latex_paragraphs(markdown: str) -> str:
    """The prose subset of Markdown that reports write, as LaTeX: paragraphs separated by blank
    lines, ``- `` bullet lists (an ``itemize``), ``**bold**`` and ```code```. Anything else is
    escaped and kept as text, so a generated finding can be ``\\input`` into the paper."""
    blocks: list[str] = []
    items: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(_inline(" ".join(para)))
            para.clear()
        if items:
            # "\item{}" so that an item starting with "[" is not read as the item's label
            blocks.append("\n".join([r"\begin{itemize}", *(rf"\item{{}} {_inline(i)}" for i in items), r"\end{itemize}"]))
            items.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("- "):
            if para:
                flush()
            items.append(stripped[2:])
        elif items and line.startswith("  "):  # continuation of a bullet
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            para.append(stripped)
    flush()
    return "\n\n".join(blocks) + "\n"


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
