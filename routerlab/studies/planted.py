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

All seeds of a variant train in one compiled call: ``jax.vmap`` over seeds of a
``lax.scan`` over steps, each seed drawing from its own named key streams.
"""

from __future__ import annotations

import functools
import math
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
from routerlab.rundir import RunDir, atomic_write_text
from routerlab.train.guard import check_finite_unit

__all__ = [
    "VARIANTS",
    "PlantedTask",
    "PlantedConfig",
    "PlantedNet",
    "sample_task",
    "make_teacher",
    "variant_moe_config",
    "run",
    "report",
    "paper",
]

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


@functools.lru_cache(maxsize=32)
def _compiled(cfg: PlantedConfig, variant: str):
    """All seeds of one variant as one jitted, vmapped function (cached: configs are hashable)."""
    return jax.jit(jax.vmap(functools.partial(_train_and_eval, cfg, variant)), compiler_options=FAST_COMPILE)


def _train_and_eval(cfg: PlantedConfig, variant: str, seed: jax.Array):
    """Train one model from integer ``seed`` (traced; vmapped over seeds) and evaluate it."""
    teacher = make_teacher(cfg.task)
    stream = lambda name: stream_key(seed, name)  # noqa: E731
    model = PlantedNet(cfg, variant, rngs=nnx.Rngs(params=stream("params")))
    schedule = optax.cosine_decay_schedule(cfg.lr, cfg.steps)
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    biased = getattr(model.ffn, "router_bias", None) is not None  # loss-free balancing (DeepSeek-style)

    # All training batches up front: one vectorized draw keeps the scanned step small.
    xs, ys, _ = sample_task(cfg.task, teacher, stream("data"), cfg.steps * cfg.batch_size)
    batches = lambda a: a.reshape(-1, cfg.batch_size, *a.shape[1:])  # noqa: E731

    def step(state, inputs):
        i, x, y = inputs
        model, optimizer = nnx.merge(graphdef, state)

        def loss_fn(model):
            pred, aux = model(x, key=jax.random.fold_in(stream("router_noise"), i))
            mse = jnp.mean((pred - y) ** 2)
            return mse + aux.loss, (mse, aux)

        (_, (mse, aux)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        if biased:
            model.ffn.update_bias(aux.load)
        return nnx.state((model, optimizer)), mse

    state, train_mse = jax.lax.scan(step, state, (jnp.arange(cfg.steps), batches(xs), batches(ys)))
    model, _ = nnx.merge(graphdef, state)

    # Evaluate in training-size batches: expert choice and Soft MoE depend on the batch.
    x, y, cluster = sample_task(cfg.task, teacher, stream_key(cfg.task.seed, "test"), cfg.test_size)

    def evaluate(xy):
        xb, yb = xy
        pred, aux = model(xb)
        return jnp.mean((pred - yb) ** 2, axis=0), model.top_expert(xb), aux

    mse, experts, aux = jax.lax.map(evaluate, (batches(x), batches(y)))
    nmse = jnp.mean(mse) / jnp.mean(jnp.var(y, axis=0))
    metrics = {
        "max_vio": jnp.mean(aux.max_vio),
        "dead": jnp.max(aux.dead),
        "dropped_frac": jnp.mean(aux.dropped_frac),
        "entropy": jnp.mean(aux.entropy),
        "confidence": jnp.mean(aux.confidence),
    }
    return train_mse, nmse, experts.reshape(-1), cluster, metrics


def run(cfg: PlantedConfig, rundir: RunDir) -> dict[str, Any]:
    """Train every variant for every seed; log one record per (variant, seed) unit.

    Units already in ``metrics.jsonl`` are skipped, so an interrupted run resumes where it
    stopped; a variant's seeds are computed together and logged together. A non-finite
    training MSE or test metric stops the run (:func:`routerlab.train.guard.check_finite_unit`, exit 1) before
    that unit is logged; the units logged before it are kept, and resume from there.
    """
    seeds = jnp.arange(cfg.seed, cfg.seed + cfg.num_seeds)
    done = rundir.completed_units()
    for variant in progress(cfg.variants, "planted_experts", "variant"):
        units = [f"{variant}/seed{int(s)}" for s in seeds]
        if all(u in done for u in units):
            continue
        train_mse, nmse, experts, cluster, metrics = jax.device_get(_compiled(cfg, variant)(seeds))
        size = ffn_size(cfg, variant)
        for i, unit in enumerate(units):
            if unit in done:
                continue
            check_finite_unit(unit, cfg.steps, train_mse[i], float(nmse[i]), {k: v[i] for k, v in metrics.items()})
            curve = train_mse[i, cfg.log_every - 1 :: cfg.log_every]
            rundir.log({
                "unit": unit,
                "variant": variant,
                "seed": int(seeds[i]),
                "test_nmse": float(nmse[i]),
                "ami": None if variant == "dense" else float(adjusted_mutual_info_score(cluster[i], experts[i])),
                **{k: float(v[i]) for k, v in metrics.items()},
                **size,
                "train_mse_every": cfg.log_every,
                "train_mse": [float(v) for v in curve],
            })
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
    return {"variants": summary}


def _table_rows(rundir: RunDir) -> list[dict[str, Any]]:
    from routerlab.report import MeanCI, fmt_ci

    rows = []
    summary = rundir.summary["variants"]
    for variant in [v for v in rundir.config["variants"] if v in summary]:
        entry = summary[variant]
        ci = lambda m: fmt_ci(MeanCI(**entry[m])) if m in entry else "n/a"  # noqa: E731
        rows.append({
            "variant": variant,
            "FFN params": entry["params"],
            "FLOPs/token": f"{entry['active_flops_per_token']:.0f}",
            "test NMSE": ci("test_nmse"),
            "AMI": ci("ami"),
            "MaxVio": ci("max_vio"),
            "dropped": ci("dropped_frac"),
        })
    return rows


def _figure(rundir: RunDir):
    """Test NMSE and AMI per variant: mean and the same 95% t-interval as the table."""
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style

    summary = rundir.summary["variants"]
    order = [v for v in rundir.config["variants"] if v in summary]
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, metric, label in ((axes[0], "test_nmse", "test NMSE (lower is better)"),
                              (axes[1], "ami", "AMI with planted clusters")):
        shown = [v for v in order if metric in summary[v]]
        mean = [summary[v][metric]["mean"] for v in shown]
        half = [(summary[v][metric]["hi"] - summary[v][metric]["lo"]) / 2 for v in shown]
        ax.errorbar(range(len(shown)), mean, yerr=half, fmt="o", capsize=3)
        ax.set_xticks(range(len(shown)), shown, rotation=45, ha="right")
        ax.set_ylabel(label)
    axes[1].set_ylim(-0.05, 1.05)
    return fig


def findings(rundir: RunDir) -> str:
    """The verdict in words, from the summary: does routing beat the dense layer, and does it find the clusters?"""
    from routerlab.report import MeanCI, fmt_ci

    summary = rundir.summary["variants"]
    ci = {v: MeanCI(**e["test_nmse"]) for v, e in summary.items() if "test_nmse" in e}
    learned = [v for v in ci if v not in ("dense", "hash")]
    lines = []
    if "dense" in ci and learned:
        best = min(learned, key=lambda v: ci[v].mean)
        beat = [v for v in learned if ci[v].hi < ci["dense"].lo]
        lines.append(f"Test NMSE: dense {fmt_ci(ci['dense'])}; best learned router {best} {fmt_ci(ci[best])}. "
                     f"{len(beat)} of {len(learned)} learned routers beat the dense layer with disjoint 95% "
                     f"intervals{': ' + ', '.join(beat) if beat else ''}.")
    if "hash" in ci:
        lines.append(f"The hash control, which never learns, reaches {fmt_ci(ci['hash'])}.")
    ami = {v: MeanCI(**summary[v]["ami"]) for v in learned if "ami" in summary[v]}
    if ami:
        lo, hi = min(ami, key=lambda v: ami[v].mean), max(ami, key=lambda v: ami[v].mean)
        lines.append(f"AMI of the learned routing with the planted clusters ranges from {fmt_ci(ami[lo], 2)} ({lo}) "
                     f"to {fmt_ci(ami[hi], 2)} ({hi}).")
    return " ".join(lines) + "\n"


def report(rundir: RunDir) -> str:
    """Markdown table plus a two-panel figure (test NMSE, routing AMI) in ``artifacts/``."""
    from routerlab.report import markdown_table, save_figure

    save_figure(_figure(rundir), rundir.artifacts / "planted_experts")
    cfg = rundir.config
    return (
        f"Planted experts: a mixture of {cfg['task']['num_clusters']} clusters, each with its own "
        f"target; {cfg['num_seeds']} seeds, {cfg['steps']} steps. Test NMSE is MSE over target "
        "variance; AMI compares each input's top expert with its planted cluster. Intervals are "
        "95% Student-t over seeds.\n\n"
        + findings(rundir) + "\n"
        + markdown_table(_table_rows(rundir))
        + "\n![planted experts](planted_experts.png)\n"
    )


def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``tables/planted_experts.tex``, its findings and ``figures/planted_experts.pdf`` for the paper."""
    from routerlab.report import latex_table, save_figure
    from routerlab.report.paper import write_findings

    cfg = rundir.config
    table = latex_table(
        _table_rows(rundir),
        ["variant", "FFN params", "FLOPs/token", "test NMSE", "AMI", "MaxVio", "dropped"],
        caption=(f"Planted experts ({cfg['task']['num_clusters']} clusters, {cfg['num_seeds']} seeds, "
                 f"{cfg['steps']} steps): test NMSE and AMI of the routing with the planted partition, "
                 "mean $\\pm$ 95\\% t-interval half-width over seeds."),
        label="tab:planted",
    )
    tex = out / "tables" / "planted_experts.tex"
    atomic_write_text(tex, f"% {provenance}\n" + table)
    return [tex, write_findings(out, "planted_experts", findings(rundir), provenance),
            *save_figure(_figure(rundir), out / "figures" / "planted_experts", subject=provenance, png=False)]
