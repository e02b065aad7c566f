"""``routerlab paper``: the registry-driven half of the paper build.

Which experiments feed the paper (those whose file defines a ``paper`` hook) is a question
for the experiment registry, which imports the studies; the studies import
:mod:`routerlab.report`. So the part that asks the registry lives here, above both, and
:mod:`routerlab.report.paper` (assembling tables, figures and claims from runs and hooks)
depends on nothing above the report layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from routerlab.registry import list_experiments, load_experiment
from routerlab.report.paper import assemble, newest_complete
from routerlab.rundir import RunDir

__all__ = ["paper_experiments", "build_paper"]


def paper_experiments() -> list[str]:
    """Experiments whose file defines a ``paper`` hook."""
    return [name for name in list_experiments() if hasattr(load_experiment(name).module, "paper")]


def build_paper(runs_root: Path | str, out: Path | str, *, scale: str | None = None,
                experiments: Sequence[str] | None = None, command: str | None = None,
                runs: Mapping[str, RunDir] | None = None) -> list[Path]:
    """Write every experiment's tables and figures into ``out``; returns the files written.

    Each experiment's run is ``runs[name]`` when given (it must be complete), else the newest
    complete run under ``runs_root`` (at ``scale``, if given).
    """
    runs_root, out = Path(runs_root), Path(out)
    names = list(experiments or paper_experiments())
    given = dict(runs or {})
    chosen = {name: given[name].require_done() if name in given else newest_complete(runs_root, name, scale)
              for name in names}  # fail before writing
    hooks = {name: load_experiment(name).module.paper for name in names}
    command = command or f"routerlab paper --runs {runs_root} --out {out}" + (f" --scale {scale}" if scale else "")
    return assemble(chosen, hooks, out, command)
