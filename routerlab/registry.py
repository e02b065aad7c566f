"""Experiments: one file each under ``experiments/``, found and run by name.

An experiment file is a lab-notebook entry (after big_vision). Its module docstring gives
the exact command, the runtime at each scale, the expected result, and the paper table or
figure it feeds. It defines three functions, with the logic itself living in ``routerlab``::

    def get_config(scale: str) -> SomeConfig       # a frozen, validated dataclass
    def run(cfg: SomeConfig, run: RunDir) -> dict  # does the work; returns the summary
    def report(run: RunDir) -> str                 # Markdown; writes figures to run.artifacts

and a tuple ``SCALES`` of the scales it supports (``smoke``, ``quick``, ``paper``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from routerlab.config import ConfigError, from_dict, override
from routerlab.rundir import RunDir, RunDirError, atomic_write_text, find_runs

__all__ = ["Experiment", "experiments_dir", "list_experiments", "load_experiment", "execute", "recorded_run", "ensure_run", "runs_root", "resume", "SCALE_NAMES"]

SCALE_NAMES = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment file."""

    name: str
    path: Path
    module: ModuleType

    @property
    def doc(self) -> str:
        return (self.module.__doc__ or "").strip()

    @property
    def title(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name

    @property
    def scales(self) -> tuple[str, ...]:
        return tuple(self.module.SCALES)

    @property
    def get_config(self) -> Callable[[str], Any]:
        return self.module.get_config

    @property
    def run(self) -> Callable[[Any, RunDir], dict]:
        return self.module.run

    @property
    def report(self) -> Callable[[RunDir], str]:
        return self.module.report

    def config(self, scale: str, sets: Sequence[str] = ()) -> Any:
        """The validated config at ``scale`` with ``KEY=VALUE`` overrides applied."""
        if scale not in self.scales:
            raise ConfigError("scale", f"must be one of {', '.join(self.scales)}; got {scale!r}")
        return override(self.get_config(scale), sets)


def experiments_dir() -> Path:
    """``$ROUTERLAB_EXPERIMENTS``, else the ``experiments/`` folder beside the package."""
    env = os.environ.get("ROUTERLAB_EXPERIMENTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "experiments"


def list_experiments() -> list[str]:
    folder = experiments_dir()
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def load_experiment(name: str) -> Experiment:
    """Import ``experiments/<name>.py`` and check it defines the experiment protocol."""
    path = experiments_dir() / f"{name}.py"
    if not path.is_file():
        known = ", ".join(list_experiments()) or "none found"
        raise ConfigError("experiment", f"unknown experiment {name!r}; known: {known} (looked in {path.parent})")
    module_name = f"routerlab_experiments.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    for attr in ("get_config", "run", "report", "SCALES"):
        if not hasattr(module, attr):
            raise ConfigError("experiment", f"{path} does not define {attr}")
    return Experiment(name, path, module)


def execute(exp: Experiment, cfg: Any, out: Path | str, *, scale: str | None = None) -> RunDir:
    """Run ``cfg`` into a new run directory under ``out``; DONE is written only on success."""
    run = RunDir.create(out, exp.name, cfg, scale=scale)
    return _complete(exp, cfg, run)


def runs_root() -> Path:
    """``$ROUTERLAB_RUNS``, else ``runs/`` beside the package (where ``routerlab run`` writes by default from the repo root)."""
    env = os.environ.get("ROUTERLAB_RUNS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "runs"


def recorded_run(name: str, cfg: Any, out: Path | str) -> RunDir | None:
    """The newest complete run of ``name`` under ``out`` made from exactly ``cfg``, if any."""
    for run in reversed(find_runs(out, name)):
        if run.matches(cfg):
            return run
    return None


def ensure_run(name: str, scale: str, out: Path | str = "runs", sets: Sequence[str] = ()) -> RunDir:
    """The newest complete run of ``name`` made from exactly this config, else a new one.

    Notebooks and the paper call this, so they reuse recorded runs and never a partial one.
    """
    exp = load_experiment(name)
    cfg = exp.config(scale, sets)
    return recorded_run(name, cfg, out) or execute(exp, cfg, out, scale=scale)


def resume(path: Path | str) -> tuple[Experiment, RunDir]:
    """Continue an interrupted run in place, from its own config.json."""
    run = RunDir.open(path)
    if run.done:
        raise RunDirError(f"{run.path}: already complete (DONE exists); nothing to resume")
    exp = load_experiment(run.experiment)
    cfg = from_dict(type(exp.get_config(run.header.get("scale") or exp.scales[0])), run.config)
    return exp, _complete(exp, cfg, run)


def _complete(exp: Experiment, cfg: Any, run: RunDir) -> RunDir:
    summary = exp.run(cfg, run)
    run.write_json("summary.json", summary)
    atomic_write_text(run.artifacts / "report.md", exp.report(run))
    run.finish()
    return run
