"""Figure style and saving: seaborn, a colour-blind-safe palette, vector PDF plus PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["setup_style", "save_figure", "plot_router_curves"]


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


def plot_router_curves(ax: plt.Axes, routers, *, scale: float = 1000.0) -> None:
    """Cost-quality curves of a routing evaluation's records on ``ax``.

    ``routers``: records with ``router`` and ``points`` (``cost``, ``quality`` lists), as
    :func:`routerlab.fleet.evaluate.evaluate_routers` writes them. Every router but the single
    models is a curve sorted by cost (oracles dashed); each single model (``single:NAME``) is a
    grey point labelled ``NAME``. Costs are multiplied by ``scale`` (per 1,000 queries).
    """
    import numpy as np

    palette = sns.color_palette("colorblind", 12)
    curves = [r for r in routers if not r["router"].startswith("single:")]
    for i, r in enumerate(curves):
        cost = np.asarray(r["points"]["cost"]) * scale
        quality = np.asarray(r["points"]["quality"])
        order = np.argsort(cost, kind="stable")
        ax.plot(cost[order], quality[order], label=r["router"], color=palette[i % 12], lw=1.2,
                ls="--" if "oracle" in r["router"] else "-")
    for r in routers:
        if r["router"].startswith("single:"):
            cost, quality = r["points"]["cost"][0] * scale, r["points"]["quality"][0]
            ax.plot(cost, quality, "o", color="grey", ms=3)
            ax.annotate(r["router"].removeprefix("single:")[:18], (cost, quality), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
