"""MoE vs dense, measured as the seed's claim S2 says: the dense-equivalent FLOPs per token of a top-1 MoE.

Variants: a top-1 (Switch) MoE with ``num_experts`` experts of the dense FFN's width (the
dense model's active FLOPs up to the router), and dense models whose FFN is ``m x d_ff`` wide
for each ``m`` in ``dense_widths``, every one trained on the same tokens (same steps, batch and
data order) at its own tuned learning rate. The dense models' ``(active FLOPs per token, loss)``
points form the **dense frontier**.

**One declared measure** (``cfg.measure``, :mod:`routerlab.studies.lm.measure`, shared by every
LM study) is the loss that the frontier, the ratio, the paired differences and both positive
controls read: ``test_loss`` (the corpus test split, the default) or ``fact_loss`` (with the
``knowledge`` domain: the mean cross-entropy of a fact's value bytes on the test prompts,
:func:`~routerlab.studies.lm.measure.fact_loss`; the records then carry the knowledge study's
readout). Learning rates are chosen on the validation loss either way; test numbers never choose.

* ``dense_equivalent_ratio`` (:func:`routerlab.studies.lm.curves.dense_equivalent_ratio`):
  per seed, the FLOPs per token at which the frontier (log-linear, running minimum) reaches
  the MoE's loss, over the MoE's own active FLOPs per token. ``r >= 5`` is the seed's
  "80% less compute per token". Seeds beyond the frontier are censored and reported as bounds.
* ``step_speedup`` (Switch Transformer's measure): the dense 1x model's steps over the steps the
  MoE's validation curve needs to reach dense's final validation loss (censored: at most 1).
* ``moe_minus_dense_loss`` (equal active FLOPs) and ``moe_minus_dense_same_total_loss`` (the
  dense model of the MoE's total FFN parameters, ``m = num_experts``), paired by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.models import knowledge as kn
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.curves import ci_or_censored, dense_equivalent_ratio, steps_to_reach
from routerlab.studies.lm.measure import MEASURES, fact_loss, measure_of
from routerlab.studies.lm.study import Study, fmt_diff, paired_diff, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["MoEVsDenseConfig", "STUDY", "MEASURES", "dense_name", "interval", "fact_loss", "measure_of"]


@dataclass(frozen=True)
class MoEVsDenseConfig(LMStudyConfig):
    """The LM study config plus the dense frontier.

    Attributes:
      dense_widths: FFN width multiples ``m`` (of ``d_ff``) of the dense frontier; must hold 1.

    The knowledge table (``entities``, ``renderings``), the ``measure`` and ``weight_decay``
    are :class:`~routerlab.studies.lm.config.LMStudyConfig`'s, shared by every LM study.
    """

    dense_widths: tuple[int, ...] = (1, 2, 4, 8)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.dense_widths) >= 2 and 1 in self.dense_widths and all(m >= 1 for m in self.dense_widths)
              and len(set(self.dense_widths)) == len(self.dense_widths), "dense_widths",
              f"must be distinct integers >= 1, hold 1 and at least one other; got {self.dense_widths}")


def dense_name(m: int) -> str:
    return f"dense(ffn x{m})"


def _variants(cfg: MoEVsDenseConfig) -> list[tuple[str, LMRunConfig]]:
    out = [("moe", cfg.run_config(cfg.moe()))]
    widths = sorted(set(cfg.dense_widths) | {cfg.num_experts})
    out += [(dense_name(m), cfg.run_config(d_ff=m * cfg.d_ff)) for m in widths]
    return out


def interval(values: list[float], censors: list[int]) -> dict[str, Any]:
    """``{"mean", "ci": [lo, hi] or None, "n", "per_seed", "censor", "censored", "text"}`` (the output contract).

    ``ci`` is ``None`` when any seed is censored (the text then gives the bound that holds)
    or with one seed (no interval).
    """
    c = ci_or_censored(values, censors)
    interval_ok = c["ci"] is not None and len(values) >= 2
    text = c["text"] if len(values) >= 2 or c["censored"] else f"{values[0]:.2f} (n/a (1 seed))"
    return {"mean": float(np.mean(values)), "ci": [c["ci"]["lo"], c["ci"]["hi"]] if interval_ok else None,
            "n": len(values), "per_seed": values, "censor": censors, "censored": c["censored"], "text": text}


def _analysis(cfg: MoEVsDenseConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    widths = sorted(cfg.dense_widths)
    frontier = [groups[dense_name(m)] for m in widths]
    moe, dense = groups["moe"], groups[dense_name(1)]
    loss = lambda rows: [{"seed": r["seed"], "loss": measure_of(cfg, r)} for r in rows]  # noqa: E731
    ratios, r_cens, speed, s_cens = [], [], [], []
    for i, row in enumerate(moe):
        fpt = [rows[i]["flops_per_token"]["active"] for rows in frontier]
        losses = [measure_of(cfg, rows[i]) for rows in frontier]
        r, c = dense_equivalent_ratio(fpt, losses, row["flops_per_token"]["active"], measure_of(cfg, row))
        ratios.append(r)
        r_cens.append(c)
        s, c = steps_to_reach(row["eval_steps"], row["val_loss"], dense[i]["final_val_loss"])
        speed.append(dense[i]["steps"] / s)
        s_cens.append(-c)  # never reached (c = +1): the speed-up is at most the value
    return {
        "measure": cfg.measure,
        "frontier": {dense_name(m): {"flops_per_token": rows[0]["flops_per_token"]["active"],
                                     cfg.measure: mean_ci([measure_of(cfg, r) for r in rows])._asdict()}
                     for m, rows in zip(widths, frontier)},
        "moe": {cfg.measure: mean_ci([measure_of(cfg, r) for r in moe])._asdict()},
        "dense_equivalent_ratio": interval(ratios, r_cens),
        # the largest ratio the frontier can show: its widest model's FLOPs per token over the MoE's
        "frontier_reach": max(r[0]["flops_per_token"]["active"] for r in frontier) / moe[0]["flops_per_token"]["active"],
        "step_speedup": interval(speed, s_cens),
        "moe_minus_dense_loss": paired_diff(loss(moe), loss(dense), key="loss"),
        "moe_minus_dense_same_total_loss": paired_diff(loss(moe), loss(groups[dense_name(cfg.num_experts)]),
                                                       key="loss"),
    }


def _verdict(cfg: MoEVsDenseConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    r, measure = a["dense_equivalent_ratio"], cfg.measure.replace("_", " ")
    reach = a.get("frontier_reach")
    if reach is not None and reach < 5:  # no outcome could show "80% less compute per token"
        return (f"S2 (MoE matches dense with 80% less compute per token, ratio >= 5) is not testable here: the "
                f"widest dense model costs {reach:.2f}x the MoE's active FLOPs per token, so the frontier cannot "
                f"show a ratio of 5; dense-equivalent ratio {r['text']} (on {measure}).")
    if r["ci"] is not None:
        held = "holds" if r["ci"][0] >= 5 else "fails" if r["ci"][1] < 5 else "is not resolved"
    else:  # censored seeds: a value is a lower bound (censor > 0), an upper bound (< 0) or exact (0)
        vals, cens = np.asarray(r["per_seed"]), np.asarray(r["censor"])
        held = ("holds" if np.all((vals >= 5) & (cens >= 0)) else
                "fails" if np.all((vals < 5) & (cens <= 0)) else "is not resolved")
    return (f"S2 (MoE matches dense with 80% less compute per token, ratio >= 5) {held}: dense-equivalent "
            f"ratio {r['text']} (on {measure}).")


def _text(cfg: MoEVsDenseConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    d, t = a["moe_minus_dense_loss"], a["moe_minus_dense_same_total_loss"]
    name = cfg.measure.replace("_", " ")
    unit = "nats per fact" if cfg.measure == "fact_loss" else "nats"
    frontier = "; ".join(f"{k}: {v['flops_per_token']:.3g} FLOPs/token, {name} {fmt_ci(MeanCI(**v[cfg.measure]))}"
                         for k, v in a["frontier"].items())
    lines = [f"Measure: {MEASURES[cfg.measure]}; the frontier, the comparisons and both controls read it.\n"]
    if kn.KNOWLEDGE in cfg.domains:
        lines.append(f"Knowledge table: {cfg.entities} entities x {len(kn.ATTRIBUTES)} attributes, {cfg.renderings} "
                     "training renderings each" + (f"; {cfg.steps * cfg.batch_size // cfg.entities} exposures per "
                                                   "fact" if cfg.domains == (kn.KNOWLEDGE,) else "") + ".\n")
    lines += [
        f"Dense frontier (same tokens, each width at its "
        f"{'tuned' if cfg.lr_policy == 'per_arm' else 'tuned or transferred (lr_source in the tuning)'} rate): "
        f"{frontier}; MoE "
        f"{fmt_ci(MeanCI(**a['moe'][cfg.measure]))}.\n",
        f"Dense-equivalent ratio (frontier FLOPs per token at the MoE's {name} over the MoE's active FLOPs per "
        f"token): **{a['dense_equivalent_ratio']['text']}** (the frontier can show at most "
        f"{a.get('frontier_reach', float('nan')):.2f}). Step speed-up to the dense model's final validation "
        f"loss: {a['step_speedup']['text']}. MoE minus dense {name} at equal active FLOPs and tokens: "
        f"{fmt_diff(d)} {unit} ({sign_verdict(d)}); MoE minus the dense model of its total FFN parameters "
        f"({cfg.num_experts}x the FFN FLOPs): {fmt_diff(t)} {unit} ({sign_verdict(t)}).\n",
    ]
    return "\n".join(lines)


STUDY = Study("moe_vs_dense", "MoE vs dense: dense-equivalent compute per token (S2)", MoEVsDenseConfig,
              _variants, _analysis, _text, _verdict, headline=("dense_equivalent_ratio", "step_speedup"),
              # the widest dense model: the farthest from a tuned control's width
              sentinels=lambda cfg: (dense_name(max(cfg.dense_widths)),))
