"""Experiments: one file each under ``experiments/``, found and run by name.

An experiment file is a lab-notebook entry (after big_vision). Its module docstring gives
the exact command, the runtime at each scale, the expected result, and the paper table or
figure it feeds. It satisfies the one study contract, :class:`routerlab.studies.protocol.Study`
(written down there once): ``SCALES``, ``get_config(scale)``, ``run(cfg, run)``,
``report(run)``, and optionally ``check(cfg)``, ``summarize(run)``, ``findings(run)`` and
``paper(run, out, provenance)``, with the logic itself living in ``routerlab``. Every file
is checked against it when loaded (:func:`~routerlab.studies.protocol.check_study`): a
missing or misdeclared function is one line naming it.

Where code comes from. A *name* (``planted_experts``) only ever resolves to a file of the
registered folder (:func:`experiments_dir`): it must be an identifier and be listed by
:func:`list_experiments`, so ``../x`` or an absolute path is refused before anything is
imported. A user's own file runs only when its path is given explicitly
(:func:`load_experiment_file`, ``routerlab run path/to/my_exp.py``); its run directory records
the file's name and sha256, never a path to import, and resuming or reporting such a run
needs the same file again (checked against that hash). A run directory is data someone may
have downloaded: nothing in it is ever imported.

An optional ``check(cfg)`` validates what a config alone cannot (derived model configs,
say); it is called before the run directory is created.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from routerlab.config import ConfigError, from_dict, override
from routerlab.rundir import RunDir, RunDirError, RunDirInvalid, atomic_write_text, find_runs
from routerlab.studies.protocol import check_study, config_type

__all__ = ["Experiment", "experiments_dir", "list_experiments", "load_experiment", "load_experiment_file",
           "load_recorded_experiment", "is_experiment_path", "execute", "recorded_run", "ensure_run", "runs_root", "resume", "SCALE_NAMES"]

SCALE_NAMES = ("smoke", "quick", "paper")
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment file."""

    name: str
    path: Path
    module: ModuleType
    source: dict[str, str] | None = None  # a user's own file: {"file": its name, "sha256": its hash}

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
    def config_type(self) -> type:
        """The frozen dataclass this experiment's configs are (the Study protocol's config type)."""
        return config_type(self.module)

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
        cfg = override(self.get_config(scale), sets)
        if hasattr(self.module, "check"):
            self.module.check(cfg)
        return cfg


def experiments_dir() -> Path:
    """``$ROUTERLAB_EXPERIMENTS``, else the ``experiments/`` folder beside the package."""
    env = os.environ.get("ROUTERLAB_EXPERIMENTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "experiments"


def list_experiments() -> list[str]:
    folder = experiments_dir()
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def _import(module_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    try:
        check_study(module, path)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def load_experiment(name: str) -> Experiment:
    """Import the registered ``experiments/<name>.py`` and check it defines the experiment protocol.

    ``name`` must be an identifier listed by :func:`list_experiments`; a path (``../x``,
    ``/tmp/x``) is refused before anything is imported (use :func:`load_experiment_file`).
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name not in list_experiments():
        known = ", ".join(list_experiments()) or "none found"
        hint = "; to run your own file, give its path ending in .py" if isinstance(name, str) and is_experiment_path(name) else ""
        raise ConfigError("experiment", f"unknown experiment {name!r}; known: {known} (in {experiments_dir()}){hint}")
    path = experiments_dir() / f"{name}.py"
    return Experiment(name, path, _import(f"routerlab_experiments.{name}", path))


def is_experiment_path(text: str) -> bool:
    """Whether a command-line experiment argument is a file path rather than a registered name."""
    return text.endswith(".py") or "/" in text or os.sep in text


def load_experiment_file(path: Path | str, *, expect_sha256: str | None = None) -> Experiment:
    """Import a user's own experiment file, given explicitly by its path.

    Its name is the file's stem (an identifier); ``source`` records the file name and its
    sha256, which is all a run directory keeps of it. ``expect_sha256``: refuse a file whose
    content differs (resuming or reporting a run made from another version of it).
    """
    path = Path(path)
    if path.suffix != ".py":
        raise ConfigError("experiment", f"{path}: an experiment file must end in .py")
    if not path.is_file():
        raise ConfigError("experiment", f"{path}: no such experiment file")
    name = path.stem
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError("experiment", f"{path}: the file name must be an identifier (letters, digits, _), as it names the run")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expect_sha256 is not None and digest != expect_sha256:
        raise ConfigError("--experiment-file", f"{path}: sha256 {digest[:12]}... differs from the run's recorded "
                                               f"{expect_sha256[:12]}...; pass the file the run was made from")
    module = _import(f"routerlab_user_experiments.{name}_{digest[:12]}", path.resolve())
    return Experiment(name, path.resolve(), module, {"file": path.name, "sha256": digest})


def load_recorded_experiment(run: RunDir, experiment_file: Path | str | None = None) -> Experiment:
    """The experiment a run directory was made from, never importing a path it names.

    A run of a registered experiment resolves its recorded name through
    :func:`load_experiment`; a run of a user's own file needs that file (``experiment_file``),
    checked against the recorded sha256.
    """
    header = run.header
    name, source = header.get("experiment"), header.get("experiment_file")
    if source is not None:
        if not isinstance(source, dict) or not isinstance(source.get("sha256"), str):
            raise ConfigError("experiment_file", f"{run.path}/config.json: malformed experiment_file record")
        if experiment_file is None:
            raise ConfigError("--experiment-file", f"{run.path} was made from the user file {source.get('file')!r} "
                                                   f"(sha256 {source['sha256'][:12]}...); pass it with --experiment-file PATH")
        exp = load_experiment_file(experiment_file, expect_sha256=source["sha256"])
        if exp.name != name:
            raise ConfigError("--experiment-file", f"{experiment_file}: names experiment {exp.name!r}; the run is of {name!r}")
        return exp
    if experiment_file is not None:
        raise ConfigError("--experiment-file", f"{run.path} is a run of the registered experiment {name!r}; drop --experiment-file")
    return load_experiment(name)


def execute(exp: Experiment, cfg: Any, out: Path | str, *, scale: str | None = None) -> RunDir:
    """Run ``cfg`` into a new run directory under ``out``; DONE is written only on success.

    The run holds the directory's writer lock throughout. A :class:`ConfigError` (or a
    ``RoutingLogError``: bad input data) raised by the experiment before it has written
    anything (a check that needs a derived config, say) removes the new directory and the
    folders made for it, so refused input leaves nothing behind.
    """
    target = Path(out) / exp.name
    made = [d for d in (target, *target.parents) if not d.exists()]
    run = RunDir.create(out, exp.name, cfg, scale=scale, source=exp.source)
    try:
        with run.lock():
            return _complete(exp, cfg, run)
    except Exception as err:
        if not _bad_input(err):
            raise
        if run.untouched():
            shutil.rmtree(run.path, ignore_errors=True)
            for folder in made:  # innermost first; only the empty ones this call made
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise


def _bad_input(err: BaseException) -> bool:
    """A refusal of what the user typed or pointed at (as opposed to a failure while running)."""
    schema = sys.modules.get("routerlab.data.schema")  # imported only by runs that read tables
    return isinstance(err, ConfigError) or (schema is not None and isinstance(err, schema.RoutingLogError))


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


def resume(path: Path | str, experiment_file: Path | str | None = None) -> tuple[Experiment, RunDir]:
    """Continue an interrupted run in place, from its own config.json, holding its writer lock.

    The experiment is resolved by :func:`load_recorded_experiment` (a registered name, or the
    user's file checked against its recorded hash), never imported from a path the run names.
    """
    run = RunDir.open(path, repair=False)
    if run.done:
        raise RunDirInvalid(f"{run.path}: already complete (DONE exists); nothing to resume")
    exp = load_recorded_experiment(run, experiment_file)
    scale = run.header.get("scale") or exp.scales[0]
    if scale not in exp.scales:
        raise ConfigError("scale", f"{run.path}/config.json: scale {scale!r} is not one of {', '.join(exp.scales)}")
    cfg = from_dict(type(exp.get_config(scale)), run.config)
    if hasattr(exp.module, "check"):
        exp.module.check(cfg)
    with run.lock():
        if run.done:  # finished by another process meanwhile
            raise RunDirInvalid(f"{run.path}: already complete (DONE exists); nothing to resume")
        run.repair_metrics()
        return exp, _complete(exp, cfg, run)


def _complete(exp: Experiment, cfg: Any, run: RunDir) -> RunDir:
    summary = exp.run(cfg, run)
    run.write_json("summary.json", summary)
    atomic_write_text(run.artifacts / "report.md", exp.report(run))
    run.finish()
    return run
