"""A fleet of small LMs on the task suite: specialists per family, generalists of several sizes,
every model scored on every held-out query, written out as routing logs.

Training and decoding (:mod:`routerlab.fleet.fleet_train`): models of one architecture
train together in one program on the one training engine
(:func:`routerlab.train.step.make_train_step` under ``vmap`` of ``scan_steps``). A model is
defined by its architecture, its seed and its *family weights* ``w [F]``: each batch row
picks a family from ``w`` and then a uniform example of that family's training pool. A
specialist has one-hot weights, a generalist uniform ones, so all of a fleet's models see
the same number of examples (``steps x batch_size``) and a generalist sees ``1/F`` of them
per family (so each knowledge fact ``1/F`` as often as the knowledge specialist does: an
exposure confound that :class:`ControlSpec` models help to separate from capacity). The
loss is the cross-entropy of the answer and EOS tokens only. Evaluation is greedy decoding,
exact match of ``answer EOS``. The configuration (:class:`FleetConfig`, :func:`scaled_fleet`)
lives in :mod:`routerlab.fleet.fleet_config`.

Cost. ``tokens_in`` is the prompt with BOS, ``tokens_out`` the tokens generated up to and
including the first EOS (all ``max_new`` when none). FLOPs per query are
``flops_per_token(cfg)["total"] * (tokens_in + tokens_out)`` (forward only,
:mod:`routerlab.models.accounting`'s convention: attention charged at full context). USD
cost is ``(tokens_in + tokens_out) / 1000 * price`` with the price of the model's size
class (:class:`Prices`, default the seed's $0.03 / $0.002 / $0.0003 per 1K tokens for
large / medium / small).

Controls (:class:`ControlSpec`). Extra models trained and scored exactly like the fleet's
(one family, or the mixture) but kept out of the routing logs and ``fleet.json``'s
``models``: they answer questions about the fleet (e.g. a generalist of a specialist's
size, a knowledge specialist of a generalist's size) without changing what routers see.
``fleet.json`` lists them under ``controls``; their accuracies sit beside the models'.

Caching (:func:`ensure_fleet`). A fleet lives in ``<runs root>/_fleets/<fleet_key>/`` (the config hash),
built in ``<fleet_key>.build/`` (resumable after a kill, one builder at a time) and renamed
when complete, holding ``fleet.json`` (models,
parameters, FLOPs, prices, per-family accuracies, loss curves) and two routing logs per
seed, ``log_usd_seed<S>/`` and ``log_flops_seed<S>/`` (``datasets.Dataset.save_to_disk``;
the second has cost in GFLOPs per query). The weights are not kept: the logs are what
router experiments consume.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import jax
import jax.numpy as jnp
import numpy as np

from routerlab.config import check, config_hash, from_dict, to_dict
from routerlab.data.schema import assign_splits, build_log, load_log
from routerlab.fleet.fleet_config import ControlSpec, FleetConfig, ModelSpec, Prices, lm_config, scaled_fleet
from routerlab.fleet.fleet_train import answer_nll, decode, train_group
from routerlab.fleet.fleet_train import pools as _pools
from routerlab.fleet.tasks import FAMILIES, chance_rates, make_suite
from routerlab.models.accounting import flops_per_token, param_count
from routerlab.rng import stream_key
from routerlab.rundir import take_file_lock

#: Environment variable: how many processes :func:`ensure_fleet` trains a fleet's seeds in.
WORKERS_ENV = "ROUTERLAB_FLEET_WORKERS"

__all__ = ["ModelSpec", "ControlSpec", "Prices", "FleetConfig", "lm_config", "train_group", "decode", "build_fleet",
           "ensure_fleet", "fleet_key", "FLEET_KEY_SALT", "Fleet", "load_fleet", "scaled_fleet", "clean_stale_builds",
           "merge_fleets", "WORKERS_ENV"]


# -- the fleet -----------------------------------------------------------------------------


def _model_table(cfg: FleetConfig) -> list[dict[str, Any]]:
    """One row per trained model: the fleet's specialists and generalists, then the controls.

    ``family`` is the one family a model trains on, None for the uniform mixture.
    """
    seq_len = cfg.tasks.seq_len
    rows = []
    for f in cfg.specialist_families:
        rows.append({"name": f"spec-{f}", "role": "specialist", "family": f, "spec": cfg.specialist})
    for g in cfg.generalists:
        rows.append({"name": g.name, "role": "generalist", "family": None, "spec": g})
    for c in cfg.controls:
        rows.append({"name": c.name, "role": "control", "family": c.family, "spec": c.arch})
    for r in rows:
        lm = lm_config(r["spec"], seq_len)
        r["params"] = int(param_count(lm)["total"])
        r["flops_per_token"] = float(flops_per_token(lm)["total"])
        r["price_class"] = r["spec"].price_class
        r["price_per_1k"] = float(getattr(cfg.prices, r["spec"].price_class))
        r["lr"] = float(r["spec"].lr if r["spec"].lr is not None else cfg.lr)
    return rows


def _group_done(path: Path, names: list[str]) -> dict[str, np.ndarray] | None:
    """A finished group's saved results, or None when absent or unreadable (then it trains again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            got = {k: z[k] for k in z.files}
        if list(got["names"]) != names:
            raise ValueError(f"models {list(got['names'])} != {names}")
        if "nll" not in got:
            raise ValueError("saved before the build recorded answer NLL")
        return got
    except Exception as err:  # noqa: BLE001 -- a damaged file of any kind: train the group again
        print(f"routerlab: {path} is unreadable ({type(err).__name__}: {err}); training its group again",
              file=sys.stderr)
        return None


def _save_group(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a killed build leaves the whole file or none


def build_fleet(cfg: FleetConfig, out: Path, progress: bool = True,
                bounds: list[int] | None = None, workers: int = 1, finish: bool = True) -> dict[str, Any]:
    """Train and evaluate the fleet for every seed; write ``fleet.json`` and the logs into ``out``.

    ``workers`` > 1 trains the seeds in that many spawned processes first (seeds dealt round
    robin; each saves its groups into ``out/groups/``, file names per seed, so they never
    collide), then this process assembles the fleet from the saved groups: the same fleet as
    ``workers=1``, bit for bit, but for ``timings_s`` (each group's own CPU seconds either way).
    A seed's training is one program on one core here, so on a CPU machine ``workers`` up to
    its core count divides the wall time. ``finish=False`` (what a worker runs) stops after
    the groups and logs, leaving ``fleet.json`` unwritten and ``groups/`` in place.

    Resumable: each finished model group's results (answers' correctness, tokens out, losses)
    are kept in ``out/groups/seed<S>-<i>.npz`` and reused by a later call with the same ``out``;
    a group's training checkpoints every segment (``bounds``, default
    :func:`routerlab.fleet.fleet_train.segment_bounds`) in ``out/checkpoints/seed<S>-<i>/``,
    deleted once the group is saved. A resumed build equals an uninterrupted one bit for bit
    (but for ``timings_s``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "groups").mkdir(exist_ok=True)
    check(isinstance(workers, int) and workers >= 1, "workers", f"must be an integer >= 1; got {workers!r}")
    if workers > 1 and len(cfg.seeds) > 1:
        _train_in_workers(cfg, out, bounds, workers, progress)
    families = FAMILIES
    table = _model_table(cfg)
    tc = cfg.train_config
    seq_len = cfg.tasks.seq_len
    groups: dict[ModelSpec, list[dict[str, Any]]] = {}
    for r in table:
        groups.setdefault(r["spec"], []).append(r)
    public = [{k: v for k, v in r.items() if k != "spec"} for r in table]
    fleet_rows = [r for r in table if r["role"] != "control"]  # the routing logs hold these
    meta: dict[str, Any] = {"models": [r for r in public if r["role"] != "control"],
                            "controls": [r for r in public if r["role"] == "control"],
                            "families": list(families), "seeds": {}, "timings_s": {},
                            "built_with": {"backend": jax.default_backend(), "jax": jax.__version__}}
    for seed in cfg.seeds:
        suite = make_suite(cfg.tasks, families, train_size=cfg.train_size, eval_size=cfg.eval_size, seed=seed)
        pools = _pools(suite, families)
        queries = [(f, split, i, p, a) for f in families for split in ("val", "test")
                   for i, (p, a) in enumerate(getattr(suite, split)[f])]
        pairs = [(p, a) for *_, p, a in queries]
        correct: dict[str, np.ndarray] = {}
        tokens_out: dict[str, np.ndarray] = {}
        losses: dict[str, list[float]] = {}
        nll: dict[str, np.ndarray] = {}
        for gi, (spec, rows) in enumerate(groups.items()):
            t0 = time.process_time()
            names = [r["name"] for r in rows]
            done_path = out / "groups" / f"seed{seed}-{gi}.npz"
            done = _group_done(done_path, names)
            if done is not None:
                tin = done["tokens_in"]
                for j, name in enumerate(names):
                    correct[name], tokens_out[name], losses[name] = done["correct"][j], done["tokens_out"][j], [
                        float(x) for x in done["losses"][j]]
                    nll[name] = done["nll"][j]
                meta["timings_s"][f"seed{seed}/{spec.name}"] = float(done["cpu_s"])
                continue
            w = np.stack([np.eye(len(families))[families.index(r["family"])] if r["family"] is not None
                          else np.full(len(families), 1.0 / len(families)) for r in rows])
            init_keys = jnp.stack([stream_key(seed, f"fleet/params/{r['name']}") for r in rows])
            data_keys = jnp.stack([stream_key(seed, f"fleet/data/{r['name']}") for r in rows])
            model_cfg = lm_config(spec, seq_len)
            group_tc = tc if spec.lr is None else replace(tc, lr=spec.lr)
            ckpt_dir = out / "checkpoints" / f"seed{seed}-{gi}"
            graphdef, params, rest, loss = train_group(model_cfg, group_tc, w, init_keys, data_keys, pools,
                                                       checkpoint_dir=ckpt_dir, bounds=bounds,
                                                       fingerprint={"seed": seed, "names": names})
            ok, tin, tout = decode(graphdef, params, rest, pairs, seq_len)
            group_nll = answer_nll(graphdef, params, rest, pairs, seq_len)
            stride = max(1, tc.steps // 50)
            for j, r in enumerate(rows):
                correct[r["name"]], tokens_out[r["name"]] = ok[j], tout[j]
                nll[r["name"]] = group_nll[j]
                losses[r["name"]] = [float(x) for x in loss[j, stride - 1 :: stride]]
            cpu_s = meta["timings_s"][f"seed{seed}/{spec.name}"] = round(time.process_time() - t0, 1)
            _save_group(done_path, names=np.array(names), correct=ok, tokens_out=tout, tokens_in=tin,
                        losses=loss[:, stride - 1 :: stride], nll=group_nll, cpu_s=np.array(cpu_s))
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            if progress:
                print(f"fleet seed {seed}: {[r['name'] for r in rows]} trained+decoded in "
                      f"{meta['timings_s'][f'seed{seed}/{spec.name}']} CPU s", flush=True)
        fam = np.array([q[0] for q in queries])
        sp = np.array([q[1] for q in queries])
        acc = {r["name"]: {s: {f: float(correct[r["name"]][(fam == f) & (sp == s)].mean()) for f in families}
                           for s in ("val", "test")} for r in table}
        # teacher-forced -log p(answer EOS | prompt), nats per query, averaged over a family's queries
        mean_nll = {r["name"]: {s: {f: float(nll[r["name"]][(fam == f) & (sp == s)].mean()) for f in families}
                                for s in ("val", "test")} for r in table}
        meta["seeds"][str(seed)] = {"accuracy": acc, "answer_nll": mean_nll, "loss_curve": losses,
                                    "queries": {f: int(np.sum(fam == f)) for f in families},
                                    "chance": {s: chance_rates(suite, s) for s in ("val", "test")}}
        # routing logs: every held-out query of the suite, router splits by hash of the query id
        qids = [f"s{seed}/{f}/{split}/{i}" for f, split, i, _, _ in queries]
        rsplit = assign_splits(qids, seed, cfg.router_fractions)
        for unit in ("usd", "flops"):
            cols: dict[str, list] = {c: [] for c in ("query_id", "split", "task", "prompt", "model", "quality",
                                                     "cost", "tokens_in", "tokens_out")}
            for qi, (f, _, _, p, _) in enumerate(queries):
                for r in fleet_rows:
                    n_in, n_out = int(tin[qi]), int(tokens_out[r["name"]][qi])
                    cost = ((n_in + n_out) / 1000 * r["price_per_1k"] if unit == "usd"
                            else (n_in + n_out) * r["flops_per_token"] / 1e9)
                    for c, v in (("query_id", qids[qi]), ("split", str(rsplit[qi])), ("task", f), ("prompt", p),
                                 ("model", r["name"]), ("quality", float(correct[r["name"]][qi])), ("cost", cost),
                                 ("tokens_in", n_in), ("tokens_out", n_out)):
                        cols[c].append(v)
            shutil.rmtree(out / f"log_{unit}_seed{seed}", ignore_errors=True)  # a killed build's partial log
            build_log(cols, f"fleet seed {seed} ({unit})").save_to_disk(str(out / f"log_{unit}_seed{seed}"))
    if not finish:
        return meta
    shutil.rmtree(out / "groups", ignore_errors=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    (out / "fleet.json").write_text(json.dumps({"config": to_dict(cfg), **meta}, indent=1, sort_keys=True))
    return meta


_WORKER_OF = "ROUTERLAB_FLEET_WORKER_OF"  # set while workers start: the builder's pid


def _worker(cfg_dict: dict[str, Any], out: str, bounds: list[int] | None, progress: bool) -> None:
    """A spawned worker's body: train and decode its seeds' groups into ``out`` (no fleet.json)."""
    build_fleet(from_dict(FleetConfig, cfg_dict), Path(out), progress=progress, bounds=bounds, finish=False)


def _train_in_workers(cfg: FleetConfig, out: Path, bounds: list[int] | None, workers: int, progress: bool) -> None:
    """Train ``cfg``'s seeds in ``workers`` spawned processes (round robin); a failed worker is a
    one-line error naming its seeds (its finished groups stay in ``out`` for a resume). CPU only:
    on a GPU, one process already uses the device and several would each preallocate it."""
    import multiprocessing

    check(jax.default_backend() == "cpu", "workers",
          f"more than 1 needs the CPU backend (one process per seed); this one is {jax.default_backend()}")
    parts = [cfg.seeds[i::workers] for i in range(min(workers, len(cfg.seeds)))]
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has started JAX
    procs = [ctx.Process(target=_worker, args=(to_dict(replace(cfg, seeds=tuple(part))), str(out), bounds, progress))
             for part in parts]
    os.environ[_WORKER_OF] = str(os.getpid())  # a worker re-running an unguarded script fails fast (ensure_fleet)
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    finally:
        os.environ.pop(_WORKER_OF, None)
        for proc in procs:  # interrupted: no worker may outlive its builder and write on
            if proc.is_alive():
                proc.terminate()
                proc.join()
    failed = [list(part) for part, proc in zip(parts, procs) if proc.exitcode != 0]
    if failed:
        raise RuntimeError(f"fleet build: the workers for seeds {failed} failed (see their output above); "
                           f"their finished groups are kept in {out} and a rerun resumes them")


@dataclass(frozen=True)
class Fleet:
    """A built fleet on disk."""

    path: Path
    meta: dict[str, Any]

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.meta["seeds"]]

    @property
    def models(self) -> list[dict[str, Any]]:
        return self.meta["models"]

    def log(self, seed: int, unit: str = "usd") -> datasets.Dataset:
        """The routing log of ``seed`` with cost in ``usd`` or ``flops`` (GFLOPs per query)."""
        check(unit in ("usd", "flops"), "unit", f"must be usd or flops; got {unit!r}")
        return load_log(self.path / f"log_{unit}_seed{seed}")


def load_fleet(path: Path | str) -> Fleet:
    path = Path(path)
    return Fleet(path, json.loads((path / "fleet.json").read_text()))


def merge_fleets(cfg: FleetConfig, parts: list[Path | str], out: Path | str) -> Fleet:
    """Join fleets built for disjoint subsets of ``cfg.seeds`` into ``cfg``'s fleet at ``out``.

    A fleet's seeds train and decode independently (each seed's suite, keys and models depend
    on that seed alone), so building seed subsets in separate processes and joining them gives
    the fleet that one :func:`build_fleet` of ``cfg`` writes, but for ``timings_s`` (each part's
    own). This is how to use more than one process on a multi-seed fleet: each part is built
    by ``build_fleet(replace(cfg, seeds=subset), its_own_folder)`` (never two builds in one
    folder: a finished build removes its folder's ``groups/``). Every part's config must be
    ``cfg`` but for ``seeds``, their seeds disjoint and together ``cfg.seeds``; otherwise a
    one-line :class:`~routerlab.config.ConfigError` names the part. ``out`` must not exist.
    """
    out = Path(out)
    check(not out.exists(), "out", f"{out} exists; merge into a new folder")
    want = to_dict(cfg)
    metas = [load_fleet(p).meta for p in parts]
    seen: list[int] = []
    for part, meta in zip(parts, metas):
        got = dict(meta["config"])
        check({**got, "seeds": want["seeds"]} == want, "parts",
              f"{part} was built from another config than {fleet_key(cfg)}'s")
        repeated = sorted(set(got["seeds"]) & set(seen))
        check(not repeated, "parts", f"{part} repeats seeds {repeated}")
        for key in ("models", "controls", "families", "built_with"):
            check(meta[key] == metas[0][key], "parts", f"{part}'s {key} differ from {parts[0]}'s")
        seen += got["seeds"]
    check(sorted(seen) == sorted(cfg.seeds), "parts", f"the parts hold seeds {sorted(seen)}, not {sorted(cfg.seeds)}")
    tmp = out.with_name(out.name + ".merge")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    merged = {**metas[0], "config": want, "seeds": {}, "timings_s": {}}
    for part, meta in zip(parts, metas):
        for seed in meta["config"]["seeds"]:
            merged["seeds"][str(seed)] = meta["seeds"][str(seed)]
            for unit in ("usd", "flops"):
                shutil.copytree(Path(part) / f"log_{unit}_seed{seed}", tmp / f"log_{unit}_seed{seed}")
        merged["timings_s"].update(meta["timings_s"])
    merged["seeds"] = {str(s): merged["seeds"][str(s)] for s in cfg.seeds}  # cfg's order, as build_fleet writes
    (tmp / "fleet.json").write_text(json.dumps(merged, indent=1, sort_keys=True))
    tmp.rename(out)
    return load_fleet(out)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_builds(folder: Path) -> list[Path]:
    """Remove ``<hash>.tmp-<pid>`` build folders of processes that are gone (killed mid-build)."""
    removed = []
    for tmp in folder.glob("*.tmp-*") if folder.is_dir() else ():
        pid = tmp.name.rsplit(".tmp-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


# What a cached fleet is keyed on besides its config: change this string whenever a change of
# the training or decoding code changes what a config builds, so a fleet cached by the old
# code is never served as the new one's. Empty until 2026-12-01: moving onto the engine
# (make_train_step + scan_steps, 9d01f87) left training bit-identical on CPU (the quick
# fleet's gen-s at seed 0 retrained at 9d01f87 gives the cached fleet's answers exactly), but
# the segmented training of 20a2132 does not at quick scale, even run as one segment: gen-s
# at seed 0 answers 0.610 of its 1,900 held-out queries, not 0.616. The smoke-scale equality
# tests (tests/fleet/test_fleet_engine.py, test_fleet_resume.py) still hold, but at gen-s's
# quick architecture (2 layers, d_model 32, d_ff 128, lr 2e-3) train_group's loss leaves
# test_fleet_engine.reference_train's at step 16 by ~5e-6 (last float32 bits, then chaos).
# So fleets cached before 20a2132 (e.g. the quick fleet acb9c643093b) are not served.
FLEET_KEY_SALT = "segmented-20a2132"


def fleet_key(cfg: FleetConfig) -> str:
    """The name of ``cfg``'s cached fleet folder: its config hash (12 hex digits), salted with
    :data:`FLEET_KEY_SALT` when that is set."""
    if not FLEET_KEY_SALT:
        return config_hash(cfg, 12)
    return config_hash({"fleet": to_dict(cfg), "code": FLEET_KEY_SALT}, 12)


def ensure_fleet(cfg: FleetConfig, root: Path | str, progress: bool = True,
                 bounds: list[int] | None = None, workers: int | None = None) -> Fleet:
    """The fleet of ``cfg`` under ``root/_fleets/<key>`` (:func:`fleet_key`): reused when
    complete, else built there.

    It is built in ``<key>.build/`` and renamed when complete, by one process at a time: the
    builder holds an exclusive ``flock`` on ``<key>.lock`` (the kernel drops it when the
    process dies, kill -9 included), and a second caller waits for it, then finds the fleet
    built. A killed or failed build leaves ``<key>.build/`` behind and the next call resumes
    it (:func:`build_fleet`: finished groups reused, a group's training from its newest
    checkpoint), to the fleet an uninterrupted build writes. A failed build that finished
    nothing removes its folder (and ``_fleets/`` when that leaves it empty). ``bounds``: the
    segments of a group's training (:func:`build_fleet`). ``workers``: processes that train the
    seeds (:func:`build_fleet`); default ``$ROUTERLAB_FLEET_WORKERS``, else 1. Neither enters
    the fleet's key: they change how it is built, not what.
    """
    if os.environ.get(_WORKER_OF) == str(os.getppid()):
        raise RuntimeError("ensure_fleet was called while a fleet worker process started: a script that builds "
                           "a fleet with workers must call it under `if __name__ == \"__main__\":`")
    if workers is None:
        env = os.environ.get(WORKERS_ENV, "1")
        check(env.isdigit() and int(env) >= 1, WORKERS_ENV, f"must be an integer >= 1; got {env!r}")
        workers = int(env)
    final = Path(root) / "_fleets" / fleet_key(cfg)
    if (final / "fleet.json").is_file():
        return load_fleet(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_builds(final.parent)  # folders of the former per-pid builds
    lock = final.with_name(final.name + ".lock")
    fd = take_file_lock(lock, f"another process building {final}")
    try:
        if (final / "fleet.json").is_file():  # built by the process we waited for
            return load_fleet(final)
        build = final.with_name(final.name + ".build")
        try:
            build_fleet(cfg, build, progress, bounds, workers=workers)
        except BaseException:
            if not any(build.glob("groups/*.npz")) and not any(build.glob("checkpoints/*/*")):
                shutil.rmtree(build, ignore_errors=True)  # nothing to resume
            raise
        shutil.rmtree(final, ignore_errors=True)  # a folder without fleet.json: not a fleet
        build.rename(final)
    finally:
        if final.exists() or not any(final.parent.glob(final.name + ".build")):
            lock.unlink(missing_ok=True)  # while held: a waiter on the unlinked file opens it anew (take_file_lock)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        try:
            final.parent.rmdir()  # only if empty
        except OSError:
            pass
    return load_fleet(final)
