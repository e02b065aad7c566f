"""MoE vs dense, measured as the seed's claim S2 says: the dense-equivalent FLOPs per token of a top-1 MoE.

Variants: a top-1 (Switch) MoE with ``num_experts`` experts of the dense FFN's width (the
dense model's active FLOPs up to the router), and dense models whose FFN is ``m x d_ff`` wide
for each ``m`` in ``dense_widths``, every one trained on the same tokens (same steps, batch and
data order) at its own tuned learning rate. The dense models' ``(active FLOPs per token, loss)``
points form the **dense frontier**.

**One declared measure** (``cfg.measure``, :data:`MEASURES`) is the loss that the frontier, the
ratio, the paired differences and both positive controls read: ``test_loss`` (the corpus test
split, the default) or ``fact_loss`` (with the ``knowledge`` domain: the mean cross-entropy of a
fact's value bytes on the test prompts, :func:`fact_loss`; the records then carry the knowledge
study's readout, :func:`routerlab.studies.lm.knowledge.run_knowledge_variants`). Learning rates
are chosen on the validation loss either way; test numbers never choose.

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

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.models import knowledge as kn
from routerlab.moe import MoEConfig
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.curves import ci_or_censored, dense_equivalent_ratio, steps_to_reach
from routerlab.report.controls import gate, paired_control
from routerlab.rundir import RunDir
from routerlab.studies.lm.knowledge import run_knowledge_variants
from routerlab.studies.lm.runner import by_variant
from routerlab.studies.lm.study import Study, fmt_diff, paired_diff, sign_verdict
from routerlab.train.config import LMRunConfig, TrainConfig

__all__ = ["MoEVsDenseConfig", "STUDY", "MEASURES", "dense_name", "interval", "fact_loss", "measure_of"]


@dataclass(frozen=True)
class MoEVsDenseConfig(LMStudyConfig):
    """The LM study config plus the dense frontier and the knowledge table.

    Attributes:
      dense_widths: FFN width multiples ``m`` (of ``d_ff``) of the dense frontier; must hold 1.
      entities, renderings: the ``knowledge`` domain's fact table
        (:class:`routerlab.models.knowledge.KnowledgeConfig`), used when ``domains`` holds it;
        the corpus config is then given this table (with the text domains alone it is not, so
        their run configs, and the unit cache, are those of the other LM studies).
      measure: the loss every comparison, the frontier and both controls read (:data:`MEASURES`):
        ``test_loss`` (the corpus test split) or ``fact_loss`` (the knowledge domain's facts).
      weight_decay: AdamW weight decay of every arm (the default is the trainer's own).
    """

    dense_widths: tuple[int, ...] = (1, 2, 4, 8)
    entities: int = 500
    renderings: int = 4
    measure: str = "test_loss"
    weight_decay: float = TrainConfig.weight_decay

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.dense_widths) >= 2 and 1 in self.dense_widths and all(m >= 1 for m in self.dense_widths)
              and len(set(self.dense_widths)) == len(self.dense_widths), "dense_widths",
              f"must be distinct integers >= 1, hold 1 and at least one other; got {self.dense_widths}")
        kn.KnowledgeConfig(entities=self.entities, renderings=self.renderings)  # names a bad field
        if kn.KNOWLEDGE in self.domains:
            check(self.seq_len + 1 >= kn.max_document_len(), "seq_len",
                  f"a biography of the knowledge domain needs up to {kn.max_document_len()} bytes: seq_len must "
                  f"be >= {kn.max_document_len() - 1}; got {self.seq_len}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0; got {self.weight_decay}")
        check(self.measure in MEASURES, "measure", f"must be one of {', '.join(MEASURES)}; got {self.measure!r}")
        check(self.measure != "fact_loss" or kn.KNOWLEDGE in self.domains, "measure",
              f"fact_loss reads the knowledge domain's facts: domains must hold {kn.KNOWLEDGE!r}; "
              f"got {list(self.domains)}")

    def knowledge(self) -> kn.KnowledgeConfig:
        return kn.KnowledgeConfig(entities=self.entities, renderings=self.renderings)

    def run_config(self, moe: MoEConfig | None = None, *, d_ff: int | None = None, steps: int | None = None,
                   lr: float | None = None) -> LMRunConfig:
        base = super().run_config(moe, d_ff=d_ff, steps=steps, lr=lr)
        base = replace(base, train=replace(base.train, weight_decay=self.weight_decay))
        if kn.KNOWLEDGE not in self.domains:
            return base
        return replace(base, data=replace(base.data, knowledge=self.knowledge()))


#: What each ``measure`` is (lower is better for both), as the report names it.
MEASURES = {
    "test_loss": "test loss (cross-entropy over the corpus test split, nats/byte)",
    "fact_loss": ("fact loss (cross-entropy of a fact's value bytes given its entity's name and the attribute's "
                  "prompt, on the knowledge domain's test prompts, nats per fact)"),
}


def fact_loss(row: dict[str, Any], num_facts: int) -> float:
    """A knowledge record's mean cross-entropy per fact in nats, from its bits stored.

    :func:`routerlab.models.knowledge.bits_stored` is ``table_bits - sum_f CE_f / ln 2``, so
    ``mean_f CE_f = (table_bits - test_bits) ln 2 / num_facts``: the same readout, as a loss."""
    return (row["table_bits"] - row["test_bits"]) * math.log(2) / num_facts


def measure_of(cfg: MoEVsDenseConfig, row: dict[str, Any]) -> float:
    """One record's value of ``cfg.measure``."""
    if cfg.measure == "fact_loss":
        return fact_loss(row, cfg.entities * len(kn.ATTRIBUTES))
    return row["test_loss"]


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
        f"Dense frontier (same tokens, each width at its tuned rate): {frontier}; MoE "
        f"{fmt_ci(MeanCI(**a['moe'][cfg.measure]))}.\n",
        f"Dense-equivalent ratio (frontier FLOPs per token at the MoE's {name} over the MoE's active FLOPs per "
        f"token): **{a['dense_equivalent_ratio']['text']}** (the frontier can show at most "
        f"{a.get('frontier_reach', float('nan')):.2f}). Step speed-up to the dense model's final validation "
        f"loss: {a['step_speedup']['text']}. MoE minus dense {name} at equal active FLOPs and tokens: "
        f"{fmt_diff(d)} {unit} ({sign_verdict(d)}); MoE minus the dense model of its total FFN parameters "
        f"({cfg.num_experts}x the FFN FLOPs): {fmt_diff(t)} {unit} ({sign_verdict(t)}).\n",
    ]
    return "\n".join(lines)


class MoEVsDenseStudy(Study):
    """:class:`Study` whose comparisons and controls read ``cfg.measure`` (test loss or fact loss)."""

    def run(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        if cfg.measure == "fact_loss":  # records carry the knowledge readout (cached apart from plain units)
            run_knowledge_variants(cfg, rundir, self.all_variants(cfg), self.name)
            return self.summarize(cfg, rundir)
        return super().run(cfg, rundir)

    def summarize(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        summary = super().summarize(cfg, rundir)  # its controls read test loss: replaced by the measure's
        groups, _ = by_variant(rundir)
        (dense, _), (wide, _), (switch, _) = cfg.control_variants()
        loss = lambda name: [measure_of(cfg, r) for r in groups[name]]  # noqa: E731
        found = {"capacity": paired_control("capacity", loss(wide), loss(dense), lower_is_better=True),
                 "switch_vs_dense": paired_control("switch_vs_dense", loss(switch), loss(dense), lower_is_better=True)}
        summary["controls"] = {k: c.to_json() for k, c in found.items()}  # the output contract's keys
        summary["measure"] = cfg.measure  # what the controls and every comparison read
        summary["verdict"] = gate(self.verdict(cfg, summary), found.values())
        return summary

    def findings(self, cfg: Any, summary: dict[str, Any]) -> str:
        return super().findings(cfg, summary).replace(
            "Positive controls (test loss, paired by seed;",
            f"Positive controls ({cfg.measure.replace('_', ' ')}, paired by seed;")


STUDY = MoEVsDenseStudy("moe_vs_dense", "MoE vs dense: dense-equivalent compute per token (S2)", MoEVsDenseConfig,
                        _variants, _analysis, _text, _verdict, headline=("dense_equivalent_ratio", "step_speedup"))
