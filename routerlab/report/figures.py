"""Figure style and saving: seaborn, a colour-blind-safe palette, vector PDF plus PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["setup_style", "save_figure"]


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")


def save_figure(fig: plt.Figure, stem: Path | str, *, subject: str | None = None, png: bool = True) -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` (vector, for the paper) and, with ``png``, ``stem.png`` (for
    Markdown); close it. Returns the paths written, the PDF first.

    ``subject`` goes into the PDF's Subject metadata (the paper records provenance there).
    The PDF has no creation date, so the same figure gives the same bytes.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".pdf"), *([stem.with_suffix(".png")] if png else [])]
    fig.tight_layout()
    fig.savefig(paths[0], metadata={"CreationDate": None, "Subject": subject})
    if png:
        fig.savefig(paths[1], dpi=150)
    plt.close(fig)
    return paths
