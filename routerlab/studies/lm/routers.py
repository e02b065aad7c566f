"""Routers in the causal decoder: Switch top-1, top-2, hash and REINFORCE-trained RL-R.

The token-mixing routers (expert choice, Soft MoE, Sinkhorn/BASE) are refused by a causal
decoder and compared in :mod:`routerlab.studies.lm.encoder_routers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routerlab.config import check
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import measure_name
from routerlab.studies.lm.study import Study, fmt_diff, paired_measure, sign_verdict

__all__ = ["RoutersConfig", "STUDY", "SWITCH", "minus_switch", "switch_verdict"]

SWITCH = "switch(top-1)"


@dataclass(frozen=True)
class RoutersConfig(LMStudyConfig):
    """``pg_weight``: weight of RL-R's policy-gradient loss (:mod:`routerlab.moe.reinforce`).

    ``extra_routers``: names of routers registered with :func:`routerlab.moe.register_router`
    to add as arms (``router:<name>``): each a top-1 MoE like Switch's (same experts, widths,
    auxiliary losses) with that router, compared with Switch like the built-in arms. The
    router must be registered in the process that runs (and resumes) the study, and a router
    that mixes tokens is refused by the causal decoder (before any run directory exists).
    """

    pg_weight: float = 0.1
    extra_routers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.pg_weight > 0, "pg_weight", f"must be > 0; got {self.pg_weight}")
        from routerlab.moe.registry import router_names

        for name in self.extra_routers:
            check(name in router_names(), "extra_routers", f"{name!r} is not a registered router (registered: "
                  f"{', '.join(router_names())}; see routerlab.moe.register_router)")
        check(len(set(self.extra_routers)) == len(self.extra_routers), "extra_routers", "must not repeat a router")


def _variants(cfg: RoutersConfig) -> list[tuple]:
    return [
        ("dense", cfg.run_config()),
        (SWITCH, cfg.run_config(cfg.moe())),
        ("top-2", cfg.run_config(cfg.moe(top_k=2, renormalize=True))),
        ("hash", cfg.run_config(cfg.moe(router="hash", load_balance_weight=0.0, z_loss_weight=0.0))),
        ("rl-r", cfg.run_config(cfg.moe()), cfg.pg_weight),
        *((f"router:{name}", cfg.run_config(cfg.moe(router=name))) for name in cfg.extra_routers),
    ]


def minus_switch(cfg: Any, names: list[str], groups: dict[str, list[dict]]) -> dict[str, Any]:
    """Each variant's ``cfg.measure`` minus Switch (top-1)'s, paired by seed (routers and encoder_routers)."""
    return {f"{name}_minus_switch_loss": paired_measure(cfg, groups[name], groups[SWITCH])
            for name in names if name != SWITCH}


def switch_verdict(summary: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """``(one sentence, {variant: better/worse/not resolved})`` against Switch, from the analysis."""
    verdicts = {k.removesuffix("_minus_switch_loss"): sign_verdict(v) for k, v in summary["analysis"].items()}
    better = [n for n, v in verdicts.items() if v == "better"]
    worse = [n for n, v in verdicts.items() if v == "worse"]
    return (f"Resolved better than Switch (Holm): {', '.join(better) or 'none'}; resolved worse: "
            f"{', '.join(worse) or 'none'}."), verdicts


def _analysis(cfg: RoutersConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    return minus_switch(cfg, [v[0] for v in _variants(cfg)], groups)


def _text(cfg: RoutersConfig, summary: dict[str, Any]) -> str:
    lines = [f"{measure_name(cfg).capitalize()} minus Switch (top-1), paired by seed:"]
    for key, value in summary["analysis"].items():
        lines.append(f"- {key.removesuffix('_minus_switch_loss')}: {fmt_diff(value)} ({sign_verdict(value)})")
    lines.append("\nExpert choice, Soft MoE and Sinkhorn/BASE are not in this table: each lets a token's "
                 "routing depend on later tokens, so the causal decoder refuses them (routerlab.moe.causal_leak). "
                 "They are compared in a bidirectional encoder on masked bytes (encoder_routers).")
    return "\n".join(lines) + "\n"


STUDY = Study("routers", "Routers in the causal decoder: top-k, hash, REINFORCE (RL-R)", RoutersConfig,
              _variants, _analysis, _text, lambda cfg, s: switch_verdict(s)[0],
              # hash: no learned routing, no balance losses; rl-r: its router learns only by policy gradient.
              # The two arms least like Switch in how they train.
              sentinels=lambda cfg: ("rl-r",))  # a policy-gradient-trained router: least like the Switch control
