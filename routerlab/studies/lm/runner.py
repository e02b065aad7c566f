"""Training a study's variants: every seed together, every rate of the grid, finished units reused.

A study is a list of named *variants* ``(name, LMRunConfig[, rl_r_pg_weight])``. For each
variant and each learning rate of ``cfg.lr_grid`` the runner trains all seeds in one program
(:func:`routerlab.studies.lm_sweep.train_seeds`) and logs one record per (variant, rate, seed)
to ``metrics.jsonl`` (unit ``"<variant>/lr<rate>/seed<s>"``). A variant whose units are all
recorded is skipped, so an interrupted run resumes at the variant.

**Reuse across studies (a content-addressed unit cache).** The positive controls (dense, a
4x-wider dense, Switch E = 8) are the same configs in most studies, and several studies share
other arms. A finished ``(config, seeds)`` unit is stored under
``<runs root>/_cache/lm_units/<key>.json``, where ``key`` hashes the run config's canonical JSON
(its ``seed`` field aside: the seeds are listed), the seeds, the RL-R weight,
the versions of jax, jaxlib, flax, optax and numpy, the backend, the numerics flags of
:data:`KEYED_ENV`, on CPU the number of CPUs the process may use and the CPU's model and vector
instruction sets (XLA:CPU's results depend on the first and may on the second:
:func:`routerlab.runtime.cpu_threads`, :func:`routerlab.runtime.cpu_isa`), and the *code* that
trains a unit: the bytes, when
the runner is imported, of every module in the static import closure of this module
(:func:`training_modules`: every ``routerlab`` import, function-level ones included, followed
from here), so a change to that
code never serves stale numbers while a change elsewhere (the fleet, the bandits, the CLI) leaves
the cache valid. A unit whose MoE routes with a router registered from outside routerlab
(``register_router``) is never cached: its code is not in the key. A later study (or a variant of the same
study with an identical config) copies the stored records into its own ``metrics.jsonl`` with
``"cache_key"`` set, so each run directory stays self-contained. On CPU the same config and
seeds give identical metrics for the same CPU count on the same kind of CPU (both in the key),
so reuse changes no number. ``ROUTERLAB_NO_UNIT_CACHE=1`` turns the cache off.

**Mid-unit checkpoints.** A unit in training saves its seeds' state after every evaluation
segment under ``<run>/checkpoints/<checkpoint key>/`` (:func:`checkpoint_key`: the config, seeds
and RL-R weight, not the code version, so a resume continues a unit cut short even when the
working tree changed meanwhile), and a resumed run continues it from there
(:func:`routerlab.studies.lm_sweep.train_seeds`); the directory is deleted once the unit's
records are in ``metrics.jsonl``, so a finished run holds no checkpoints. A non-finite number
stops the run with one line naming the variant, rate, seed, step and quantity (exit 1 in
the CLI); the unit's last good checkpoint is kept.

**Learning rate per arm, on validation only.** :func:`choose_lr` picks, per variant, the rate
with the lowest mean *final validation loss* over seeds; test losses are never read for it.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import canonical_json
from routerlab.rundir import RunDir, atomic_write_text, take_file_lock
from routerlab.runtime import cpu_isa, cpu_threads, progress
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm_sweep import BATCHING_ENV, train_seeds
from routerlab.train.config import LMRunConfig
from routerlab.train.loop import NonFiniteError

__all__ = ["run_variants", "unit_key", "training_modules", "code_version_at", "cacheable", "KEYED_ENV", "checkpoint_key", "choose_lr",
           "by_variant", "seeds_of", "NO_CACHE_ENV", "CHECKPOINTS"]

CHECKPOINTS = "checkpoints"  # <run>/checkpoints/<checkpoint key>/: a unit's mid-unit checkpoints

NO_CACHE_ENV = "ROUTERLAB_NO_UNIT_CACHE"


def seeds_of(cfg: LMStudyConfig) -> list[int]:
    return list(range(cfg.seed, cfg.seed + cfg.num_seeds))


def _module_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _routerlab_imports(root: Path, name: str, path: Path) -> set[str]:
    """The ``routerlab`` modules ``path`` imports anywhere in its body (each parent package too:
    importing ``a.b.c`` runs ``a`` and ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: up from this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            named |= {module} | {f"{module}.{alias.name}" for alias in node.names}  # `from pkg import mod`
    found: set[str] = set()
    for module in named:
        parts = module.split(".")
        if parts[0] != "routerlab":
            continue
        for i in range(1, len(parts) + 1):
            if _module_file(root, ".".join(parts[:i])) is not None:
                found.add(".".join(parts[:i]))
    return found


def training_modules(start: str = __name__, root: Path | None = None) -> dict[str, Path]:
    """Every ``routerlab`` module in the static import closure of ``start`` (default: this
    runner), with its file: the code a unit's numbers can depend on. Static, so an import inside
    a function counts as much as one at the top; routerlab does not import its own modules by
    computed name (``tests/studies/test_lm_unit_cache_code.py`` checks the closure covers what
    training really loads). ``root``: the checkout holding ``routerlab/`` (default: this one)."""
    root = root or Path(__file__).resolve().parents[3]
    files: dict[str, Path] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in files:
            continue
        path = _module_file(root, name)
        if path is None:
            continue
        files[name] = path
        todo += sorted(_routerlab_imports(root, name, path) - files.keys())
    return files


def code_version_at(root: Path) -> str:
    """A hash of the bytes of every file of :func:`training_modules` under ``root`` (committed,
    edited or untracked alike; no git needed)."""
    digest = hashlib.sha256()
    for name, path in sorted(training_modules(root=root).items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


# Hashed once, when the runner is imported: the code this process trains with (an edit made
# later, before the first unit, must not be stored under the new code's key).
_CODE_VERSION = code_version_at(Path(__file__).resolve().parents[3])

#: Environment variables that change a unit's numbers without changing its config.
KEYED_ENV = ("JAX_ENABLE_X64", "JAX_DEFAULT_MATMUL_PRECISION", "XLA_FLAGS", BATCHING_ENV)


def _environment_key() -> dict[str, Any]:
    import jax

    versions = {}
    for dist in ("jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "backend": jax.default_backend(),
            "env": {k: os.environ.get(k) for k in KEYED_ENV},
            # XLA:CPU's thread pool follows the CPU count, and its results with it (runtime.cpu_threads)
            "cpu_threads": cpu_threads() if jax.default_backend() == "cpu" else None,
            # ... and the instruction sets it compiles for (runtime.cpu_isa)
            "cpu_isa": cpu_isa() if jax.default_backend() == "cpu" else None}


def cacheable(run_cfg: LMRunConfig) -> bool:
    """Whether a unit may be served from the cache: not when a block routes with a router
    registered from outside routerlab (its code is not in the key; the config names it only)."""
    from routerlab.moe.registry import is_built_in

    moe = run_cfg.model.moe
    return moe is None or is_built_in(moe.router)


def unit_key(run_cfg: LMRunConfig, seeds: Sequence[int], pg_weight: float | None) -> str:
    """The cache key of one trained unit: config (seed field aside), seeds, RL-R weight, the code
    that trains it (:func:`code_version_at`), the numerical libraries' versions, the backend and
    :data:`KEYED_ENV` (and on CPU the CPU count and the CPU's model and vector instruction sets)."""
    payload = json.dumps({"config": json.loads(canonical_json(replace(run_cfg, seed=0))), "seeds": list(seeds),
                          "pg_weight": pg_weight, "code": _CODE_VERSION, **_environment_key()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def checkpoint_key(run_cfg: LMRunConfig, seeds: Sequence[int], pg_weight: float | None) -> str:
    """The directory name of one unit's mid-unit checkpoints: config (seed field aside), seeds, RL-R weight."""
    payload = json.dumps({"config": json.loads(canonical_json(replace(run_cfg, seed=0))), "seeds": list(seeds),
                          "pg_weight": pg_weight}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _routing_summary(routing: dict[str, dict[str, np.ndarray]], i: int) -> dict[str, Any]:
    """Seed ``i``'s routing metrics: per layer, and averaged over MoE layers."""
    if not routing:
        return {}
    per_layer = {layer: {k: np.asarray(v[i]).tolist() for k, v in m.items()} for layer, m in routing.items()}
    mean = {k: float(np.mean([np.asarray(m[k][i]) for m in routing.values()]))
            for k in ("max_vio", "cv", "dead", "dropped_frac", "entropy", "confidence")}
    return {"routing": mean, "routing_by_layer": per_layer}


def _train(run_cfg: LMRunConfig, seeds: list[int], pg_weight: float | None,
           checkpoint_dir: Path | None = None) -> list[dict[str, Any]]:
    """One record per seed (no names: the caller adds them)."""
    out = train_seeds(run_cfg, seeds, reinforce_pg_weight=pg_weight, checkpoint_dir=checkpoint_dir)
    flops_step = 3.0 * float(out["flops_per_token"]["active"]) * out["tokens_per_step"]
    return [{
        "seed": seed,
        "steps": run_cfg.train.steps,
        "tokens": run_cfg.train.steps * out["tokens_per_step"],
        "params": out["params"],
        "flops_per_token": out["flops_per_token"],
        "seed_batching": out["seed_batching"],
        "train_flops_per_step": flops_step,
        "eval_steps": out["eval_steps"].tolist(),
        "val_loss": out["val_loss"][i].tolist(),
        "final_val_loss": float(out["val_loss"][i, -1]),
        "final_train_ce": float(out["train_ce"][i, -1]),
        "test_loss": float(out["test"]["loss"][i]),
        "val_loss_by_domain": {d: float(v[i]) for d, v in out["val"]["loss_by_domain"].items()},
        "test_loss_by_domain": {d: float(v[i]) for d, v in out["test"]["loss_by_domain"].items()},
        **_routing_summary(out["val"]["routing"], i),  # on mixed-domain batches, as training sees them
        # the specialisation readout: each domain's routing on domain-pure validation batches
        "routing_by_domain": {d: _routing_summary(r, i)["routing"] for d, r in out["val"]["routing_by_domain"].items()},
    } for i, seed in enumerate(seeds)]


@contextlib.contextmanager
def _unit_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<unit>.lock`` beside the unit's cache file, so that two
    studies run in parallel (two processes, one runs root) train a shared unit once: the second
    waits, saying so, then finds it cached. The kernel drops the lock if its holder dies; the
    holder removes the file while holding it, and a waiter that then holds a removed file opens
    the path again."""
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = take_file_lock(lock, f"another process training unit {what}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _cache_dir(rundir: RunDir) -> Path | None:
    if os.environ.get(NO_CACHE_ENV) == "1":
        return None
    return rundir.path.resolve().parents[1] / "_cache" / "lm_units"


def _recorded_units(rundir: RunDir) -> dict[str, dict[int, dict[str, Any]]]:
    """The records already in ``rundir``, per cache key and seed, without their names: a unit
    recorded under one variant serves an identical one later in the run (cache or none)."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for rec in rundir.records():
        if "cache_key" in rec:
            row = {k: v for k, v in rec.items() if k not in ("unit", "variant", "lr", "cache_key")}
            out.setdefault(rec["cache_key"], {})[rec["seed"]] = row
    return out


def run_variants(cfg: LMStudyConfig, rundir: RunDir, variants: Sequence[tuple], desc: str, *,
                 train_unit: Callable[..., list[dict[str, Any]]] | None = None, key_suffix: str = "",
                 rates: Mapping[str, Sequence[float]] | None = None) -> None:
    """Train each ``(name, config)`` (or ``(name, config, rl_r_pg_weight)``) at every rate of
    ``cfg.lr_grid`` (or of ``rates[name]`` where given) for every seed of ``cfg``, reusing
    finished units (the unit cache, and units already recorded in this run under another
    variant with the same config); one record per (variant, rate, seed).

    ``train_unit(run_cfg, seeds, pg_weight, checkpoint_dir=...)`` makes one unit's records
    (default: this module's, from :func:`~routerlab.studies.lm_sweep.train_seeds`); a study
    whose records hold more (the knowledge readout) passes its own and a ``key_suffix`` that
    keeps its cached units apart from plain ones."""
    train_unit = train_unit or _train
    seeds = seeds_of(cfg)
    done = rundir.completed_units()
    cache = _cache_dir(rundir)
    in_run: dict[str, list[dict[str, Any]]] = {}
    recorded = _recorded_units(rundir)
    rates = rates or {}
    jobs = [(name, run_cfg, rest[0] if rest else None, lr) for name, run_cfg, *rest in variants
            for lr in rates.get(name, cfg.lr_grid)]
    for name, run_cfg, pg, lr in progress(jobs, desc, "arm", label=lambda job: f"{job[0]} lr={job[3]:g}"):
        units = [f"{name}/lr{lr:g}/seed{s}" for s in seeds]
        cfg_lr = replace(run_cfg, train=replace(run_cfg.train, lr=lr))
        if all(u in done for u in units):
            shutil.rmtree(rundir.path / CHECKPOINTS / checkpoint_key(cfg_lr, seeds, pg), ignore_errors=True)
            continue
        key = unit_key(cfg_lr, seeds, pg) + key_suffix
        path = None if cache is None or not cacheable(cfg_lr) else cache / f"{key}.json"
        if key in in_run:
            rows = in_run[key]
        elif all(s in recorded.get(key, {}) for s in seeds):
            rows = [recorded[key][s] for s in seeds]
        elif path is not None and path.is_file():
            rows = json.loads(path.read_text())
        else:
            # One process trains a unit; another that needs it meanwhile waits, then reads the cache.
            with contextlib.nullcontext() if path is None else _unit_lock(path, f"{name} lr={lr:g}"):
                if path is not None and path.is_file():
                    rows = json.loads(path.read_text())  # trained by the process we waited for
                else:
                    ckpt_dir = rundir.path / CHECKPOINTS / checkpoint_key(cfg_lr, seeds, pg)
                    try:
                        rows = train_unit(cfg_lr, seeds, pg, checkpoint_dir=ckpt_dir)
                    except NonFiniteError as err:
                        raise NonFiniteError(f"{name} lr={lr:g}: {err}", err.step) from None
                    if path is not None:
                        atomic_write_text(path, json.dumps(rows, sort_keys=True) + "\n")
        in_run[key] = rows
        for unit, row in zip(units, rows):
            if unit not in done:
                rundir.log({"unit": unit, "variant": name, "lr": lr, "cache_key": key, **row})
        shutil.rmtree(rundir.path / CHECKPOINTS / checkpoint_key(cfg_lr, seeds, pg), ignore_errors=True)
    shutil.rmtree(rundir.path / CHECKPOINTS, ignore_errors=True)  # every unit is recorded: none is needed


def choose_lr(rows_by_lr: dict[float, list[dict[str, Any]]]) -> float:
    """The rate whose seeds have the lowest mean final *validation* loss (ties: the smaller rate).

    Reads only ``final_val_loss``: the test split never enters the choice.
    """
    if not rows_by_lr:
        raise ValueError("choose_lr needs at least one learning rate")
    return min(sorted(rows_by_lr), key=lambda lr: float(np.mean([r["final_val_loss"] for r in rows_by_lr[lr]])))


def by_variant(rundir: RunDir) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """``(groups, tuning)``: each variant's records at its chosen rate (sorted by seed), and per
    variant ``{"lr": chosen, "val_loss_by_lr": {rate: mean final val loss}, "at_grid_edge": bool}``."""
    raw: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for record in rundir.records():
        raw.setdefault(record["variant"], {}).setdefault(float(record.get("lr", 0.0)), []).append(record)
    groups, tuning = {}, {}
    for name, by_lr in raw.items():
        lr = choose_lr(by_lr)
        groups[name] = sorted(by_lr[lr], key=lambda r: r["seed"])
        rates = sorted(by_lr)
        tuning[name] = {"lr": lr, "val_loss_by_lr": {f"{k:g}": float(np.mean([r["final_val_loss"] for r in v]))
                                                     for k, v in sorted(by_lr.items())},
                        # the best rate at an end of a grid of >= 2: the optimum may lie outside it
                        "at_grid_edge": len(rates) >= 2 and lr in (rates[0], rates[-1])}
    return groups, tuning
