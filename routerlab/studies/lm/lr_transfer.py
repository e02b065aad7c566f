"""Learning-rate transfer from the control arms, with sentinel arms that check it (``lr_policy="transfer"``).

Tuning every arm of every study at every rate (``lr_policy="per_arm"``, the default) costs
``arms x rates`` trained units. Under ``transfer`` a study trains in two phases:

1. the three positive-control arms (dense, dense ``capacity_mult x`` wider, Switch top-1 with
   ``control_experts`` experts) at every rate of ``lr_grid``, each rate chosen on validation
   (:func:`routerlab.studies.lm.runner.choose_lr`);
2. every study arm at ONE rate, transferred from a control (:func:`transfer_source`):

   * an MoE arm (any router, expert count, top-k, capacity factor or granularity) takes the
     rate chosen for the Switch control;
   * a dense arm takes the rate of the dense control nearest to it in FFN width ``d_ff`` on a
     log scale (1x or ``capacity_mult x``; a tie, e.g. 2x between 1x and 4x, goes to the
     narrower). moe_vs_dense's frontier widths 2x and 8x are transferred this way, from 1x and
     4x; scaling_fit's dense arms, which also change ``d_model``, by their ``d_ff`` alike;

   except two kinds of arm, which are tuned at every rate:

   * an arm whose run config (and RL-R weight) is a control arm's: its units are the control's,
     shared through the runner, so tuning it costs nothing (``tuned (same config as ...)``);
   * the study's **sentinels** (:attr:`routerlab.studies.lm.study.Study.sentinels`, default
     its first arm): arms chosen to be unlike the controls, tuned on validation as under
     ``per_arm``, so that the summary can say whether their chosen rate equals the one they
     would have been given. A sentinel that disagrees means the transfer is not supported
     here: the arms trained at a transferred rate may sit off their optimum, and their
     comparisons are to be distrusted (the verdict says so).

Units keep their names (``<variant>/lr<rate>/seed<s>``), so resume and the unit cache work
as under ``per_arm``; an arm trained at one rate has that rate as its chosen one (never at the
grid's edge).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["transfer_source", "plan", "transfer_summary", "transfer_note"]


def transfer_source(cfg: Any, run_cfg: Any) -> str:
    """The control arm whose chosen rate an arm of config ``run_cfg`` takes (the rule in the module docstring)."""
    (dense, _), (wide, _), (switch, _) = cfg.control_variants()
    if run_cfg.model.ffn == "moe":
        return switch
    widths = [(cfg.d_ff, dense), (cfg.capacity_mult * cfg.d_ff, wide)]
    return min(widths, key=lambda w: (abs(math.log(run_cfg.model.d_ff / w[0])), w[0]))[1]


def plan(cfg: Any, arms: Sequence[tuple], sentinels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per study arm: ``{"control": the control it would transfer from, "tuned": bool, "source": text}``."""
    from routerlab.config import canonical_json

    controls = {(canonical_json(run_cfg), None): name for name, run_cfg in cfg.control_variants()}
    out = {}
    for name, run_cfg, *rest in arms:
        control = transfer_source(cfg, run_cfg)
        same = controls.get((canonical_json(run_cfg), rest[0] if rest else None))
        if same is not None:
            source = f"tuned (same config as {same})"
        elif name in sentinels:
            source = f"tuned (sentinel; would be transferred from {control})"
        else:
            source = f"transferred from {control}"
        out[name] = {"control": control, "tuned": same is not None or name in sentinels, "source": source}
    return out


def transfer_summary(the_plan: dict[str, dict[str, Any]], tuning: dict[str, dict[str, Any]],
                     sentinels: Sequence[str]) -> dict[str, Any]:
    """``{"policy", "source": {arm: text}, "sentinels": {arm: {"chosen", "transferred", "agrees"}}}``."""
    checks = {}
    for name in sentinels:
        if name in the_plan and name in tuning and the_plan[name]["control"] in tuning:
            chosen, given = tuning[name]["lr"], tuning[the_plan[name]["control"]]["lr"]
            checks[name] = {"chosen": chosen, "transferred": given, "agrees": chosen == given}
    return {"policy": "transfer", "source": {n: p["source"] for n, p in the_plan.items()}, "sentinels": checks}


def transfer_note(lr_transfer: dict[str, Any]) -> str:
    """One sentence on the sentinels: the transfer held, or where it did not and what to distrust."""
    checks = lr_transfer["sentinels"]
    off = {n: c for n, c in checks.items() if not c["agrees"]}
    transferred = [n for n, s in lr_transfer["source"].items() if s.startswith("transferred")]
    if not off:
        return (f"Learning rates transferred from the controls to {len(transferred)} arm(s); every sentinel "
                f"({', '.join(checks) or 'none'}) chose on validation the rate it would have been given.")
    what = "; ".join(f"{n} chose {c['chosen']:g}, would have been given {c['transferred']:g}" for n, c in off.items())
    return (f"Learning-rate transfer NOT supported: {what}. The arms trained only at a transferred rate "
            f"({', '.join(transferred) or 'none'}) may sit off their optimum: distrust their comparisons, or rerun "
            "with lr_policy=per_arm.")
