"""MoE vs dense, measured as the seed's claim S2 says: the dense-equivalent FLOPs per token of a top-1 MoE.

Variants: a top-1 (Switch) MoE with ``num_experts`` experts of the dense FFN's width (the
dense model's active FLOPs up to the router), and dense models whose FFN is ``m x d_ff`` wide
for each ``m`` in ``dense_widths``, every one trained on the same tokens (same steps, batch and
data order) at its own tuned learning rate. The dense models' ``(active FLOPs per token, test
loss)`` points form the **dense frontier**.

* ``dense_equivalent_ratio`` (:func:`routerlab.studies.lm.curves.dense_equivalent_ratio`):
  per seed, the FLOPs per token at which the frontier (log-linear, running minimum) reaches
  the MoE's test loss, over the MoE's own active FLOPs per token. ``r >= 5`` is the seed's
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
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.curves import ci_or_censored, dense_equivalent_ratio, steps_to_reach
from routerlab.studies.lm.study import Study, fmt_diff, paired_diff, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["MoEVsDenseConfig", "STUDY", "dense_name", "interval"]


@dataclass(frozen=True)
class MoEVsDenseConfig(LMStudyConfig):
    """``dense_widths``: FFN width multiples ``m`` (of ``d_ff``) of the dense frontier; must hold 1."""

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
    ratios, r_cens, speed, s_cens = [], [], [], []
    for i, row in enumerate(moe):
        fpt = [rows[i]["flops_per_token"]["active"] for rows in frontier]
        losses = [rows[i]["test_loss"] for rows in frontier]
        r, c = dense_equivalent_ratio(fpt, losses, row["flops_per_token"]["active"], row["test_loss"])
        ratios.append(r)
        r_cens.append(c)
        s, c = steps_to_reach(row["eval_steps"], row["val_loss"], dense[i]["final_val_loss"])
        speed.append(dense[i]["steps"] / s)
        s_cens.append(-c)  # never reached (c = +1): the speed-up is at most the value
    return {
        "frontier": {dense_name(m): {"flops_per_token": rows[0]["flops_per_token"]["active"],
                                     "test_loss": mean_ci([r["test_loss"] for r in rows])._asdict()}
                     for m, rows in zip(widths, frontier)},
        "dense_equivalent_ratio": interval(ratios, r_cens),
        "step_speedup": interval(speed, s_cens),
        "moe_minus_dense_loss": paired_diff(moe, dense),
        "moe_minus_dense_same_total_loss": paired_diff(moe, groups[dense_name(cfg.num_experts)]),
    }


def _verdict(cfg: MoEVsDenseConfig, summary: dict[str, Any]) -> str:
    r = summary["analysis"]["dense_equivalent_ratio"]
    if r["ci"] is not None:
        held = "holds" if r["ci"][0] >= 5 else "fails" if r["ci"][1] < 5 else "is not resolved"
    else:
        held = "holds" if min(r["per_seed"]) >= 5 and all(c >= 0 for c in r["censor"]) else "is not resolved"
    return (f"S2 (MoE matches dense with 80% less compute per token, ratio >= 5) {held}: dense-equivalent "
            f"ratio {r['text']}.")


def _text(cfg: MoEVsDenseConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    d, t = a["moe_minus_dense_loss"], a["moe_minus_dense_same_total_loss"]
    frontier = "; ".join(f"{k}: {v['flops_per_token']:.3g} FLOPs/token, test loss {fmt_ci(MeanCI(**v['test_loss']))}"
                         for k, v in a["frontier"].items())
    return (
        f"Dense frontier (same tokens, each width at its tuned rate): {frontier}.\n\n"
        f"Dense-equivalent ratio (frontier FLOPs per token at the MoE's test loss over the MoE's active FLOPs per "
        f"token): **{a['dense_equivalent_ratio']['text']}**. Step speed-up to the dense model's final validation "
        f"loss: {a['step_speedup']['text']}. MoE minus dense test loss at equal active FLOPs and tokens: "
        f"{fmt_diff(d)} nats ({sign_verdict(d)}); MoE minus the dense model of its total FFN parameters "
        f"({cfg.num_experts}x the FFN FLOPs): {fmt_diff(t)} nats ({sign_verdict(t)}).\n"
    )


STUDY = Study("moe_vs_dense", "MoE vs dense: dense-equivalent compute per token (S2)", MoEVsDenseConfig,
              _variants, _analysis, _text, _verdict, headline=("dense_equivalent_ratio", "step_speedup"))
