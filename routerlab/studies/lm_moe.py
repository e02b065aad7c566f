"""Routing inside a language model: MoE versus dense, expert count, balancing, capacity, granularity.

Each study trains a list of named *variants* of the toy decoder LM (:mod:`routerlab.models`)
on the generated five-domain corpus, every variant under ``num_seeds`` seeds trained together
(:func:`routerlab.studies.lm_sweep.train_seeds`). One record per (variant, seed) goes to
``metrics.jsonl`` (unit ``"<variant>/seed<s>"``); a variant whose seeds are all recorded is
skipped, so an interrupted run resumes at the variant. Records hold no timings.

Shared conventions (all studies):

* **Compute** is active training FLOPs, ``3 x`` forward matmul FLOPs per token (backward = 2x
  forward; :mod:`routerlab.models.accounting`) x tokens seen. A variant's curve is its
  validation loss (mean next-byte cross-entropy, nats; ``encoder_routers``: mean masked-byte
  cross-entropy) after each ``eval_every`` steps, against the training FLOPs spent so far.
* Every MoE layer replaces the FFN of every block; each expert has the dense FFN's width
  ``d_ff`` unless the study says otherwise, so top-1 MoE matches the dense model's active
  FLOPs up to the router (``2 d E`` per token per layer).
* Intervals are 95% Student-t over seeds (:func:`routerlab.report.mean_ci`); differences
  between variants are paired by seed (same data order and seed streams).
* Routing metrics (MaxVio, dead experts, dropped fraction, CV) are those of the final
  validation evaluation, averaged over batches and over MoE layers.

Studies (each an ``experiments/<name>.py`` file; definitions of the derived numbers are in
the functions named):

``moe_vs_dense``
    Dense baseline; top-1 MoE with ``E`` experts of the same width (same active FLOPs); dense
    with the same *total* parameters (``d_ff * E``). The dense baseline is also trained at
    ``dense_budgets`` multiples of the step count (each with its own full warmup-cosine
    schedule), giving a dense loss-versus-compute frontier. :func:`compute_ratio` reads off
    the FLOPs the dense frontier needs to reach the MoE's final loss.
``expert_count``
    Top-1 Switch MoE with ``E`` in ``expert_counts`` at fixed active compute (``E = 1`` is
    the dense model). :func:`steps_to_reach` gives the step speed-up to the dense final loss.
``balancing``
    Switch load-balance weight ``alpha`` sweep, z-loss on/off, and DeepSeek-V3's
    auxiliary-loss-free bias (``gamma``); MaxVio, dead experts, loss.
``capacity``
    Capacity factor sweep (top-1, ``priority="sequence"``, causal) and dropless.
``granularity``
    ``E`` coarse experts top-1 versus ``m E`` experts of width ``d_ff / m`` top-``m``
    (DeepSeekMoE fine-grained segmentation), with and without one shared expert (then
    ``m E - 1`` routed experts, top-``(m - 1)``): matched total and active expert parameters.
``routers``
    Switch top-1, top-2, hash and RL-R (:mod:`routerlab.moe.reinforce`) in the decoder; the
    token-mixing routers are refused by a causal decoder and are compared in ``encoder_routers``.
``encoder_routers``
    The same toy model made bidirectional (``LMConfig.causal=False``) and trained on masked
    bytes (:mod:`routerlab.train.objective`): dense, Switch top-1, top-2, expert choice, Soft
    MoE and Sinkhorn/BASE. Its losses are masked-byte cross-entropies, not comparable with
    the other studies' next-byte losses.
``scaling_fit``
    A grid of widths x expert counts; Clark et al. 2022's bilinear law fitted by
    :func:`fit_bilinear`, intervals by :func:`bootstrap_bilinear` and by a t-interval over
    per-seed fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from tqdm.auto import tqdm

from routerlab.config import check
from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.rundir import RunDir, atomic_write_text
from routerlab.studies.lm_sweep import train_seeds
from routerlab.train.config import LMRunConfig, TrainConfig

__all__ = [
    "at_scale",
    "SMOKE_SIZES",
    "PAPER_SIZES",
    "LMStudyConfig",
    "MoEVsDenseConfig",
    "ExpertCountConfig",
    "BalancingConfig",
    "CapacityConfig",
    "GranularityConfig",
    "Study",
    "STUDIES",
    "cost_to_reach",
    "compute_ratio",
    "steps_to_reach",
    "ci_or_censored",
    "ScalingFitConfig",
    "RoutersConfig",
    "EncoderRoutersConfig",
    "e_hat",
    "fit_bilinear",
    "bootstrap_bilinear",
]


# -- configs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LMStudyConfig:
    """Model, corpus and training shared by every variant of an LM routing study.

    Attributes:
      seed, num_seeds: seeds ``seed .. seed + num_seeds - 1`` (each names its own init,
        data order and router-noise streams).
      d_model, n_layers, n_heads, seq_len: the decoder (every block's FFN is dense or MoE).
      d_ff: width of the dense FFN and of each expert.
      num_experts: routed experts of the MoE variants (unless the study sweeps it).
      steps, batch_size, lr, warmup_frac: AdamW on warmup-cosine (``routerlab.train``).
      eval_every, eval_batches: validation cadence and batches per domain.
      bytes_per_domain: size of the generated corpus.
      load_balance_weight, z_loss_weight: auxiliary loss weights of MoE variants.
      block_size: rows per block of dropless dispatch (small: toy token counts).

    Class attribute (not a field, so it is not in ``config.json``): ``causal``, whether the
    variants are causal decoders on next-byte prediction (every study but
    :class:`EncoderRoutersConfig`, whose variants are bidirectional encoders on masked bytes).
    """

    causal: ClassVar[bool] = True

    seed: int = 0
    num_seeds: int = 3
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    seq_len: int = 32
    d_ff: int = 64
    num_experts: int = 8
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    warmup_frac: float = 0.1
    eval_every: int = 50
    eval_batches: int = 2
    bytes_per_domain: int = 60_000
    load_balance_weight: float = 1e-2
    z_loss_weight: float = 1e-3
    block_size: int = 16

    def __post_init__(self) -> None:
        for name in ("num_seeds", "d_model", "n_layers", "n_heads", "seq_len", "d_ff", "num_experts", "steps",
                     "batch_size", "eval_every", "eval_batches", "block_size"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(0 <= self.warmup_frac < 1, "warmup_frac", f"must be in [0, 1); got {self.warmup_frac}")

    def train_config(self, steps: int | None = None) -> TrainConfig:
        steps = steps or self.steps
        return TrainConfig(steps=steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=int(self.warmup_frac * steps), eval_every=min(self.eval_every, steps),
                           eval_batches=self.eval_batches, log_every=steps, ckpt_every=steps)

    def moe(self, **kw: Any) -> MoEConfig:
        """Switch-style top-1 MoE of ``num_experts`` experts of width ``d_ff``, overridden by ``kw``."""
        base = dict(num_experts=self.num_experts, top_k=1, d_model=self.d_model, d_ff=self.d_ff, router="top_k",
                    renormalize=False, capacity_factor=None, load_balance_weight=self.load_balance_weight,
                    z_loss_weight=self.z_loss_weight, dropless_block_size=self.block_size)
        base.update(kw)
        return MoEConfig(**base)

    def run_config(self, moe: MoEConfig | None = None, *, d_ff: int | None = None, steps: int | None = None) -> LMRunConfig:
        model = LMConfig(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads, seq_len=self.seq_len,
                         d_ff=d_ff or self.d_ff, ffn="dense" if moe is None else "moe", moe=moe, causal=self.causal)
        return LMRunConfig(model=model, data=CorpusConfig(bytes_per_domain=self.bytes_per_domain),
                           train=self.train_config(steps), seed=self.seed)


@dataclass(frozen=True)
class MoEVsDenseConfig(LMStudyConfig):
    """``dense_budgets``: step multiples at which the dense baseline is trained (its frontier)."""

    dense_budgets: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.dense_budgets) >= 2 and 1.0 in self.dense_budgets, "dense_budgets",
              f"must hold 1.0 and at least one other multiple; got {self.dense_budgets}")
        check(all(b > 0 for b in self.dense_budgets), "dense_budgets", "multiples must be > 0")


@dataclass(frozen=True)
class ExpertCountConfig(LMStudyConfig):
    expert_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(1 in self.expert_counts and all(e >= 1 for e in self.expert_counts), "expert_counts",
              f"must be >= 1 and include 1 (the dense model); got {self.expert_counts}")


@dataclass(frozen=True)
class BalancingConfig(LMStudyConfig):
    alphas: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    bias_rate: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        check(all(a >= 0 for a in self.alphas) and 1e-2 in self.alphas, "alphas",
              f"must be >= 0 and include 0.01 (the z-loss-off comparison); got {self.alphas}")


@dataclass(frozen=True)
class CapacityConfig(LMStudyConfig):
    """``capacity_factors``: each a number, or ``0`` for dropless."""

    capacity_factors: tuple[float, ...] = (0.5, 1.0, 1.25, 2.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(all(c >= 0 for c in self.capacity_factors), "capacity_factors", "must be > 0, or 0 for dropless")


@dataclass(frozen=True)
class ScalingFitConfig(LMStudyConfig):
    """A grid of dense widths (``d_ff = ffn_mult * d_model``) times expert counts (``1`` = dense).

    ``e_start``, ``e_max``: the saturation constants of :func:`e_hat` (Clark et al. 2022's
    fitted values for S-BASE; not refitted here, see the module doc). ``bootstrap``: resamples.
    """

    widths: tuple[int, ...] = (16, 32, 48)
    expert_counts: tuple[int, ...] = (1, 4, 16)
    ffn_mult: int = 2
    e_start: float = 1.85
    e_max: float = 315.0
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.widths) >= 2 and len(self.expert_counts) >= 2, "widths",
              "the bilinear law needs at least 2 widths and 2 expert counts")
        check(all(w % self.n_heads == 0 and (w // self.n_heads) % 2 == 0 for w in self.widths), "widths",
              f"each must divide into n_heads={self.n_heads} heads of even size; got {self.widths}")
        check(1 < self.e_start < self.e_max, "e_start", f"need 1 < e_start < e_max; got {self.e_start}, {self.e_max}")
        check(self.bootstrap >= 10, "bootstrap", f"must be >= 10; got {self.bootstrap}")


@dataclass(frozen=True)
class RoutersConfig(LMStudyConfig):
    """``pg_weight``: weight of RL-R's policy-gradient loss (:mod:`routerlab.moe.reinforce`)."""

    pg_weight: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.pg_weight > 0, "pg_weight", f"must be > 0; got {self.pg_weight}")


@dataclass(frozen=True)
class EncoderRoutersConfig(LMStudyConfig):
    """Routers in the bidirectional encoder, trained on masked bytes.

    ``mask_rate``: fraction of each sequence's positions masked (``TrainConfig.mask_rate``).
    Compute matching (active FLOPs per token in the study's table): expert choice uses
    ``top_k=1`` and capacity factor 1, so each expert takes ``seq_len / num_experts`` tokens
    of a sequence and a token gets one expert on average, Switch's expert FLOPs; Soft MoE has
    ``seq_len / num_experts`` slots per expert, one slot per token, so its expert FLOPs also
    equal Switch's (its dispatch and combine, ``4 d`` per slot per token, come on top).
    """

    causal: ClassVar[bool] = False
    mask_rate: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 < self.mask_rate < 1, "mask_rate", f"must be in (0, 1); got {self.mask_rate}")
        check(self.seq_len % self.num_experts == 0, "num_experts",
              f"must divide seq_len ({self.seq_len}) so that expert choice and Soft MoE match Switch's "
              f"expert FLOPs; got {self.num_experts}")

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return replace(super().train_config(steps), objective="masked", mask_rate=self.mask_rate)


@dataclass(frozen=True)
class GranularityConfig(LMStudyConfig):
    """``segments``: ``m``, each coarse expert split into ``m`` of width ``d_ff / m``."""

    segments: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.segments >= 2 and self.d_ff % self.segments == 0, "segments",
              f"must be >= 2 and divide d_ff ({self.d_ff}); got {self.segments}")


# -- derived numbers --------------------------------------------------------------------


C = TypeVar("C", bound="LMStudyConfig")

# The toy LM sizes every in-model experiment shares at each scale (quick is each config's
# defaults). An experiment file adds only what is its own (fewer variants at smoke, say).
SMOKE_SIZES = dict(d_model=16, d_ff=32, seq_len=16, batch_size=8, steps=20, eval_every=10, eval_batches=1,
                   bytes_per_domain=20_000, num_experts=4)
PAPER_SIZES = dict(d_model=64, d_ff=128, seq_len=64, steps=1500, batch_size=32, eval_every=100, eval_batches=4,
                   bytes_per_domain=200_000)


def at_scale(base: C, scale: str, *, smoke: dict[str, Any] | None = None, paper: dict[str, Any] | None = None) -> C:
    """``base`` at ``scale``: the shared sizes of that scale, then the experiment's own ``smoke``/``paper`` fields."""
    if scale == "quick":
        return base
    if scale == "smoke":
        return replace(base, **{**SMOKE_SIZES, **(smoke or {})})
    if scale == "paper":
        return replace(base, **{**PAPER_SIZES, **(paper or {})})
    raise ValueError(f"unknown scale {scale!r}")


def cost_to_reach(costs: Sequence[float], losses: Sequence[float], target: float, *, log: bool = True) -> tuple[float, int]:
    """The cost at which a loss curve first reaches ``target``, and whether that is censored.

    The curve is the points ``(costs[i], losses[i])`` sorted by cost, replaced by its running
    minimum (a model has reached every loss it once reached), and interpolated linearly between
    consecutive points, in ``log(cost)`` when ``log`` else in ``cost``.

    Returns ``(cost, censor)``: ``censor = 0`` an interpolated value; ``-1`` the target is
    reached already at the first point (``cost`` is an upper bound, ``costs[0]``); ``+1`` never
    reached (``cost`` is a lower bound, ``costs[-1]``).
    """
    c = np.asarray(costs, np.float64)
    order = np.argsort(c)
    c = c[order]
    env = np.minimum.accumulate(np.asarray(losses, np.float64)[order])
    if env[0] <= target:
        return float(c[0]), -1
    if env[-1] > target:
        return float(c[-1]), 1
    i = int(np.argmax(env <= target))
    frac = (env[i - 1] - target) / (env[i - 1] - env[i])
    x = np.log(c) if log else c
    value = x[i - 1] + frac * (x[i] - x[i - 1])
    return float(np.exp(value) if log else value), 0


def compute_ratio(frontier_flops: Sequence[float], frontier_losses: Sequence[float], flops: float,
                  loss: float) -> tuple[float, int]:
    """How many times more training FLOPs the frontier needs than ``flops`` to reach ``loss``.

    ``(C_frontier(loss) / flops, censor)`` with :func:`cost_to_reach` in log FLOPs; censor
    ``+1``: the frontier never reaches ``loss``, so the ratio is at least the value; ``-1``:
    it reaches it at its cheapest point, so the ratio is at most the value. A ratio ``r``
    means a compute saving of ``1 - 1/r`` (the seed's "80% less compute" is ``r = 5``).
    """
    cost, censor = cost_to_reach(frontier_flops, frontier_losses, loss, log=True)
    return cost / flops, censor


def steps_to_reach(steps: Sequence[int], losses: Sequence[float], target: float) -> tuple[float, int]:
    """Steps at which a validation curve first reaches ``target`` (linear in steps; see :func:`cost_to_reach`)."""
    return cost_to_reach(steps, losses, target, log=False)


def e_hat(num_experts: float | np.ndarray, e_start: float = 1.85, e_max: float = 315.0) -> np.ndarray:
    """Clark et al. 2022's saturating expert count (their Eq. 9):

    ``1 / E_hat = 1 / (E - 1 + (1/E_start - 1/E_max)^-1) + 1 / E_max``.

    ``E_hat(1) = E_start`` and ``E_hat -> E_max`` as ``E -> inf``: the first experts help little
    more than one, and the gain saturates. Defaults are Clark et al.'s S-BASE fit.
    """
    e = np.asarray(num_experts, np.float64)
    return 1.0 / (1.0 / (e - 1.0 + 1.0 / (1.0 / e_start - 1.0 / e_max)) + 1.0 / e_max)


def fit_bilinear(n: Sequence[float], e_hat_values: Sequence[float], loss: Sequence[float]) -> np.ndarray:
    """Least-squares ``(a, b, c, d)`` of ``log L = a log N + b log E_hat + c log N log E_hat + d``."""
    ln, le = np.log(np.asarray(n, np.float64)), np.log(np.asarray(e_hat_values, np.float64))
    design = np.stack([ln, le, ln * le, np.ones_like(ln)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(np.asarray(loss, np.float64)), rcond=None)
    return coef


def bootstrap_bilinear(groups: Sequence[tuple[float, float, Sequence[float]]], resamples: int,
                       seed: int = 0) -> dict[str, Any]:
    """Fit and 95% percentile intervals of the bilinear law over a grid.

    ``groups``: ``(N, E_hat, losses over seeds)`` per grid point. Each resample redraws, at
    every grid point independently, as many seeds as it has with replacement, and refits.
    """
    rng = np.random.default_rng(seed)
    n = np.repeat([g[0] for g in groups], [len(g[2]) for g in groups])
    e = np.repeat([g[1] for g in groups], [len(g[2]) for g in groups])
    coef = fit_bilinear(n, e, np.concatenate([np.asarray(g[2], np.float64) for g in groups]))
    draws = np.empty((resamples, 4))
    for i in range(resamples):
        losses = np.concatenate([rng.choice(np.asarray(g[2], np.float64), size=len(g[2])) for g in groups])
        draws[i] = fit_bilinear(n, e, losses)
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return {name: {"estimate": float(coef[j]), "lo": float(lo[j]), "hi": float(hi[j])}
            for j, name in enumerate("abcd")}


def ci_or_censored(values: Sequence[float], censors: Sequence[int], digits: int = 2) -> dict[str, Any]:
    """Mean and 95% interval over seeds when no seed is censored, else the bound that holds.

    Returns ``{"ci": MeanCI dict or None, "censored": n, "text": ...}``. With censored seeds the
    text reports the bound that holds for all seeds (``>= min`` when all are censored above, or
    the range otherwise), never a mean that mixes bounds with values.
    """
    values, censors = np.asarray(values, np.float64), np.asarray(censors)
    n_cens = int(np.count_nonzero(censors))
    if n_cens == 0:
        ci = mean_ci(values)
        return {"ci": ci._asdict(), "censored": 0, "text": fmt_ci(ci, digits)}
    if np.all(censors > 0):
        return {"ci": None, "censored": n_cens, "text": f">= {values.min():.{digits}f} (lower bound: all seeds censored)"}
    if np.all(censors < 0):
        return {"ci": None, "censored": n_cens, "text": f"<= {values.max():.{digits}f} (upper bound: all seeds censored)"}
    return {"ci": None, "censored": n_cens,
            "text": f"{values.min():.{digits}f} .. {values.max():.{digits}f} ({n_cens}/{len(values)} seeds censored)"}


# -- running ----------------------------------------------------------------------------


def _seeds(cfg: LMStudyConfig) -> list[int]:
    return list(range(cfg.seed, cfg.seed + cfg.num_seeds))


def _routing_summary(routing: dict[str, dict[str, np.ndarray]], i: int) -> dict[str, Any]:
    """Seed ``i``'s routing metrics: per layer, and averaged over MoE layers."""
    if not routing:
        return {}
    per_layer = {layer: {k: np.asarray(v[i]).tolist() for k, v in m.items()} for layer, m in routing.items()}
    mean = {k: float(np.mean([np.asarray(m[k][i]) for m in routing.values()]))
            for k in ("max_vio", "cv", "dead", "dropped_frac", "entropy", "confidence")}
    return {"routing": mean, "routing_by_layer": per_layer}


def run_variants(cfg: LMStudyConfig, rundir: RunDir, variants: Sequence[tuple], desc: str) -> None:
    """Train each ``(name, config)`` (or ``(name, config, rl_r_pg_weight)``, RL-R routers) for
    every seed of ``cfg``; one record per (variant, seed)."""
    seeds = _seeds(cfg)
    done = rundir.completed_units()
    for name, run_cfg, *rest in tqdm(variants, desc=desc, unit="variant", disable=None):
        units = [f"{name}/seed{s}" for s in seeds]
        if all(u in done for u in units):
            continue
        out = train_seeds(run_cfg, seeds, reinforce_pg_weight=rest[0] if rest else None)
        flops_step = 3.0 * float(out["flops_per_token"]["active"]) * out["tokens_per_step"]
        for i, (seed, unit) in enumerate(zip(seeds, units)):
            if unit in done:
                continue
            rundir.log({
                "unit": unit,
                "variant": name,
                "seed": seed,
                "steps": run_cfg.train.steps,
                "params": out["params"],
                "flops_per_token": out["flops_per_token"],
                "train_flops_per_step": flops_step,
                "eval_steps": out["eval_steps"].tolist(),
                "val_loss": out["val_loss"][i].tolist(),
                "final_val_loss": float(out["val_loss"][i, -1]),
                "final_train_ce": float(out["train_ce"][i, -1]),
                "test_loss": float(out["test"]["loss"][i]),
                "val_loss_by_domain": {d: float(v[i]) for d, v in out["val"]["loss_by_domain"].items()},
                **_routing_summary(out["val"]["routing"], i),
            })


def _by_variant(rundir: RunDir) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in rundir.records():
        groups.setdefault(record["variant"], []).append(record)
    for rows in groups.values():
        rows.sort(key=lambda r: r["seed"])
    return groups


def _ci(values: Sequence[float]) -> dict[str, float]:
    return mean_ci(values)._asdict()


def _variant_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seeds": len(rows),
        "steps": rows[0]["steps"],
        "params": rows[0]["params"],
        "flops_per_token": rows[0]["flops_per_token"],
        "train_flops": rows[0]["train_flops_per_step"] * rows[0]["steps"],
        "final_val_loss": _ci([r["final_val_loss"] for r in rows]),
        "test_loss": _ci([r["test_loss"] for r in rows]),
    }
    if "routing" in rows[0]:
        entry["routing"] = {k: _ci([r["routing"][k] for r in rows]) for k in rows[0]["routing"]}
    return entry


def _paired_diff(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str = "final_val_loss") -> dict[str, float]:
    """95% interval of ``a - b`` paired by seed."""
    assert [r["seed"] for r in a] == [r["seed"] for r in b]
    return _ci([x[key] - y[key] for x, y in zip(a, b)])


# -- the studies ------------------------------------------------------------------------


def _moe_vs_dense_variants(cfg: MoEVsDenseConfig) -> list[tuple[str, LMRunConfig]]:
    out = [("moe", cfg.run_config(cfg.moe())), ("dense_same_total", cfg.run_config(d_ff=cfg.d_ff * cfg.num_experts))]
    for b in sorted(cfg.dense_budgets):
        out.append((f"dense@{b:g}x", cfg.run_config(steps=max(1, round(b * cfg.steps)))))
    return out


def _moe_vs_dense_analysis(cfg: MoEVsDenseConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    budgets = sorted(cfg.dense_budgets)
    frontier = [groups[f"dense@{b:g}x"] for b in budgets]
    out: dict[str, Any] = {"frontier_budgets": budgets}
    for name in ("moe", "dense_same_total"):
        ratios, censors = [], []
        for i, row in enumerate(groups[name]):
            flops = [rows[i]["train_flops_per_step"] * rows[i]["steps"] for rows in frontier]
            losses = [rows[i]["final_val_loss"] for rows in frontier]
            r, c = compute_ratio(flops, losses, row["train_flops_per_step"] * row["steps"], row["final_val_loss"])
            ratios.append(r)
            censors.append(c)
        out[f"{name}_compute_ratio"] = {"per_seed": ratios, "censor": censors, **ci_or_censored(ratios, censors)}
    out["moe_minus_dense_loss"] = _paired_diff(groups["moe"], groups["dense@1x"])
    out["moe_minus_dense_same_total_loss"] = _paired_diff(groups["moe"], groups["dense_same_total"])
    return out


def _moe_vs_dense_text(cfg: MoEVsDenseConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    ratio = a["moe_compute_ratio"]
    d = MeanCI(**a["moe_minus_dense_loss"])
    claim = ("holds" if ratio["ci"] and ratio["ci"]["lo"] >= 5 else "does not hold")
    return (
        f"Compute ratio at equal loss (dense FLOPs needed to reach the MoE's final validation loss, "
        f"over the MoE's FLOPs): **{ratio['text']}**. The seed's claim of 80% less compute "
        f"(ratio >= 5, lower 95% bound) {claim} at this scale. "
        f"MoE minus dense final loss at equal active FLOPs and steps: {fmt_ci(d)} nats "
        f"({'MoE better' if d.hi < 0 else 'dense better' if d.lo > 0 else 'not resolved'}). "
        f"Dense with the MoE's total parameters ({cfg.num_experts}x the FFN FLOPs): compute ratio at equal loss "
        f"{a['dense_same_total_compute_ratio']['text']}; MoE minus it: "
        f"{fmt_ci(MeanCI(**a['moe_minus_dense_same_total_loss']))} nats.\n"
    )


def _expert_count_variants(cfg: ExpertCountConfig) -> list[tuple[str, LMRunConfig]]:
    return [(f"E={e}", cfg.run_config(None if e == 1 else cfg.moe(num_experts=e))) for e in sorted(cfg.expert_counts)]


def _expert_count_analysis(cfg: ExpertCountConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    dense = groups["E=1"]
    out: dict[str, Any] = {}
    for e in sorted(cfg.expert_counts):
        rows = groups[f"E={e}"]
        speedups, censors = [], []
        for d, r in zip(dense, rows):
            s, c = steps_to_reach(r["eval_steps"], r["val_loss"], d["final_val_loss"])
            speedups.append(d["steps"] / s)
            censors.append(-c)  # never reached (c=+1): the speed-up is at most the value
        out[f"E={e}"] = {"speedup": {"per_seed": speedups, "censor": censors, **ci_or_censored(speedups, censors)},
                         "minus_dense_loss": _paired_diff(rows, dense)}
    return out


def _expert_count_text(cfg: ExpertCountConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    lines = [f"Step speed-up to the dense model's final validation loss (dense steps / MoE steps; "
             f"from the MoE's validation curve, every {cfg.eval_every} steps; an MoE that never reaches "
             "the dense loss is censored, its speed-up at most 1):"]
    for e in sorted(cfg.expert_counts):
        lines.append(f"- E={e}: {a[f'E={e}']['speedup']['text']}")
    return "\n".join(lines) + "\n"


def _balancing_variants(cfg: BalancingConfig) -> list[tuple[str, LMRunConfig]]:
    out = [(f"alpha={a:g}", cfg.run_config(cfg.moe(load_balance_weight=a))) for a in cfg.alphas]
    out.append(("alpha=0.01,no_z", cfg.run_config(cfg.moe(load_balance_weight=1e-2, z_loss_weight=0.0))))
    out.append((f"loss_free(gamma={cfg.bias_rate:g})", cfg.run_config(cfg.moe(
        router="deepseek", load_balance_weight=0.0, z_loss_weight=0.0, bias_update_rate=cfg.bias_rate))))
    return out


def _balancing_analysis(cfg: BalancingConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    zero = groups.get("alpha=0")
    ref = groups["alpha=0.01"]
    out: dict[str, Any] = {}
    if zero is not None:
        out["maxvio_alpha0_minus_alpha0.01"] = _ci([a["routing"]["max_vio"] - b["routing"]["max_vio"]
                                                    for a, b in zip(zero, ref)])
        out["dead_alpha0"] = _ci([a["routing"]["dead"] for a in zero])
        out["loss_alpha0_minus_alpha0.01"] = _paired_diff(zero, ref)
    out["loss_no_z_minus_z"] = _paired_diff(groups["alpha=0.01,no_z"], ref)
    return out


def _balancing_text(cfg: BalancingConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    if "dead_alpha0" not in a:
        return ""
    vio = MeanCI(**a["maxvio_alpha0_minus_alpha0.01"])
    dead = MeanCI(**a["dead_alpha0"])
    collapsed = dead.lo >= cfg.num_experts / 2
    return (f"Without a balance loss (alpha=0) MaxVio is {fmt_ci(vio)} higher than at alpha=0.01 "
            f"and {fmt_ci(dead, 2)} of {cfg.num_experts} experts per layer receive no validation tokens "
            f"in a batch. Expert collapse (half or more experts dead, lower 95% bound) "
            f"{'is seen' if collapsed else 'is not seen'} at this scale.\n")


def _capacity_variants(cfg: CapacityConfig) -> list[tuple[str, LMRunConfig]]:
    return [("dropless" if c == 0 else f"cf={c:g}",
             cfg.run_config(cfg.moe(capacity_factor=None if c == 0 else c, priority="sequence")))
            for c in cfg.capacity_factors]


def _capacity_analysis(cfg: CapacityConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    if "dropless" not in groups:
        return {}
    return {f"{name}_minus_dropless_loss": _paired_diff(rows, groups["dropless"])
            for name, rows in groups.items() if name != "dropless"}


def _capacity_text(cfg: CapacityConfig, summary: dict[str, Any]) -> str:
    lines = ["Final validation loss minus dropless, paired by seed (dropped fraction in the table):"]
    for key, value in summary["analysis"].items():
        lines.append(f"- {key.removesuffix('_minus_dropless_loss')}: {fmt_ci(MeanCI(**value))}")
    return "\n".join(lines) + "\n"


def _scaling_variants(cfg: ScalingFitConfig) -> list[tuple[str, LMRunConfig]]:
    out = []
    for w in cfg.widths:
        sized = replace(cfg, d_model=w, d_ff=cfg.ffn_mult * w)
        for e in cfg.expert_counts:
            out.append((f"d={w},E={e}", sized.run_config(None if e == 1 else sized.moe(num_experts=e))))
    return out


def _scaling_analysis(cfg: ScalingFitConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    points = []
    for w in cfg.widths:
        for e in cfg.expert_counts:
            rows = groups.get(f"d={w},E={e}")
            if rows:
                # N: the dense base model's parameters (Clark et al.), i.e. the E = 1 model's,
                # which the routed models keep as their active parameters up to the router.
                n_base = groups[f"d={w},E={min(cfg.expert_counts)}"][0]["params"]["active"]
                points.append((float(n_base), float(e_hat(e, cfg.e_start, cfg.e_max)),
                               [r["final_val_loss"] for r in rows]))
    fit = bootstrap_bilinear(points, cfg.bootstrap, seed=cfg.seed)
    # One fit per seed over the whole grid (seed s of every grid point), then a Student-t
    # interval over seeds: the project's convention, and honest with 3 seeds, where the
    # percentile bootstrap (resampling 3 values) under-covers.
    per_seed = np.array([fit_bilinear([p[0] for p in points], [p[1] for p in points], [p[2][i] for p in points])
                         for i in range(min(len(p[2]) for p in points))])
    per_seed_ci = {name: mean_ci(per_seed[:, j])._asdict() for j, name in enumerate("abcd")}
    ln = np.log([p[0] for p in points])
    # d log L / d log E_hat = b + c log N: the benefit of routing at each width's N.
    slope = {f"d={w}": fit["b"]["estimate"] + fit["c"]["estimate"] * float(np.log(
        groups[f"d={w},E={min(cfg.expert_counts)}"][0]["params"]["active"])) for w in cfg.widths}
    return {"fit": fit, "fit_per_seed_t": per_seed_ci, "routing_slope_by_width": slope, "log_n_range": [float(ln.min()), float(ln.max())]}


def _scaling_text(cfg: ScalingFitConfig, summary: dict[str, Any]) -> str:
    fit = summary["analysis"]["fit"]
    c_boot, c_t = fit["c"], summary["analysis"]["fit_per_seed_t"]["c"]
    c = {"lo": min(c_boot["lo"], c_t["lo"]), "hi": max(c_boot["hi"], c_t["hi"])}  # both intervals must agree
    if c["lo"] > 0:
        verdict = "shrinks with N (c > 0, interval excludes 0), as Clark et al. found"
    elif c["hi"] < 0:
        verdict = "grows with N (c < 0, interval excludes 0), unlike Clark et al."
    else:
        verdict = "is not resolved: the interval of c includes 0"
    terms = ", ".join(f"{k} = {v['estimate']:+.4f} [{v['lo']:+.4f}, {v['hi']:+.4f}]" for k, v in fit.items())
    slopes = ", ".join(f"{k}: {v:+.4f}" for k, v in summary["analysis"]["routing_slope_by_width"].items())
    return (f"Bilinear fit log L = a log N + b log E_hat + c log N log E_hat + d (95% bootstrap intervals over "
            f"seeds, {cfg.bootstrap} resamples; E_hat with E_start={cfg.e_start:g}, E_max={cfg.e_max:g}): {terms}. "
            f"c from one fit per seed, 95% t-interval: {fmt_ci(MeanCI(**c_t), 4)}. "
            f"d log L / d log E_hat at each width: {slopes}. At this scale the benefit of routing {verdict}.\n")


def _routers_variants(cfg: RoutersConfig) -> list[tuple]:
    return [
        ("dense", cfg.run_config()),
        ("switch(top-1)", cfg.run_config(cfg.moe())),
        ("top-2", cfg.run_config(cfg.moe(top_k=2, renormalize=True))),
        ("hash", cfg.run_config(cfg.moe(router="hash", load_balance_weight=0.0, z_loss_weight=0.0))),
        ("rl-r", cfg.run_config(cfg.moe()), cfg.pg_weight),
    ]


SWITCH = "switch(top-1)"


def _verdict(ci: MeanCI) -> str:
    """A paired loss difference against the reference: its sign, when the 95% interval excludes 0."""
    return "better" if ci.hi < 0 else "worse" if ci.lo > 0 else "not resolved"


def _routers_analysis(cfg: LMStudyConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    """Each variant's final validation loss minus Switch (top-1)'s, paired by seed (routers and encoder_routers)."""
    ref = groups[SWITCH]
    return {f"{name}_minus_switch_loss": _paired_diff(rows, ref) for name, rows in groups.items() if rows is not ref}


def _routers_text(cfg: RoutersConfig, summary: dict[str, Any]) -> str:
    lines = ["Final validation loss minus Switch (top-1), paired by seed:"]
    for key, value in summary["analysis"].items():
        ci = MeanCI(**value)
        lines.append(f"- {key.removesuffix('_minus_switch_loss')}: {fmt_ci(ci)} ({_verdict(ci)})")
    lines.append("\nExpert choice, Soft MoE and Sinkhorn/BASE are not in this table: each lets a token's "
                 "routing depend on later tokens, so the causal decoder refuses them (routerlab.moe.causal_leak). "
                 "They are compared in a bidirectional encoder on masked bytes (encoder_routers).")
    return "\n".join(lines) + "\n"


def _encoder_routers_variants(cfg: EncoderRoutersConfig) -> list[tuple[str, LMRunConfig]]:
    per_expert = cfg.seq_len // cfg.num_experts  # tokens per expert (expert choice), slots per expert (Soft MoE)
    return [
        ("dense", cfg.run_config()),
        (SWITCH, cfg.run_config(cfg.moe())),
        ("top-2", cfg.run_config(cfg.moe(top_k=2, renormalize=True))),
        ("expert_choice(cf=1)", cfg.run_config(cfg.moe(router="expert_choice", capacity_factor=1.0))),
        (f"soft({per_expert} slots/expert)", cfg.run_config(cfg.moe(router="soft", slots_per_expert=per_expert))),
        # BASE/S-BASE: balanced by Sinkhorn, so no load-balance loss (the z-loss stays).
        ("sinkhorn(BASE)", cfg.run_config(cfg.moe(router="sinkhorn", load_balance_weight=0.0))),
    ]


def _encoder_routers_text(cfg: EncoderRoutersConfig, summary: dict[str, Any]) -> str:
    lines = ["Final validation loss (masked-byte cross-entropy, nats per masked byte) minus Switch (top-1), "
             "paired by seed:"]
    verdicts: dict[str, str] = {}
    for key, value in summary["analysis"].items():
        ci = MeanCI(**value)
        name = key.removesuffix("_minus_switch_loss")
        verdicts[name] = _verdict(ci)
        lines.append(f"- {name}: {fmt_ci(ci)} ({verdicts[name]})")
    better = [name for name, v in verdicts.items() if v == "better"]
    worse = [name for name, v in verdicts.items() if v == "worse"]
    means = {name: v["final_val_loss"]["mean"] for name, v in summary["variants"].items()}
    best = min(means, key=means.get)
    if best == SWITCH:
        verdict = "Switch (top-1) itself has the lowest mean validation loss"
    elif verdicts.get(best) == "better":
        verdict = f"{best} has the lowest mean validation loss, a resolved gain over Switch (paired interval below 0)"
    else:
        verdict = (f"{best} has the lowest mean validation loss, but its gain over Switch is not resolved "
                   "(the paired interval does not lie below 0)")
    lines.append(f"\n{verdict}. Resolved better than Switch: {', '.join(better) or 'none'}; resolved worse: "
                 f"{', '.join(worse) or 'none'}.")
    if "sinkhorn(BASE)" in worse:
        lines.append("Sinkhorn/BASE is scored as it trains, balanced over each evaluation batch; BASE itself routes "
                     "greedily at inference, so part of this deficit may be the evaluation protocol rather than "
                     "the router.")
    lines.append(
        "\nWhy an encoder: expert choice (each expert picks its top tokens of the sequence), Soft MoE (every slot "
        "is a weighted average of all tokens of the sequence) and Sinkhorn/BASE (balancing normalises router scores "
        "over every token of the batch; here at evaluation too, where BASE itself routes greedily) make a token's "
        "routing, and so its output, depend on other tokens. In a decoder the input at position t + 1 is the "
        "target at t, so that dependence leaks the answer, and the "
        "causal decoder refuses these routers (routerlab.moe.causal_leak). In this bidirectional encoder every "
        "target byte is replaced by MASK in the input, so no token's routing can see it. The losses here are "
        "masked-byte cross-entropies and are not comparable with the decoder's next-byte losses (routers study)."
    )
    return "\n".join(lines) + "\n"


def _granularity_variants(cfg: GranularityConfig) -> list[tuple[str, LMRunConfig]]:
    m, e, f = cfg.segments, cfg.num_experts, cfg.d_ff
    return [
        ("dense", cfg.run_config()),
        (f"coarse(E={e},k=1)", cfg.run_config(cfg.moe())),
        (f"fine(E={m * e},k={m})", cfg.run_config(cfg.moe(num_experts=m * e, top_k=m, d_ff=f // m, renormalize=True))),
        (f"fine+shared(1+E={m * e - 1},k={m - 1})", cfg.run_config(cfg.moe(
            num_experts=m * e - 1, top_k=m - 1, d_ff=f // m, num_shared_experts=1, renormalize=m - 1 > 1))),
    ]


def _granularity_analysis(cfg: GranularityConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    coarse = groups[f"coarse(E={cfg.num_experts},k=1)"]
    return {f"{name}_minus_coarse_loss": _paired_diff(rows, coarse) for name, rows in groups.items()
            if rows is not coarse}


def _granularity_text(cfg: GranularityConfig, summary: dict[str, Any]) -> str:
    lines = ["Final validation loss minus the coarse top-1 MoE, paired by seed:"]
    for key, value in summary["analysis"].items():
        ci = MeanCI(**value)
        lines.append(f"- {key.removesuffix('_minus_coarse_loss')}: {fmt_ci(ci)} ({_verdict(ci)})")
    return "\n".join(lines) + "\n"


# -- reports ----------------------------------------------------------------------------


def _table_rows(summary: dict[str, Any], order: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for name in order:
        if name not in summary["variants"]:
            continue
        entry = summary["variants"][name]
        routing = entry.get("routing")
        ci = lambda k, d=3: fmt_ci(MeanCI(**routing[k]), d) if routing else "-"  # noqa: E731
        rows.append({
            "variant": name,
            "params (total)": entry["params"]["total"],
            "FLOPs/token (active)": f"{entry['flops_per_token']['active']:.3g}",
            "train FLOPs": f"{entry['train_flops']:.3g}",
            "val loss": fmt_ci(MeanCI(**entry["final_val_loss"])),
            "test loss": fmt_ci(MeanCI(**entry["test_loss"])),
            "MaxVio": ci("max_vio", 2),
            "dead": ci("dead", 2),
            "dropped": ci("dropped_frac", 3),
        })
    return rows


COLUMNS = ["variant", "params (total)", "FLOPs/token (active)", "train FLOPs", "val loss", "test loss", "MaxVio",
           "dead", "dropped"]


def _loss_name(cfg: LMStudyConfig) -> str:
    """What a study's losses are: next-byte (decoders) or masked-byte (the encoder) cross-entropy."""
    return "cross-entropy (nats/byte)" if cfg.causal else "masked-byte cross-entropy (nats per masked byte)"


def _ylabel(cfg: LMStudyConfig) -> str:
    return "validation loss (nats/byte)" if cfg.causal else "val. masked-byte loss (nats)"


def _figure(rundir: RunDir, title: str, ylabel: str = "validation loss (nats/byte)"):
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style

    setup_style()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, rows in _by_variant(rundir).items():
        flops = np.asarray(rows[0]["eval_steps"], np.float64) * rows[0]["train_flops_per_step"]
        losses = np.array([r["val_loss"] for r in rows])
        mean = losses.mean(axis=0)
        (line,) = ax.plot(flops, mean, marker="o", markersize=2.5, label=name)
        if len(rows) > 1:
            half = np.array([mean_ci(col).half_width for col in losses.T])
            ax.fill_between(flops, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set(xscale="log", xlabel="training FLOPs (active)", ylabel=ylabel, title=title)
    ax.legend(fontsize=6, ncol=2)
    return fig


def _setup(cfg: LMStudyConfig) -> str:
    if isinstance(cfg, ScalingFitConfig):
        return (f"Decoder widths d_model in {list(cfg.widths)} (FFN/expert width {cfg.ffn_mult} d_model), "
                f"{cfg.n_layers} layers, context {cfg.seq_len}")
    if not cfg.causal:
        return (f"Bidirectional encoder d_model={cfg.d_model}, {cfg.n_layers} layers, context {cfg.seq_len}, "
                f"dense/expert width {cfg.d_ff}, trained to predict masked bytes "
                f"({getattr(cfg, 'mask_rate', 0.15):g} of each sequence replaced by MASK)")
    return (f"Decoder d_model={cfg.d_model}, {cfg.n_layers} layers, context {cfg.seq_len}, "
            f"dense/expert width {cfg.d_ff}")


@dataclass(frozen=True)
class Study:
    """One LM routing study: its variants, its derived numbers and its prose."""

    name: str
    title: str
    config: type
    variants: Callable[[Any], list[tuple[str, LMRunConfig]]]
    analysis: Callable[[Any, dict[str, list[dict]]], dict[str, Any]]
    text: Callable[[Any, dict[str, Any]], str]

    def _cfg(self, rundir: RunDir) -> Any:
        from routerlab.config import from_dict

        return from_dict(self.config, rundir.config)

    def order(self, cfg: Any) -> list[str]:
        """Variant names in the study's order."""
        return [v[0] for v in self.variants(cfg)]

    def run(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        """Train every variant for every seed (skipping recorded ones); return :meth:`summarize`."""
        run_variants(cfg, rundir, self.variants(cfg), self.name)
        return self.summarize(cfg, rundir)

    def summarize(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        groups = _by_variant(rundir)
        order = self.order(cfg)
        return {"variants": {name: _variant_summary(groups[name]) for name in order if name in groups},
                "analysis": self.analysis(cfg, groups)}

    def report(self, rundir: RunDir) -> str:
        """Markdown: setup, the derived numbers, the table; the loss-vs-FLOPs figure in ``artifacts/``."""
        from routerlab.report import markdown_table, save_figure

        cfg = self._cfg(rundir)
        summary = rundir.summary
        save_figure(_figure(rundir, self.title, _ylabel(cfg)), rundir.artifacts / self.name)
        return (
            f"## {self.title}\n\n{_setup(cfg)}; {cfg.steps} steps of {cfg.batch_size} sequences; {cfg.num_seeds} seeds. "
            f"Losses are validation {_loss_name(cfg)}; intervals are 95% Student-t over seeds.\n\n"
            + self.text(cfg, summary) + "\n" + markdown_table(_table_rows(summary, self.order(cfg)), COLUMNS)
            + f"\n![{self.name}]({self.name}.png)\n"
        )

    def paper(self, rundir: RunDir, out: Path, provenance: str) -> list[Path]:
        """``tables/<name>.tex``, ``tables/<name>_findings.tex`` (the report's verdicts) and ``figures/<name>.pdf``."""
        from routerlab.report import latex_table, save_figure
        from routerlab.report.paper import write_findings

        cfg = self._cfg(rundir)
        unit = "nats/byte" if cfg.causal else "masked-byte cross-entropy, nats per masked byte"
        table = latex_table(_table_rows(rundir.summary, self.order(cfg)), COLUMNS,
                            caption=(f"{self.title} ({cfg.num_seeds} seeds, {cfg.steps} steps): final validation and "
                                     f"test loss ({unit}) and routing metrics, mean $\\pm$ 95\\% t-interval "
                                     "half-width over seeds."),
                            label=f"tab:{self.name}")
        tex = out / "tables" / f"{self.name}.tex"
        atomic_write_text(tex, f"% {provenance}\n" + table)
        figure = _figure(rundir, self.title, _ylabel(cfg))
        return [tex, write_findings(out, self.name, self.text(cfg, rundir.summary), provenance),
                *save_figure(figure, out / "figures" / self.name, subject=provenance, png=False)]


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study("moe_vs_dense", "MoE vs dense at equal active compute and equal total parameters", MoEVsDenseConfig,
              _moe_vs_dense_variants, _moe_vs_dense_analysis, _moe_vs_dense_text),
        Study("expert_count", "Expert count at fixed active compute (Switch, top-1)", ExpertCountConfig,
              _expert_count_variants, _expert_count_analysis, _expert_count_text),
        Study("balancing", "Load balancing: aux-loss weight, z-loss, loss-free bias", BalancingConfig,
              _balancing_variants, _balancing_analysis, _balancing_text),
        Study("capacity", "Capacity factor: dropped tokens against quality", CapacityConfig,
              _capacity_variants, _capacity_analysis, _capacity_text),
        Study("scaling_fit", "Scaling law of routed LMs (Clark et al. 2022) over width x experts", ScalingFitConfig,
              _scaling_variants, _scaling_analysis, _scaling_text),
        Study("routers", "Routers in the causal decoder: top-k, hash, REINFORCE (RL-R)", RoutersConfig,
              _routers_variants, _routers_analysis, _routers_text),
        Study("granularity", "Fine-grained and shared experts (DeepSeekMoE) at matched parameters", GranularityConfig,
              _granularity_variants, _granularity_analysis, _granularity_text),
        Study("encoder_routers", "Routers in a bidirectional encoder on masked bytes", EncoderRoutersConfig,
              _encoder_routers_variants, _routers_analysis, _encoder_routers_text),
    )
}
