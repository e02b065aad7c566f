"""Capacity factor: dropped tokens against quality (top-1, ``priority="sequence"``, causal), and dropless."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routerlab.config import check
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import measure_name, measure_unit
from routerlab.studies.lm.study import Study, fmt_diff, paired_measure, sign_verdict
from routerlab.train.config import LMRunConfig

__all__ = ["CapacityConfig", "STUDY"]


@dataclass(frozen=True)
class CapacityConfig(LMStudyConfig):
    """``capacity_factors``: each a number, or ``0`` for dropless."""

    capacity_factors: tuple[float, ...] = (0.5, 1.0, 1.25, 2.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(all(c >= 0 for c in self.capacity_factors), "capacity_factors", "must be > 0, or 0 for dropless")


def _variants(cfg: CapacityConfig) -> list[tuple[str, LMRunConfig]]:
    return [("dropless" if c == 0 else f"cf={c:g}",
             cfg.run_config(cfg.moe(capacity_factor=None if c == 0 else c, priority="sequence")))
            for c in cfg.capacity_factors]


def _analysis(cfg: CapacityConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    if "dropless" not in groups:
        return {}
    return {f"{name}_minus_dropless_loss": paired_measure(cfg, groups[name], groups["dropless"])
            for name, *_ in _variants(cfg) if name != "dropless"}


def _verdict(cfg: CapacityConfig, summary: dict[str, Any]) -> str:
    worse = [k.removesuffix("_minus_dropless_loss") for k, v in summary["analysis"].items()
             if sign_verdict(v) == "worse"]
    return (f"Dropping tokens costs {measure_name(cfg)} (Holm-resolved) at {', '.join(worse)}." if worse
            else "No capacity factor is resolved worse than dropless.")


def _text(cfg: CapacityConfig, summary: dict[str, Any]) -> str:
    lines = [f"{measure_name(cfg).capitalize()} minus dropless ({measure_unit(cfg)}), paired by seed (dropped fraction "
             "in the table):"]
    for key, value in summary["analysis"].items():
        lines.append(f"- {key.removesuffix('_minus_dropless_loss')}: {fmt_diff(value)} ({sign_verdict(value)})")
    return "\n".join(lines) + "\n"


def _sentinels(cfg: CapacityConfig) -> tuple[str, ...]:
    """The smallest capacity factor: the most tokens dropped, the arm least like the dropless Switch control."""
    drops = sorted(c for c in cfg.capacity_factors if c > 0)
    return (f"cf={drops[0]:g}",) if drops else ()


STUDY = Study("capacity", "Capacity factor: dropped tokens against quality", CapacityConfig,
              _variants, _analysis, _text, _verdict, sentinels=_sentinels)
