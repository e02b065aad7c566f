"""``routerlab paper``: the registry-driven half of the paper build.

Which experiments feed the paper (those whose file defines a ``paper`` hook) is a question
for the experiment registry, which imports the studies; the studies import
:mod:`routerlab.report`. So the part that asks the registry lives here, above both, and
:mod:`routerlab.report.paper` (assembling tables, figures and claims from runs and hooks)
depends on nothing above the report layer.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from routerlab.registry import list_experiments, load_experiment, recorded_run
from routerlab.report.paper import assemble, newest_complete
from routerlab.rundir import RunDir

__all__ = ["paper_experiments", "build_paper"]


def paper_experiments() -> list[str]:
    """Experiments whose file defines a ``paper`` hook."""
    return [name for name in list_experiments() if hasattr(load_experiment(name).module, "paper")]


def _paper_run(root: Path, name: str, scale: str | None) -> RunDir:
    """The newest complete run of ``name`` made from exactly its config at ``scale`` (a run made
    with ``--set`` overrides at that scale is not that scale's run); failing that, the newest
    complete run at ``scale``, said on stderr (its config differs from the current one)."""
    if scale is not None:
        exp = load_experiment(name)
        if scale in exp.scales and (run := recorded_run(name, exp.config(scale), root)) is not None:
            return run
    run = newest_complete(root, name, scale)
    if scale is not None:
        print(f"routerlab paper: {name}: no complete run of its current {scale} config; using {run.path} "
              f"(config {run.header.get('config_hash')})", file=sys.stderr)
    return run


def build_paper(runs_root: Path | str, out: Path | str, *, scale: str | None = None,
                experiments: Sequence[str] | None = None, command: str | None = None,
                runs: Mapping[str, RunDir] | None = None) -> list[Path]:
    """Write every experiment's tables and figures into ``out``; returns the files written.

    Each experiment's run is ``runs[name]`` when given (it must be complete), else the newest
    complete run under ``runs_root`` of its current config at ``scale`` (:func:`_paper_run`),
    else the newest complete one at ``scale`` (said on stderr).
    """
    runs_root, out = Path(runs_root), Path(out)
    names = list(experiments or paper_experiments())
    given = dict(runs or {})
    chosen = {name: given[name].require_done() if name in given else _paper_run(runs_root, name, scale)
              for name in names}  # fail before writing
    hooks = {name: load_experiment(name).module.paper for name in names}
    command = command or f"routerlab paper --runs {runs_root} --out {out}" + (f" --scale {scale}" if scale else "")
    return assemble(chosen, hooks, out, command)
