"""Load balancing: the Switch load-balance weight ``alpha``, z-loss on/off, DeepSeek-V3's loss-free bias.

Reported: MaxVio, dead experts and the declared measure (``cfg.measure``: test loss by default);
alpha = 0 against alpha = 0.01 paired by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routerlab.config import check
from routerlab.report import MeanCI, fmt_ci
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import measure_name
from routerlab.studies.lm.study import Study, ci, fmt_diff, paired_measure, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["BalancingConfig", "STUDY"]


@dataclass(frozen=True)
class BalancingConfig(LMStudyConfig):
    alphas: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    bias_rate: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        check(all(a >= 0 for a in self.alphas) and 1e-2 in self.alphas, "alphas",
              f"must be >= 0 and include 0.01 (the z-loss-off comparison); got {self.alphas}")


def _variants(cfg: BalancingConfig) -> list[tuple[str, LMRunConfig]]:
    out = [(f"alpha={a:g}", cfg.run_config(cfg.moe(load_balance_weight=a))) for a in cfg.alphas]
    out.append(("alpha=0.01,no_z", cfg.run_config(cfg.moe(load_balance_weight=1e-2, z_loss_weight=0.0))))
    out.append((f"loss_free(gamma={cfg.bias_rate:g})", cfg.run_config(cfg.moe(
        router="deepseek", load_balance_weight=0.0, z_loss_weight=0.0, bias_update_rate=cfg.bias_rate))))
    return out


def _analysis(cfg: BalancingConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    zero = groups.get("alpha=0")
    ref = groups["alpha=0.01"]
    out: dict[str, Any] = {}
    if zero is not None:
        out["maxvio_alpha0_minus_alpha0.01"] = ci([a["routing"]["max_vio"] - b["routing"]["max_vio"]
                                                   for a, b in zip(zero, ref)])
        out["dead_alpha0"] = ci([a["routing"]["dead"] for a in zero])
        out["loss_alpha0_minus_alpha0.01"] = paired_measure(cfg, zero, ref)
    out["loss_no_z_minus_z"] = paired_measure(cfg, groups["alpha=0.01,no_z"], ref)
    return out


def _collapsed(cfg: BalancingConfig, a: dict[str, Any]) -> bool:
    return "dead_alpha0" in a and a["dead_alpha0"]["n"] >= 2 and a["dead_alpha0"]["lo"] >= cfg.num_experts / 2


def _verdict(cfg: BalancingConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    if "dead_alpha0" not in a:
        return "alpha = 0 not in the sweep: collapse not tested."
    return (f"Expert collapse without a balance loss (half or more experts dead, lower 95% bound) "
            f"{'is seen' if _collapsed(cfg, a) else 'is not seen'}.")


def _text(cfg: BalancingConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    lines = [f"- no z-loss minus z-loss (alpha=0.01), {measure_name(cfg)}: {fmt_diff(a['loss_no_z_minus_z'])} "
             f"({sign_verdict(a['loss_no_z_minus_z'])})"]
    if "dead_alpha0" in a:
        vio, dead = MeanCI(**a["maxvio_alpha0_minus_alpha0.01"]), MeanCI(**a["dead_alpha0"])
        lines.insert(0, f"Without a balance loss (alpha=0) MaxVio is {fmt_ci(vio)} higher than at alpha=0.01 and "
                        f"{fmt_ci(dead, 2)} of {cfg.num_experts} experts per layer receive no validation tokens in a "
                        f"batch; {measure_name(cfg)} alpha=0 minus alpha=0.01: {fmt_diff(a['loss_alpha0_minus_alpha0.01'])}.")
    return "\n".join(lines) + "\n"


STUDY = Study("balancing", "Load balancing: aux-loss weight, z-loss, loss-free bias", BalancingConfig,
              _variants, _analysis, _text, _verdict,
              # the loss-free bias router (no auxiliary loss at all) and the largest balance weight
              sentinels=lambda cfg: (f"loss_free(gamma={cfg.bias_rate:g})",))  # no balance loss: least like the control
