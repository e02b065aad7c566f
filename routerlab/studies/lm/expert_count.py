"""Expert count at fixed active compute: top-1 Switch MoE with ``E`` experts (``E = 1`` is dense).

:func:`routerlab.studies.lm.curves.steps_to_reach` gives each ``E``'s step speed-up to the
dense model's final validation loss (Switch Transformer Fig. 4); test-loss differences to
dense are paired by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routerlab.config import check
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.curves import ci_or_censored, steps_to_reach
from routerlab.studies.lm.measure import measure_name
from routerlab.studies.lm.study import Study, fmt_diff, paired_measure, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["ExpertCountConfig", "STUDY"]


@dataclass(frozen=True)
class ExpertCountConfig(LMStudyConfig):
    expert_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(1 in self.expert_counts and all(e >= 1 for e in self.expert_counts), "expert_counts",
              f"must be >= 1 and include 1 (the dense model); got {self.expert_counts}")


def _variants(cfg: ExpertCountConfig) -> list[tuple[str, LMRunConfig]]:
    return [(f"E={e}", cfg.run_config(None if e == 1 else cfg.moe(num_experts=e))) for e in sorted(cfg.expert_counts)]


def _analysis(cfg: ExpertCountConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    dense = groups["E=1"]
    out: dict[str, Any] = {}
    for e in sorted(cfg.expert_counts):
        rows = groups[f"E={e}"]
        speedups, censors = [], []
        for d, r in zip(dense, rows):
            s, c = steps_to_reach(r["eval_steps"], r["val_loss"], d["final_val_loss"])
            speedups.append(d["steps"] / s)
            censors.append(-c)  # never reached (c=+1): the speed-up is at most the value
        out[f"E={e}"] = {"speedup": {"per_seed": speedups, "censor": censors, **ci_or_censored(speedups, censors)}}
        if e != 1:
            out[f"E={e}"]["minus_dense_loss"] = paired_measure(cfg, rows, dense)
    return out


def _verdict(cfg: ExpertCountConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    routed = [e for e in sorted(cfg.expert_counts) if e != 1]
    better = [e for e in routed if sign_verdict(a[f"E={e}"]["minus_dense_loss"]) == "better"]
    return (f"Top-1 MoE beats dense at equal active FLOPs (Holm-resolved) at E in {better}" if better
            else f"No expert count resolves a {measure_name(cfg)} gain over dense at equal active FLOPs.")


def _text(cfg: ExpertCountConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    lines = [f"Step speed-up to the dense model's final validation loss (dense steps / MoE steps; from the MoE's "
             f"validation curve, every {cfg.eval_every} steps; an MoE that never reaches the dense loss is censored, "
             f"its speed-up at most 1), and {measure_name(cfg)} minus dense:"]
    for e in sorted(cfg.expert_counts):
        diff = a[f"E={e}"].get("minus_dense_loss")
        extra = f"; minus dense {fmt_diff(diff)} ({sign_verdict(diff)})" if diff else ""
        lines.append(f"- E={e}: speed-up {a[f'E={e}']['speedup']['text']}{extra}")
    return "\n".join(lines) + "\n"


STUDY = Study("expert_count", "Expert count at fixed active compute (Switch, top-1)", ExpertCountConfig,
              _variants, _analysis, _text, _verdict,
              sentinels=lambda cfg: (f"E={max(cfg.expert_counts)}",))  # the most experts: least like E = 8
