"""A fleet of small LMs on the task suite: specialists per family, generalists of several sizes,
every model scored on every held-out query, written out as routing logs.

Training (:func:`train_group`). Models of one architecture train together in one compiled
program: ``jax.vmap`` over models of a ``lax.scan`` over steps, each model a pure function
of its state (``nnx.split`` once). A model is defined by its architecture, its seed and its
*family weights* ``w [F]``: each batch row picks a family from ``w`` and then a uniform
example of that family's training pool. A specialist has one-hot weights, a generalist
uniform ones, so all of a fleet's models see the same number of examples (``steps x
batch_size``) and a generalist sees ``1/F`` of them per family (so each knowledge fact
``1/F`` as often as the knowledge specialist does: an exposure confound that
:class:`ControlSpec` models help to separate from capacity). The loss is the
cross-entropy of the answer and EOS tokens only (:func:`routerlab.fleet.tasks.answer_mask`).
Optimiser: :func:`routerlab.train.loop.make_optimizer` (AdamW, warmup-cosine, clipping).

Evaluation (:func:`decode`): greedy decoding from the prompt, one full forward pass per new
token (answers are at most a few tokens), jitted and batched; exact match of ``answer EOS``.

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

Caching (:func:`ensure_fleet`). A fleet lives in ``<runs root>/_fleets/<config hash>/``,
written to a temporary folder and renamed when complete, holding ``fleet.json`` (models,
parameters, FLOPs, prices, per-family accuracies, loss curves) and two routing logs per
seed, ``log_usd_seed<S>/`` and ``log_flops_seed<S>/`` (``datasets.Dataset.save_to_disk``;
the second has cost in GFLOPs per query). The weights are not kept: the logs are what
router experiments consume.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import datasets
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from routerlab.config import check, config_hash, to_dict
from routerlab.data.schema import assign_splits, build_log, load_log
from routerlab.fleet.tasks import (FAMILIES, VOCAB_SIZE, Suite, TaskConfig, answer_mask, chance_rates, encode_batch,
                                   make_suite)
from routerlab.models.accounting import flops_per_token, param_count
from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.rng import stream_key
from routerlab.runtime import FAST_COMPILE
from routerlab.train.config import TrainConfig
from routerlab.train.loop import make_optimizer
from routerlab.train.step import split_model

__all__ = ["ModelSpec", "ControlSpec", "Prices", "FleetConfig", "lm_config", "train_group", "decode", "build_fleet",
           "ensure_fleet", "Fleet", "load_fleet", "scaled_fleet"]


@dataclass(frozen=True)
class ModelSpec:
    """One architecture of the fleet. ``price_class`` is ``small``, ``medium`` or ``large``;
    ``lr`` is its peak learning rate, tuned per size on validation (None: the fleet's ``lr``)."""

    name: str
    d_model: int = 32
    n_layers: int = 1
    n_heads: int = 2
    d_ff: int = 64
    price_class: str = "small"
    lr: float | None = None

    def __post_init__(self):
        check(self.price_class in ("small", "medium", "large"), "price_class",
              f"must be small, medium or large; got {self.price_class!r}")
        for name in ("d_model", "n_layers", "n_heads", "d_ff"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(self.d_model % self.n_heads == 0, "n_heads", f"must divide d_model ({self.d_model}); got {self.n_heads}")
        check(self.lr is None or self.lr > 0, "lr", f"must be > 0 or null (the fleet's lr); got {self.lr}")


@dataclass(frozen=True)
class ControlSpec:
    """A control model: architecture ``arch`` trained on ``family`` only, or on the uniform
    mixture of every family when ``family`` is None; scored like the fleet, not routed to.

    A control whose ``arch`` equals one of the fleet's architectures trains in the same
    batched program as the fleet's models of that architecture (no extra compilation).
    """

    name: str
    arch: ModelSpec
    family: str | None = None

    def __post_init__(self):
        check(self.family is None or self.family in FAMILIES, "family",
              f"must be one of {', '.join(FAMILIES)} or null (the mixture); got {self.family!r}")


@dataclass(frozen=True)
class Prices:
    """USD per 1K tokens (input and output alike) of each size class (the seed's price list)."""

    small: float = 0.0003
    medium: float = 0.002
    large: float = 0.03

    def __post_init__(self):
        for name in ("small", "medium", "large"):
            check(getattr(self, name) >= 0, name, f"must be >= 0; got {getattr(self, name)}")


@dataclass(frozen=True)
class FleetConfig:
    """The fleet: one specialist architecture trained per family, and generalists on the mixture.

    Attributes:
      tasks: the task suite's knobs.
      specialist: the specialists' architecture (model names ``spec-<family>``).
      specialist_families: families that get a specialist.
      generalists: generalist architectures (names as given), trained on every family.
      seeds: fleet seeds: every model trains once per seed; seed ``s`` also fixes the
        suite's evaluation queries and the routing log's split.
      steps, batch_size, lr, warmup_steps, weight_decay: optimisation (AdamW, warmup-cosine).
      train_size: training-pool size per procedural family.
      eval_size: held-out queries per family in each of the suite's val and test sets.
      router_fractions: train/val/test fractions of the routing log's queries (for routers).
      prices: USD per 1K tokens per size class.
      controls: control models (:class:`ControlSpec`), trained and scored per seed like the
        fleet but left out of the routing logs.
    """

    tasks: TaskConfig = field(default_factory=TaskConfig)
    specialist: ModelSpec = field(default_factory=lambda: ModelSpec("spec"))
    specialist_families: tuple[str, ...] = FAMILIES
    generalists: tuple[ModelSpec, ...] = (
        ModelSpec("gen-s", 32, 1, 2, 64, "small"),
        ModelSpec("gen-m", 64, 2, 4, 128, "medium"),
        ModelSpec("gen-l", 96, 3, 4, 384, "large"),
    )
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    train_size: int = 20_000
    eval_size: int = 300
    router_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    prices: Prices = field(default_factory=Prices)
    controls: tuple[ControlSpec, ...] = ()

    def __post_init__(self):
        check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds", "must be distinct, at least one")
        check(len(self.generalists) >= 1, "generalists", "must hold at least one architecture")
        names = [g.name for g in self.generalists]
        check(len(set(names)) == len(names) and not any(n.startswith("spec-") for n in names), "generalists",
              "names must be distinct and not start with 'spec-'")
        for f in self.specialist_families:
            check(f in FAMILIES, "specialist_families", f"unknown family {f!r}")
        ctl = [c.name for c in self.controls]
        taken = set(names) | {f"spec-{f}" for f in self.specialist_families}
        check(len(set(ctl)) == len(ctl) and not set(ctl) & taken, "controls",
              "names must be distinct and differ from the fleet's model names")
        for name in ("steps", "batch_size", "train_size", "eval_size"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(0 <= self.warmup_steps < self.steps, "warmup_steps", f"must be in [0, steps); got {self.warmup_steps}")
        check(abs(sum(self.router_fractions) - 1) < 1e-9 and min(self.router_fractions) > 0, "router_fractions",
              "must be three positive fractions summing to 1")

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, warmup_steps=self.warmup_steps,
                           weight_decay=self.weight_decay, router_noise=False)


def lm_config(spec: ModelSpec, seq_len: int) -> LMConfig:
    """The dense LM of an architecture over the suite's byte vocabulary."""
    return LMConfig(vocab_size=VOCAB_SIZE, d_model=spec.d_model, n_layers=spec.n_layers, n_heads=spec.n_heads,
                    seq_len=seq_len, d_ff=spec.d_ff)


# -- training ------------------------------------------------------------------------------


def _pools(suite: Suite, families: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training pools stacked as ``tokens [F, N, T+1]``, ``mask [F, N, T]``, ``sizes [F]`` (padded rows unused)."""
    seq_len = suite.cfg.seq_len
    n = max(len(suite.train[f]) for f in families)
    tokens = np.zeros((len(families), n, seq_len + 1), np.int32)
    mask = np.zeros((len(families), n, seq_len), np.float32)
    sizes = np.zeros(len(families), np.int32)
    for i, f in enumerate(families):
        tok, plen, alen = encode_batch(suite.train[f], seq_len)
        tokens[i, : len(tok)], mask[i, : len(tok)] = tok, answer_mask(plen, alen, seq_len)
        sizes[i] = len(tok)
    return tokens, mask, sizes


@functools.lru_cache(maxsize=8)
def _train_fn(model_cfg: LMConfig, train_cfg: TrainConfig):
    model = nnx.eval_shape(lambda: LM(model_cfg, rngs=nnx.Rngs(0)))
    graphdef, _, _ = split_model(model)
    tx = make_optimizer(train_cfg)
    b = train_cfg.batch_size

    def init(key):
        _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=key)))
        return params, rest, tx.init(params)

    def loss_fn(params, rest, tokens, mask):
        logits, _ = nnx.merge(graphdef, params, rest)(tokens[:, :-1])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
        return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)

    def one_model(init_key, data_key, weights, pool_tokens, pool_mask, sizes):
        params, rest, opt_state = init(init_key)

        def step(carry, i):
            params, opt_state = carry
            k_fam, k_idx = jax.random.split(jax.random.fold_in(data_key, i))
            fam = jax.random.categorical(k_fam, jnp.log(weights), shape=(b,))
            idx = jax.random.randint(k_idx, (b,), 0, sizes[fam])
            tokens, mask = pool_tokens[fam, idx], pool_mask[fam, idx]
            loss, grads = jax.value_and_grad(loss_fn)(params, rest, tokens, mask)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(train_cfg.steps))
        return params, rest, losses

    fn = jax.vmap(one_model, in_axes=(0, 0, 0, None, None, None))
    return graphdef, jax.jit(fn, compiler_options=FAST_COMPILE)


def train_group(model_cfg: LMConfig, train_cfg: TrainConfig, weights: np.ndarray, init_keys, data_keys,
                pools: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[Any, Any, Any, np.ndarray]:
    """Train ``M`` models of one architecture in one program.

    ``weights [M, F]``: each model's family sampling weights; ``init_keys``, ``data_keys [M]``;
    ``pools`` from :func:`_pools`. Returns ``(graphdef, params [M, ...], rest [M, ...], losses [M, steps])``.
    """
    graphdef, fn = _train_fn(model_cfg, train_cfg)
    tokens, mask, sizes = (jnp.asarray(a) for a in pools)
    params, rest, losses = fn(init_keys, data_keys, jnp.asarray(weights, jnp.float32), tokens, mask, sizes)
    losses = np.asarray(losses)
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError(f"non-finite training loss for {model_cfg}")
    return graphdef, params, rest, losses


@functools.lru_cache(maxsize=8)
def _decode_fn(graphdef, max_new: int):
    def one_model(params, rest, tokens, plen):
        model = nnx.merge(graphdef, params, rest)
        rows = jnp.arange(tokens.shape[0])
        last = tokens.shape[1] - 1

        def body(j, toks):
            logits, _ = model(toks[:, :-1])
            pos = jnp.minimum(plen - 1 + j, last - 1)
            nxt = jnp.argmax(logits[rows, pos], axis=-1).astype(toks.dtype)
            return toks.at[rows, pos + 1].set(nxt)

        return jax.lax.fori_loop(0, max_new, body, tokens)

    return jax.jit(jax.vmap(one_model, in_axes=(0, 0, None, None)), compiler_options=FAST_COMPILE)


def decode(graphdef, params, rest, pairs: Sequence[tuple[str, str]], seq_len: int,
           chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy answers of ``M`` stacked models to ``pairs``.

    Returns ``correct [M, N]`` (exact match of ``answer EOS``), ``tokens_in [N]`` (prompt with
    BOS) and ``tokens_out [M, N]`` (generated tokens up to and including the first EOS).
    """
    full, plen, alen = encode_batch(pairs, seq_len)
    max_new = int(alen.max())
    prompt = np.where(np.arange(seq_len + 1)[None, :] < plen[:, None], full, 0).astype(np.int32)
    fn = _decode_fn(graphdef, max_new)
    outs = []
    for start in range(0, len(pairs), chunk):
        sl = slice(start, start + chunk)
        outs.append(np.asarray(fn(params, rest, jnp.asarray(prompt[sl]), jnp.asarray(plen[sl]))))
    gen = np.concatenate(outs, axis=1)  # [M, N, T+1]
    offs = plen[:, None] + np.arange(max_new)[None, :]  # [N, max_new] positions of generated tokens
    offs = np.minimum(offs, seq_len)
    generated = np.take_along_axis(gen, np.broadcast_to(offs[None], (gen.shape[0],) + offs.shape), axis=2)
    target = np.take_along_axis(full, offs, axis=1)
    within = np.arange(max_new)[None, :] < alen[:, None]
    correct = np.all((generated == target[None]) | ~within[None], axis=2)
    is_eos = generated == 2
    first = np.where(is_eos.any(axis=2), is_eos.argmax(axis=2) + 1, max_new)
    return correct, plen.astype(np.int64), first.astype(np.int64)


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


def build_fleet(cfg: FleetConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Train and evaluate the fleet for every seed; write ``fleet.json`` and the logs into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
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
        for spec, rows in groups.items():
            t0 = time.process_time()
            w = np.stack([np.eye(len(families))[families.index(r["family"])] if r["family"] is not None
                          else np.full(len(families), 1.0 / len(families)) for r in rows])
            init_keys = jnp.stack([stream_key(seed, f"fleet/params/{r['name']}") for r in rows])
            data_keys = jnp.stack([stream_key(seed, f"fleet/data/{r['name']}") for r in rows])
            model_cfg = lm_config(spec, seq_len)
            group_tc = tc if spec.lr is None else replace(tc, lr=spec.lr)
            graphdef, params, rest, loss = train_group(model_cfg, group_tc, w, init_keys, data_keys, pools)
            ok, tin, tout = decode(graphdef, params, rest, pairs, seq_len)
            for j, r in enumerate(rows):
                correct[r["name"]], tokens_out[r["name"]] = ok[j], tout[j]
                stride = max(1, tc.steps // 50)
                losses[r["name"]] = [float(x) for x in loss[j, stride - 1 :: stride]]
            meta["timings_s"][f"seed{seed}/{spec.name}"] = round(time.process_time() - t0, 1)
            if progress:
                print(f"fleet seed {seed}: {[r['name'] for r in rows]} trained+decoded in "
                      f"{meta['timings_s'][f'seed{seed}/{spec.name}']} CPU s", flush=True)
        fam = np.array([q[0] for q in queries])
        sp = np.array([q[1] for q in queries])
        acc = {r["name"]: {s: {f: float(correct[r["name"]][(fam == f) & (sp == s)].mean()) for f in families}
                           for s in ("val", "test")} for r in table}
        meta["seeds"][str(seed)] = {"accuracy": acc, "loss_curve": losses,
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
            build_log(cols, f"fleet seed {seed} ({unit})").save_to_disk(str(out / f"log_{unit}_seed{seed}"))
    (out / "fleet.json").write_text(json.dumps({"config": to_dict(cfg), **meta}, indent=1, sort_keys=True))
    return meta


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


def ensure_fleet(cfg: FleetConfig, root: Path | str, progress: bool = True) -> Fleet:
    """The fleet of ``cfg`` under ``root/_fleets/<hash>``: reused when complete, else built there.

    It is built in ``<hash>.tmp-<pid>`` and renamed when complete. A build that fails removes
    its folder (and ``_fleets/`` when that leaves it empty); one that was killed leaves its
    folder behind, removed by the next call here once its process is gone.
    """
    final = Path(root) / "_fleets" / config_hash(cfg, 12)
    if (final / "fleet.json").is_file():
        return load_fleet(final)
    clean_stale_builds(final.parent)
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build_fleet(cfg, tmp, progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            final.parent.rmdir()  # only if empty
        except OSError:
            pass
        raise
    try:
        tmp.rename(final)
    except OSError:  # another process finished the same fleet first
        shutil.rmtree(tmp, ignore_errors=True)
    return load_fleet(final)


def scaled_fleet(scale: str) -> FleetConfig:
    """The fleet every fleet experiment shares at ``scale`` (so they reuse one trained fleet).

    ``smoke``: a few seconds of training, one seed (plumbing only; models are near chance).

    ``quick``: 3 seeds; specialists 7,104 parameters, generalists 26,496 / 102,144 / 337,728
    (small / medium / large price class): the largest is 48x a specialist. Knowledge: 300
    facts of 3 random digits (~3,000 bits). Two controls separate capacity from exposure:
    ``ctl-gen-xs`` (the specialist's architecture on the mixture) and ``ctl-know-m`` (gen-m's
    architecture on knowledge only).

    Training design: **equal tokens**. Every model, whatever its size, trains on the same
    4,000 steps x 32 sequences (the setting of the known result "a wider model beats a
    narrower one at equal tokens"); equal compute would give gen-l 1/13 of gen-s's data and
    tokens in proportion to parameters 13x the CPU time of this scale for gen-l. The peak
    learning rate is tuned per size on validation (``ModelSpec.lr``). Pilot (2026-11-30, GPU,
    3 seeds, generalists on the mixture, mean val exact match over the 5 families for peak
    lr 5e-4 / 1e-3 / 2e-3 / 3e-3 / 6e-3 / 1e-2): at 1,500 steps gen-s 0.24 / 0.32 / **0.38** /
    0.36 / 0.32 / 0.26, gen-m 0.44 / 0.53 / **0.54** / 0.49 / 0.41 / 0.30, gen-l **0.58** /
    0.57 / 0.53 / 0.45 / 0.32 / 0.22; at 4,000 steps gen-s 0.40 / 0.50 / **0.62** / 0.60 /
    0.55 / 0.39, gen-m 0.65 / 0.67 / **0.68** / 0.66 / 0.58 / 0.35, gen-l **0.72** / 0.71 /
    0.66 / 0.64 / 0.38 / 0.31. The fleet's old shared 3e-3 was too high for gen-l (knowledge
    0.30 vs 0.95 at 5e-4), which is why size bought no quality at 1,500 steps. Chosen: gen-s
    and gen-m 2e-3, gen-l 5e-4, at 4,000 steps. Specialists (second pilot, 5 seeds, each on its family,
    4,000 steps, with 1,000 facts and 6-digit sorting; own-family val exact match summed over
    families for lr 1e-3 / 3e-3 / 6e-3: 2.48 / 2.71 / **2.74**): 6e-3. At 4,000 steps gen-m
    and gen-l memorise all 300 facts and every generalist sorts at >= 0.99: both families
    sit at ceiling and cannot resolve the size control, which then rests on math, code and
    logic. Building the quick fleet took 1,258 CPU s on 2 shared cores (2026-11-30).

    ``paper``: the same architectures, learning rates, tasks and controls, 5 seeds, 6,000
    steps x 64 sequences on larger pools (3x the quick tokens; the learning rates were tuned
    at the quick batch).
    """
    spec = ModelSpec("spec", 16, 2, 2, 64, "small", lr=6e-3)
    gens = (
        ModelSpec("gen-s", 32, 2, 2, 128, "small", lr=2e-3),
        ModelSpec("gen-m", 64, 2, 4, 256, "medium", lr=2e-3),
        ModelSpec("gen-l", 96, 3, 4, 384, "large", lr=5e-4),
    )
    tasks = TaskConfig(num_facts=300, fact_digits=3)
    controls = (ControlSpec("ctl-gen-xs", spec, None), ControlSpec("ctl-know-m", gens[1], "knowledge"))
    if scale == "smoke":  # controls train in their architecture's program, so they cost ~nothing here
        tiny, big = ModelSpec("spec", 16, 1, 2, 32, "small"), ModelSpec("gen-l", 32, 1, 2, 64, "large")
        return FleetConfig(tasks=TaskConfig(num_facts=40, fact_digits=3), specialist=tiny,
                           generalists=(ModelSpec("gen-s", 16, 1, 2, 32, "small"), big),
                           controls=(ControlSpec("ctl-gen-xs", tiny, None),
                                     ControlSpec("ctl-know-l", big, "knowledge")),
                           seeds=(0,), steps=30, batch_size=16, warmup_steps=5, train_size=500, eval_size=20)
    if scale == "quick":
        return FleetConfig(tasks=tasks, specialist=spec, generalists=gens, controls=controls, seeds=(0, 1, 2),
                           steps=4000, batch_size=32, warmup_steps=100, train_size=20_000, eval_size=200)
    if scale == "paper":
        return FleetConfig(tasks=tasks, specialist=spec, generalists=gens, controls=controls,
                           seeds=(0, 1, 2, 3, 4), steps=6000, batch_size=64, warmup_steps=200,
                           train_size=40_000, eval_size=400)
    raise ValueError(f"unknown scale {scale!r}")
