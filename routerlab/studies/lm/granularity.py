"""Fine-grained and shared experts (DeepSeekMoE) at matched total and active expert parameters.

``E`` coarse experts top-1 against ``m E`` experts of width ``d_ff / m`` top-``m``, with and
without one shared expert (then ``m E - 1`` routed experts, top-``(m - 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routerlab.config import check
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import measure_name
from routerlab.studies.lm.study import Study, fmt_diff, paired_measure, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["GranularityConfig", "STUDY"]


@dataclass(frozen=True)
class GranularityConfig(LMStudyConfig):
    """``segments``: ``m``, each coarse expert split into ``m`` of width ``d_ff / m``."""

    segments: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.segments >= 2 and self.d_ff % self.segments == 0, "segments",
              f"must be >= 2 and divide d_ff ({self.d_ff}); got {self.segments}")


def _coarse(cfg: GranularityConfig) -> str:
    return f"coarse(E={cfg.num_experts},k=1)"


def _variants(cfg: GranularityConfig) -> list[tuple[str, LMRunConfig]]:
    m, e, f = cfg.segments, cfg.num_experts, cfg.d_ff
    return [
        ("dense", cfg.run_config()),
        (_coarse(cfg), cfg.run_config(cfg.moe())),
        (f"fine(E={m * e},k={m})", cfg.run_config(cfg.moe(num_experts=m * e, top_k=m, d_ff=f // m, renormalize=True))),
        (f"fine+shared(1+E={m * e - 1},k={m - 1})", cfg.run_config(cfg.moe(
            num_experts=m * e - 1, top_k=m - 1, d_ff=f // m, num_shared_experts=1, renormalize=m - 1 > 1))),
    ]


def _analysis(cfg: GranularityConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    coarse = groups[_coarse(cfg)]
    return {f"{name}_minus_coarse_loss": paired_measure(cfg, groups[name], coarse)
            for name, *_ in _variants(cfg) if name != _coarse(cfg)}


def _verdict(cfg: GranularityConfig, summary: dict[str, Any]) -> str:
    a = summary["analysis"]
    fine = [k.removesuffix("_minus_coarse_loss") for k, v in a.items()
            if k.startswith("fine") and sign_verdict(v) == "better"]
    return (f"Fine-grained experts beat the coarse MoE (Holm-resolved): {', '.join(fine)}." if fine
            else "No fine-grained variant is resolved better than the coarse MoE.")


def _text(cfg: GranularityConfig, summary: dict[str, Any]) -> str:
    lines = [f"{measure_name(cfg).capitalize()} minus the coarse top-1 MoE, paired by seed:"]
    for key, value in summary["analysis"].items():
        lines.append(f"- {key.removesuffix('_minus_coarse_loss')}: {fmt_diff(value)} ({sign_verdict(value)})")
    return "\n".join(lines) + "\n"


STUDY = Study("granularity", "Fine-grained and shared experts (DeepSeekMoE) at matched parameters",
              GranularityConfig, _variants, _analysis, _text, _verdict,
              sentinels=lambda cfg: (_variants(cfg)[-1][0],))  # fine + shared: least like the Switch control
