"""Planted experts: can a learned router recover a partition that is really there?

The classic MoE toy (Jacobs, Jordan, Nowlan & Hinton 1991, "Adaptive Mixtures of Local
Experts"). Inputs come from a planted mixture of ``K`` Gaussian clusters; each cluster has
its own nonlinear target function (a random tanh network, the "teacher"). An MoE layer with
``K`` experts could give each cluster its own expert. We train one model per router and
seed, and report

* test error as normalized MSE (MSE divided by the target variance; 1.0 = predicting the mean);
* how well the learned routing recovers the planted partition: the adjusted mutual
  information (AMI; Vinh et al. 2010) between each test point's top expert and its cluster.
  AMI is 0 for a partition independent of the clusters and 1 for a relabelling of them.

Every variant spends the same active FFN width per token (``expert_d_ff``), so the same
active FLOPs up to the router's ``d x E`` projection; the dense baseline is a single MLP of
that width. Two-expert routers (``top2``, ``deepseek``) use ``2K`` fine-grained experts of
half width (DeepSeekMoE's segmentation), which keeps active compute matched. Soft MoE gets
``batch / K`` slots per expert, so its slots process as many rows as the batch has tokens.

All seeds of a variant train together: ``jax.vmap`` over seeds of the shared training engine
(:func:`routerlab.train.step.make_train_step` under :func:`~routerlab.train.step.scan_steps`,
as ``routerlab.train`` and the LM studies' seeds run), each seed drawing from its own named key
streams (``params``, ``data``, ``("router_noise", step)``). The loss is MSE plus the MoE
layer's auxiliary losses, Adam on a cosine decay, then DeepSeek's bias update; the engine's
``ce`` slot carries the MSE. Steps run in segments of about a tenth of the run
(:func:`segment_steps`), with a mid-unit checkpoint after each (:func:`train_variant`), so a
killed run resumes inside a variant to the same numbers. The report lives in
:mod:`routerlab.studies.planted_report`.
"""

from __future__ import annotations

import functools
import math
import shutil
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.metrics import adjusted_mutual_info_score

from routerlab.config import check
from routerlab.moe import (
    DenseFFN,
    ExpertChoiceRouting,
    MoEConfig,
    MoELayer,
    Routing,
    SoftRouting,
    dense_flops_per_token,
    moe_flops_per_token,
    param_count,
)
from routerlab.report import mean_ci
from routerlab.rng import stream_key
from routerlab.runtime import FAST_COMPILE, progress
from routerlab.rundir import RunDir
from routerlab.studies.planted_report import findings, paper, report
from routerlab.train.guard import check_finite_unit, name_nonfinite, scan_with_health
from routerlab.train.loop import NonFiniteError
from routerlab.train.step import TrainState, make_train_step, scan_steps, split_model, uses_router_bias
from routerlab.train.unit_checkpoint import UnitCheckpoints

__all__ = [
    "VARIANTS",
    "PlantedTask",
    "PlantedConfig",
    "PlantedNet",
    "sample_task",
    "make_teacher",
    "variant_moe_config",
    "segment_steps",
    "train_variant",
    "run",
    "summarize",
    "findings",
    "report",
    "paper",
    "CHECKPOINTS",
]

CHECKPOINTS = "checkpoints"  # <run>/checkpoints/<variant>/: a variant's mid-unit checkpoints

VARIANTS: tuple[str, ...] = ("dense", "switch", "top2", "expert_choice", "soft", "hash", "sinkhorn", "deepseek")


@dataclass(frozen=True)
class PlantedTask:
    """The planted mixture. The task is fixed by ``seed``; model seeds vary separately.

    Attributes:
      num_clusters: ``K`` planted clusters.
      input_dim: input dimension.
      output_dim: target dimension.
      separation: distance of each cluster centre from the origin (centres are random directions).
      spread: within-cluster standard deviation.
      teacher_width: hidden width of each cluster's tanh teacher network.
      seed: the task's own seed.
    """

    num_clusters: int = 8
    input_dim: int = 8
    output_dim: int = 4
    separation: float = 4.0
    spread: float = 1.0
    teacher_width: int = 32
    seed: int = 1234

    def __post_init__(self):
        for name in ("num_clusters", "input_dim", "output_dim", "teacher_width"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(self.separation >= 0, "separation", f"must be >= 0; got {self.separation}")
        check(self.spread > 0, "spread", f"must be > 0; got {self.spread}")


@dataclass(frozen=True)
class PlantedConfig:
    """One planted-experts study: every variant in ``variants`` x ``num_seeds`` seeds."""

    seed: int = 0
    num_seeds: int = 3
    variants: tuple[str, ...] = VARIANTS
    task: PlantedTask = field(default_factory=PlantedTask)
    d_model: int = 32
    expert_d_ff: int = 32
    steps: int = 1000
    batch_size: int = 256
    lr: float = 3e-3
    load_balance_weight: float = 1e-2
    z_loss_weight: float = 1e-3
    capacity_factor: float = 1.25
    test_size: int = 4096
    log_every: int = 50

    def __post_init__(self):
        check(self.num_seeds >= 1, "num_seeds", f"must be >= 1; got {self.num_seeds}")
        check(len(self.variants) >= 1, "variants", f"must name at least one of {', '.join(VARIANTS)}")
        from routerlab.moe.registry import router_names

        for v in self.variants:
            check(v in VARIANTS or v in router_names(), "variants",
                  f"{v!r} is neither a variant ({', '.join(VARIANTS)}) nor a registered router "
                  f"({', '.join(router_names())}; see routerlab.moe.register_router)")
        check(len(set(self.variants)) == len(self.variants), "variants", "must not repeat a variant")
        for name in ("d_model", "steps", "batch_size", "test_size", "log_every"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(self.expert_d_ff >= 2 and self.expert_d_ff % 2 == 0, "expert_d_ff",
              f"must be even and >= 2 (two-expert variants use half-width experts); got {self.expert_d_ff}")
        check(self.lr > 0, "lr", f"must be > 0; got {self.lr}")
        check(self.load_balance_weight >= 0, "load_balance_weight", f"must be >= 0; got {self.load_balance_weight}")
        check(self.z_loss_weight >= 0, "z_loss_weight", f"must be >= 0; got {self.z_loss_weight}")
        check(self.capacity_factor > 0, "capacity_factor", f"must be > 0; got {self.capacity_factor}")
        check(self.batch_size % self.task.num_clusters == 0, "batch_size",
              f"must be a multiple of task.num_clusters ({self.task.num_clusters}) for Soft MoE slots")
        check(self.test_size % self.batch_size == 0, "test_size",
              f"must be a multiple of batch_size ({self.batch_size}): evaluation runs in training-size batches")


# -- the task ---------------------------------------------------------------------------


def make_teacher(task: PlantedTask) -> dict[str, jax.Array]:
    """The planted mixture's arrays: ``centres [K, d_in]``, ``w1 [K, d_in, h]``, ``b1 [K, h]``, ``w2 [K, h, d_out]``."""
    keys = jax.random.split(stream_key(task.seed, "teacher"), 4)
    k, d, h, o = task.num_clusters, task.input_dim, task.teacher_width, task.output_dim
    directions = jax.random.normal(keys[0], (k, d))
    centres = task.separation * directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
    return {
        "centres": centres,
        "w1": jax.random.normal(keys[1], (k, d, h)) * (2.0 / math.sqrt(d)),
        "b1": jax.random.normal(keys[2], (k, h)),
        "w2": jax.random.normal(keys[3], (k, h, o)) / math.sqrt(h),
    }


def sample_task(task: PlantedTask, teacher: dict[str, jax.Array], key: jax.Array, n: int):
    """``n`` draws ``(x [n, d_in], y [n, d_out], cluster [n])`` of the planted mixture."""
    k_cluster, k_noise = jax.random.split(key)
    cluster = jax.random.randint(k_cluster, (n,), 0, task.num_clusters)
    x = teacher["centres"][cluster] + task.spread * jax.random.normal(k_noise, (n, task.input_dim))
    # Each cluster's own function, evaluated at its own centred inputs.
    local = x - teacher["centres"][cluster]
    hidden = jnp.tanh(jnp.einsum("nd,ndh->nh", local, teacher["w1"][cluster]) + teacher["b1"][cluster])
    y = jnp.einsum("nh,nho->no", hidden, teacher["w2"][cluster])
    return x, y, cluster


# -- the model --------------------------------------------------------------------------


def variant_moe_config(cfg: PlantedConfig, variant: str) -> MoEConfig | None:
    """The MoE layer of ``variant``; ``None`` for the dense baseline."""
    k = cfg.task.num_clusters
    base = MoEConfig(
        num_experts=k,
        top_k=1,
        d_model=cfg.d_model,
        d_ff=cfg.expert_d_ff,
        renormalize=False,
        capacity_factor=None,
        load_balance_weight=cfg.load_balance_weight,
        z_loss_weight=cfg.z_loss_weight,
    )
    fine = dict(num_experts=2 * k, top_k=2, d_ff=cfg.expert_d_ff // 2, renormalize=True)
    table: dict[str, dict[str, Any]] = {
        "switch": dict(router="top_k", capacity_factor=cfg.capacity_factor),
        "top2": dict(router="top_k", **fine),
        "expert_choice": dict(router="expert_choice", capacity_factor=1.0),
        "soft": dict(router="soft", slots_per_expert=cfg.batch_size // k),
        "hash": dict(router="hash"),
        "sinkhorn": dict(router="sinkhorn"),
        "deepseek": dict(router="deepseek", load_balance_weight=0.0, **fine),
    }
    if variant == "dense":
        return None
    if variant not in table:  # a router registered by name (routerlab.moe.register_router): top-1, dropless
        return replace(base, router=variant)
    return replace(base, **table[variant])


class PlantedNet(nnx.Module):
    """``x -> W_in x -> h + FFN(LayerNorm(h)) -> W_out``, the FFN dense or MoE."""

    def __init__(self, cfg: PlantedConfig, variant: str, *, rngs: nnx.Rngs):
        task = cfg.task
        self.embed = nnx.Linear(task.input_dim, cfg.d_model, rngs=rngs)
        self.norm = nnx.LayerNorm(cfg.d_model, rngs=rngs)
        moe = variant_moe_config(cfg, variant)
        self.ffn = DenseFFN(cfg.d_model, cfg.expert_d_ff, rngs=rngs) if moe is None else MoELayer(moe, rngs=rngs)
        self.head = nnx.Linear(cfg.d_model, task.output_dim, rngs=rngs)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None):
        h = self.embed(x)
        y, aux = self.ffn(self.norm(h), key=key)
        return self.head(h + y), aux

    def top_expert(self, x: jax.Array) -> jax.Array:
        """Each row's main expert (``[n]`` int); ``E`` marks rows no expert took (expert choice)."""
        if isinstance(self.ffn, DenseFFN):
            return jnp.zeros(x.shape[:1], jnp.int32)
        routing = self.ffn.route(self.norm(self.embed(x)))
        return main_expert(routing, self.ffn.cfg.num_experts)


def main_expert(routing, num_experts: int) -> jax.Array:
    """The expert with the largest share of each token, for any router's output."""
    if isinstance(routing, Routing):
        return routing.expert_index[:, 0]
    if isinstance(routing, ExpertChoiceRouting):
        num_tokens = routing.probs.shape[0]
        share = jnp.full((num_tokens, num_experts), -jnp.inf)
        experts = jnp.broadcast_to(jnp.arange(num_experts)[:, None], routing.token_index.shape)
        share = share.at[routing.token_index, experts].set(routing.gates)
        picked = jnp.isfinite(share).any(axis=-1)
        return jnp.where(picked, jnp.argmax(share, axis=-1), num_experts)
    if isinstance(routing, SoftRouting):
        per_expert = routing.combine.reshape(routing.combine.shape[0], num_experts, -1).sum(-1)
        return jnp.argmax(per_expert, axis=-1)
    raise TypeError(f"unknown routing type {type(routing).__name__}")


def ffn_size(cfg: PlantedConfig, variant: str) -> dict[str, float]:
    """The FFN's trainable parameters and active forward FLOPs per token (router included)."""
    moe = variant_moe_config(cfg, variant)
    ffn = PlantedNet(cfg, variant, rngs=nnx.Rngs(0)).ffn
    flops = dense_flops_per_token(cfg.d_model, cfg.expert_d_ff) if moe is None else moe_flops_per_token(moe, seq_len=cfg.batch_size)
    return {"params": int(param_count(ffn)), "active_flops_per_token": float(flops)}


# -- training ---------------------------------------------------------------------------


def segment_steps(cfg: PlantedConfig) -> int:
    """Steps per training segment (the checkpoint cadence): about a tenth of the run, in
    whole multiples of ``log_every`` (the last segment may be shorter)."""
    return cfg.log_every * max(1, round(cfg.steps / cfg.log_every / 10))


@functools.lru_cache(maxsize=32)
def _engine(cfg: PlantedConfig, variant: str):
    """``(graphdef, step, tx)``: the shared engine's pure step (:func:`routerlab.train.step.make_train_step`)
    on the planted regression: loss = MSE + the MoE layer's auxiliary losses, Adam on a cosine
    decay from ``lr``, then DeepSeek's bias update when the router has one. The engine's
    ``ce`` slot carries the MSE."""
    graphdef, _, rest = split_model(nnx.eval_shape(lambda: PlantedNet(cfg, variant, rngs=nnx.Rngs(0))))

    def loss_fn(params, rest, batch, key, mask_key):
        del mask_key
        x, y = batch
        pred, aux = nnx.merge(graphdef, params, rest)(x, key=key)
        mse = jnp.mean((pred - y) ** 2)
        return mse + aux.loss, (mse, jnp.asarray(aux.loss, jnp.float32), {0: aux}, mse)

    def bias_update(params, rest, aux):
        model = nnx.merge(graphdef, params, rest)
        model.ffn.update_bias(aux[0].load)
        return split_model(model)[2]

    tx = optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.steps))
    return graphdef, make_train_step(loss_fn, tx, rest_update=bias_update if uses_router_bias(rest) else None), tx


@functools.lru_cache(maxsize=32)
def _compiled(cfg: PlantedConfig, variant: str) -> dict[str, Any]:
    """The jitted programs of one variant, each vmapped over seeds (cached: configs are hashable):
    ``init(seed)``, ``data(seed)`` (every training batch and router-noise key), ``segment``
    (scanned engine steps), ``diagnose`` (the same with every step's health) and ``evaluate``."""
    graphdef, step, tx = _engine(cfg, variant)
    teacher = make_teacher(cfg.task)

    def init(seed):
        _, params, rest = split_model(PlantedNet(cfg, variant, rngs=nnx.Rngs(params=stream_key(seed, "params"))))
        return TrainState(params, rest, tx.init(params))

    def data(seed):
        # Every training batch in one vectorized draw, sliced into segments by the caller.
        xs, ys, _ = sample_task(cfg.task, teacher, stream_key(seed, "data"), cfg.steps * cfg.batch_size)
        keys = jax.vmap(lambda i: jax.random.fold_in(stream_key(seed, "router_noise"), i))(jnp.arange(cfg.steps))
        return xs.reshape(cfg.steps, cfg.batch_size, -1), ys.reshape(cfg.steps, cfg.batch_size, -1), keys

    def segment_of(scan):
        return lambda state, x, y, keys: scan(state, (x, y), keys, keys)

    def evaluate(state, seed):
        # Evaluate in training-size batches: expert choice and Soft MoE depend on the batch.
        model = nnx.merge(graphdef, state.params, state.rest)
        x, y, cluster = sample_task(cfg.task, teacher, stream_key(cfg.task.seed, "test"), cfg.test_size)
        batches = lambda a: a.reshape(-1, cfg.batch_size, *a.shape[1:])  # noqa: E731

        def one(xy):
            xb, yb = xy
            pred, aux = model(xb)
            return jnp.mean((pred - yb) ** 2, axis=0), model.top_expert(xb), aux

        mse, experts, aux = jax.lax.map(one, (batches(x), batches(y)))
        metrics = {"max_vio": jnp.mean(aux.max_vio), "dead": jnp.max(aux.dead), "dropped_frac": jnp.mean(aux.dropped_frac),
                   "entropy": jnp.mean(aux.entropy), "confidence": jnp.mean(aux.confidence)}
        return jnp.mean(mse) / jnp.mean(jnp.var(y, axis=0)), experts.reshape(-1), cluster, metrics

    jit = lambda f: jax.jit(jax.vmap(f), compiler_options=FAST_COMPILE)  # noqa: E731
    return {"init": jit(init), "data": jit(data), "evaluate": jit(evaluate),
            "segment": jit(segment_of(scan_steps(step, noise=True, masked=False))),
            "diagnose": jit(segment_of(scan_with_health(step, noise=True, masked=False)))}


def train_variant(cfg: PlantedConfig, variant: str, seeds: list[int], checkpoint_dir: Path | None = None):
    """Train ``variant`` for every seed of ``seeds`` together and evaluate it:
    ``(train_mse [S, steps], nmse [S], experts [S, n], cluster [S, n], metrics {name: [S]})``.

    Steps run in :func:`segment_steps` segments; with ``checkpoint_dir`` the stacked state and
    the training curve so far are saved after each segment but the last
    (:class:`~routerlab.train.unit_checkpoint.UnitCheckpoints`) and a call with the same
    directory continues from the newest readable one, to the same numbers. A non-finite step
    raises :class:`~routerlab.train.NonFiniteError` naming the seed, step and quantity
    (``dense/seed0: step 3: train mse is nan``), the last good checkpoint kept.
    """
    fns = _compiled(cfg, variant)
    seed_arr = jnp.asarray(seeds)
    xs, ys, keys = fns["data"](seed_arr)
    every = segment_steps(cfg)
    bounds = [*range(every, cfg.steps, every), cfg.steps]
    fingerprint = {"seeds": seeds, "segments": bounds}
    with UnitCheckpoints(checkpoint_dir) as ckpts:
        done, state, logs = ckpts.resume(fns["init"](seed_arr), fingerprint)
        curve = [np.asarray(c, np.float32) for c in logs.get("train_mse", [])]
        saved, start = ckpts.steps(), done
        for end in bounds:
            if end <= done:
                continue
            inputs = (xs[:, start:end], ys[:, start:end], keys[:, start:end])
            new_state, out = fns["segment"](state, *inputs)
            out = jax.device_get(out)
            if not np.all(out["ok"]):
                _, (metrics, health) = jax.device_get(fns["diagnose"](state, *inputs))
                named = name_nonfinite(metrics, health, seeds, start, rename={"ce": "train mse"},
                                       label=lambda s: f"{variant}/seed{s}")
                message, step = named or (f"{variant}: steps {start + 1}-{end}: non-finite training step "
                                          "(a replay with diagnostics stayed finite)", start + 1)
                raise NonFiniteError(message + (f"; last good checkpoint: step {saved[-1]}" if saved else ""), step)
            state = new_state
            curve.append(np.asarray(out["ce"], np.float32))
            start = end
            if end < cfg.steps:
                ckpts.save(end, state, {"train_mse": [c.tolist() for c in curve]}, fingerprint)
                saved.append(end)
    nmse, experts, cluster, metrics = jax.device_get(fns["evaluate"](state, seed_arr))
    return np.concatenate(curve, axis=1), nmse, experts, cluster, metrics


def run(cfg: PlantedConfig, rundir: RunDir) -> dict[str, Any]:
    """Train every variant for every seed; log one record per (variant, seed) unit.

    Units already in ``metrics.jsonl`` are skipped, so an interrupted run resumes where it
    stopped; a variant's seeds are computed together and logged together, and within a
    variant its mid-unit checkpoints (``<run>/checkpoints/<variant>/``, deleted once its
    records are logged) carry a killed training on from its last segment. A non-finite
    training step or test metric stops the run (exit 1, one line naming unit, step and
    quantity) before that unit is logged; the units logged before it are kept, and resume
    from there.
    """
    seeds = list(range(cfg.seed, cfg.seed + cfg.num_seeds))
    done = rundir.completed_units()
    for variant in progress(cfg.variants, "planted_experts", "variant"):
        units = [f"{variant}/seed{s}" for s in seeds]
        ckpt_dir = rundir.path / CHECKPOINTS / variant
        if all(u in done for u in units):
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # killed after logging, before deleting them
            continue
        train_mse, nmse, experts, cluster, metrics = train_variant(cfg, variant, seeds, ckpt_dir)
        size = ffn_size(cfg, variant)
        for i, unit in enumerate(units):
            if unit in done:
                continue
            check_finite_unit(unit, cfg.steps, train_mse[i], float(nmse[i]), {k: v[i] for k, v in metrics.items()})
            curve = train_mse[i, cfg.log_every - 1 :: cfg.log_every]
            rundir.log({
                "unit": unit,
                "variant": variant,
                "seed": seeds[i],
                "test_nmse": float(nmse[i]),
                "ami": None if variant == "dense" else float(adjusted_mutual_info_score(cluster[i], experts[i])),
                **{k: float(v[i]) for k, v in metrics.items()},
                **size,
                "train_mse_every": cfg.log_every,
                "train_mse": [float(v) for v in curve],
            })
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    shutil.rmtree(rundir.path / CHECKPOINTS, ignore_errors=True)
    return summarize(rundir)


def summarize(rundir: RunDir) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds of each variant's test NMSE and AMI."""
    by_variant: dict[str, list[dict]] = {}
    for record in rundir.records():
        by_variant.setdefault(record["variant"], []).append(record)
    summary = {}
    for variant, rows in by_variant.items():
        entry = {"seeds": len(rows), "params": rows[0]["params"], "active_flops_per_token": rows[0]["active_flops_per_token"]}
        for metric in ("test_nmse", "ami", "max_vio", "dropped_frac"):
            values = [r[metric] for r in rows if r[metric] is not None]
            if values:
                entry[metric] = mean_ci(values)._asdict()
        summary[variant] = entry
    from routerlab.studies.planted_report import s1_verdict
    return {"variants": summary, "verdict": s1_verdict(summary)}


