"""Routers in a bidirectional encoder on masked bytes: dense, Switch, top-2, expert choice, Soft MoE, BASE.

The same toy model made bidirectional (``LMConfig.causal=False``) and trained on masked bytes
(:mod:`routerlab.train.objective`). Its losses are masked-byte cross-entropies, not comparable
with the decoder studies' next-byte losses; its controls are computed in the same encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from routerlab.config import check
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.routers import SWITCH, minus_switch, switch_verdict
from routerlab.studies.lm.study import Study, fmt_diff
from routerlab.train.config import LMRunConfig, TrainConfig

__all__ = ["EncoderRoutersConfig", "STUDY"]


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

    def train_config(self, steps: int | None = None, lr: float | None = None) -> TrainConfig:
        return replace(super().train_config(steps, lr), objective="masked", mask_rate=self.mask_rate)


def _variants(cfg: EncoderRoutersConfig) -> list[tuple[str, LMRunConfig]]:
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


def _analysis(cfg: EncoderRoutersConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    return minus_switch(cfg, [v[0] for v in _variants(cfg)], groups)


def _text(cfg: EncoderRoutersConfig, summary: dict[str, Any]) -> str:
    lines = ["Test loss (masked-byte cross-entropy, nats per masked byte) minus Switch (top-1), paired by seed:"]
    sentence, verdicts = switch_verdict(summary)
    for key, value in summary["analysis"].items():
        lines.append(f"- {key.removesuffix('_minus_switch_loss')}: {fmt_diff(value)} "
                     f"({verdicts[key.removesuffix('_minus_switch_loss')]})")
    means = {name: summary["variants"][name]["test_loss"]["mean"] for name, *_ in _variants(cfg)
             if name in summary["variants"]}
    best = min(means, key=means.get)
    if best == SWITCH:
        lead = "Switch (top-1) itself has the lowest mean test loss"
    elif verdicts.get(best) == "better":
        lead = f"{best} has the lowest mean test loss, a resolved gain over Switch (Holm-adjusted paired t)"
    else:
        lead = (f"{best} has the lowest mean test loss, but its gain over Switch is not resolved "
                "(Holm-adjusted paired t)")
    lines.append(f"\n{lead}. {sentence}")
    if verdicts.get("sinkhorn(BASE)") == "worse":
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


STUDY = Study("encoder_routers", "Routers in a bidirectional encoder on masked bytes", EncoderRoutersConfig,
              _variants, _analysis, _text, lambda cfg, s: switch_verdict(s)[0],
              # balanced assignment over the batch, no balance loss: least like Switch (its default, the
              # first arm `dense`, is control:dense's config and could not check anything)
              sentinels=lambda cfg: ("sinkhorn(BASE)",))

