"""Showing a run's Markdown report inside Jupyter, figures included.

A report (``artifacts/report.md``) links its figures relative to itself
(``![name](name.png)``). Jupyter resolves such links against the notebook's folder, not the
report's, so a plain ``display(Markdown(text))`` shows broken images. :func:`report_parts`
splits the report at each image link and resolves the link against the report's folder;
:func:`show_report` displays the parts in order, the figures as real images.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["report_parts", "show_report"]

_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def report_parts(text: str, folder: Path | str) -> list[tuple[str, str | Path]]:
    """``[("markdown", chunk) | ("image", path), ...]`` in reading order.

    Links that are URLs, absolute, or point at a missing file stay in the Markdown as they are,
    so nothing silently disappears.
    """
    folder = Path(folder)
    parts: list[tuple[str, str | Path]] = []
    last = 0
    for match in _IMAGE.finditer(text):
        target = match.group(1)
        path = folder / target
        if "://" in target or Path(target).is_absolute() or not path.is_file():
            continue
        if text[last:match.start()].strip():
            parts.append(("markdown", text[last:match.start()]))
        parts.append(("image", path))
        last = match.end()
    if text[last:].strip():
        parts.append(("markdown", text[last:]))
    return parts


def show_report(run: Any, name: str = "report.md") -> None:
    """Display ``run``'s report (a :class:`~routerlab.rundir.RunDir` or a folder) with its figures inline."""
    from IPython.display import Image, Markdown, display

    folder = Path(getattr(run, "artifacts", run))
    for kind, value in report_parts((folder / name).read_text(), folder):
        display(Markdown(value) if kind == "markdown" else Image(filename=str(value)))
