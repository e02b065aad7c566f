"""The one shape of a study: what an experiment file (``experiments/<name>.py``) provides.

An experiment file is a module that satisfies :class:`Study`. Its *name* is the file's
stem; its *config type* is the frozen dataclass :func:`get_config` returns (the same type at
every scale). Required::

    SCALES: tuple[str, ...]                         # of "smoke", "quick", "paper"
    def get_config(scale: str) -> Config            # a frozen, validated dataclass
    def run(cfg: Config, run: RunDir) -> dict       # does the work; returns the summary
    def report(run: RunDir) -> str                  # Markdown; figures into run.artifacts

Optional hooks, each checked for its arity when present::

    def check(cfg: Config) -> None                  # what the config alone cannot validate
    def summarize(run: RunDir) -> dict              # the summary, recomputed from metrics.jsonl
    def findings(run: RunDir) -> str                # the verdict prose of a finished run
    def paper(run: RunDir, out: Path, provenance: str) -> list[Path]   # tables/*.tex, figures/*.pdf

The logic lives in ``routerlab.studies``; an experiment file binds it (``from
routerlab.studies.planted import run, report, paper``, or the bound methods of a
:class:`routerlab.studies.lm.Study`) and holds the per-scale numbers, with its docstring as
the lab-notebook entry. :func:`check_study` is what the registry runs on every file it loads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from routerlab.config import ConfigError

__all__ = ["Study", "REQUIRED", "OPTIONAL", "check_study", "config_type"]

SCALE_NAMES = ("smoke", "quick", "paper")


@runtime_checkable
class Study(Protocol):
    """An experiment module (see the module docstring); ``isinstance(module, Study)`` checks presence only."""

    SCALES: tuple[str, ...]

    def get_config(self, scale: str) -> Any: ...

    def run(self, cfg: Any, run: Any) -> dict[str, Any]: ...

    def report(self, run: Any) -> str: ...


# name -> (positional arguments it is called with, how the error message writes it)
REQUIRED: dict[str, tuple[int, str]] = {
    "get_config": (1, "get_config(scale)"),
    "run": (2, "run(cfg, run)"),
    "report": (1, "report(run)"),
}
OPTIONAL: dict[str, tuple[int, str]] = {
    "check": (1, "check(cfg)"),
    "summarize": (1, "summarize(run)"),
    "findings": (1, "findings(run)"),
    "paper": (3, "paper(run, out, provenance)"),
}


def _accepts(func: Callable, count: int) -> bool:
    try:
        inspect.signature(func).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): trust it
        return True
    return True


def check_study(module: Any, path: Path | str) -> None:
    """Raise a one-line :class:`ConfigError` naming the first function (or ``SCALES``) that
    ``module`` lacks or defines with the wrong arguments."""
    for name, (count, shown) in REQUIRED.items():
        func = getattr(module, name, None)
        if func is None:
            raise ConfigError("experiment", f"{path} does not define {shown} (the Study protocol, routerlab/studies/protocol.py)")
        if not callable(func) or not _accepts(func, count):
            raise ConfigError("experiment", f"{path}: {name} must be callable as {shown}")
    scales = getattr(module, "SCALES", None)
    if scales is None:
        raise ConfigError("experiment", f"{path} does not define SCALES (the Study protocol, routerlab/studies/protocol.py)")
    if not isinstance(scales, tuple) or not scales or not set(scales) <= set(SCALE_NAMES):
        raise ConfigError("experiment", f"{path}: SCALES must be a non-empty tuple of {', '.join(SCALE_NAMES)}; got {scales!r}")
    for name, (count, shown) in OPTIONAL.items():
        func = getattr(module, name, None)
        if func is not None and (not callable(func) or not _accepts(func, count)):
            raise ConfigError("experiment", f"{path}: the optional hook {name} must be callable as {shown}")


def config_type(module: Any) -> type:
    """The config dataclass a study's :func:`get_config` returns at its first scale."""
    return type(module.get_config(module.SCALES[0]))
