"""Markdown and LaTeX tables, and report prose turned into LaTeX for the paper."""

import pytest

from routerlab.report import MeanCI, fmt_ci, latex_paragraphs, latex_table, markdown_table
from routerlab.report.tables import latex_escape


def test_fmt_ci_is_mean_and_half_width():
    assert fmt_ci(MeanCI(mean=0.5, lo=0.4, hi=0.6, n=3)) == "0.500 ± 0.100"


def test_markdown_table_orders_columns_and_formats_floats():
    text = markdown_table([{"b": 1.234567, "a": "x"}], ["a", "b"])
    assert text == "| a | b |\n|---|---|\n| x | 1.235 |\n"


def test_latex_escape_covers_specials_and_unicode_that_pdflatex_rejects():
    assert latex_escape("50% of a_b & {c} #1 $2") == r"50\% of a\_b \& \{c\} \#1 \$2"
    assert latex_escape("a<=b, c>=d") == r"a\textless{}=b, c\textgreater{}=d"
    assert latex_escape("±≤≥×−λΔ") == r"$\pm$$\leq$$\geq$$\times$$-$$\lambda$$\Delta$"
    assert latex_escape("x~y^z\\") == r"x\textasciitilde{}y\textasciicircum{}z\textbackslash{}"
    assert latex_escape("seen ~160 times, 1–2…") == r"seen $\sim$160 times, 1--2\ldots{}"
    with pytest.raises(ValueError, match="U\\+221A"):  # pdfLaTeX stops on an unmapped character: fail here
        latex_escape("√2")


def test_latex_table_is_booktabs_with_escaped_cells():
    tex = latex_table([{"router": "top_k", "loss": "1.0 ± 0.1"}], ["router", "loss"], caption="C.", label="tab:x")
    lines = tex.splitlines()
    assert lines[0] == r"\begin{table}[t]" and r"\toprule" in lines and r"\bottomrule" in lines
    assert r"top\_k & 1.0 $\pm$ 0.1 \\" in lines
    assert r"\label{tab:x}" in lines


def test_latex_paragraphs_converts_the_report_subset():
    markdown = (
        "Final loss minus **Switch**, paired by seed:\n"
        "- hash: -0.35 ± 0.18 (better)\n"
        "- rl-r: +0.24 ± 0.12\n"
        "  (worse)\n"
        "\n"
        "Run `routerlab run routers`; 50% saved.\n"
        "Same paragraph.\n"
    )
    assert latex_paragraphs(markdown) == (
        "Final loss minus \\textbf{Switch}, paired by seed:\n\n"
        "\\begin{itemize}\n"
        "\\item{} hash: -0.35 $\\pm$ 0.18 (better)\n"
        "\\item{} rl-r: +0.24 $\\pm$ 0.12 (worse)\n"
        "\\end{itemize}\n\n"
        "Run \\texttt{routerlab run routers}; 50\\% saved. Same paragraph.\n"
    )
