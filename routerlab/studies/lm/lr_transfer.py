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
     4x. The rule does not see ``d_model``; under standard parametrisation the best rate moves
     with width, so scaling_fit (whose arms change ``d_model``) refuses ``transfer``, as the
     knowledge study (whose arms are the controls') does;

   except two kinds of arm, which are tuned at every rate:

   * an arm whose run config (and RL-R weight) is a control arm's: its units are the control's,
     shared through the runner, so tuning it costs nothing (``tuned (same config as ...)``);
   * the study's **sentinels** (:attr:`routerlab.studies.lm.study.Study.sentinels`, default
     its first arm): arms chosen to be unlike the controls, tuned on validation as under
     ``per_arm``, so that the summary can say whether their chosen rate equals the one they
     would have been given. A sentinel that disagrees means the transfer is not supported
     here: the arms trained at a transferred rate may sit off their optimum, and their
     comparisons are to be distrusted (the verdict says so).

A declared sentinel whose run config is a control's is no check (its records ARE the
control's, so it always agrees): it is tuned, but not counted. A study with transferred arms
and no sentinel left refuses the config (:meth:`~routerlab.studies.lm.study.Study.check`), as
does ``transfer`` with fewer than two rates (every sentinel would agree trivially); a run
whose summary holds no check says "learning-rate transfer not checked".

What agreement does NOT show: a sentinel's agreement is one arm's point choice on a grid of a
few rates (no uncertainty attached), and says nothing certain about the other transferred
arms. And the comparison is tilted: tuned arms (controls, sentinels, arms equal to a control)
get the best of the grid on a validation loss that correlates with the test measure, while
transferred arms do not, so a transferred arm's deficit may be partly that selection.

Units keep their names (``<variant>/lr<rate>/seed<s>``), so resume and the unit cache work
as under ``per_arm``. An arm trained at one rate has that rate as its chosen one; its
``at_grid_edge`` is its source control's (the study's summary copies it), so an arm whose
control chose an end of the grid is flagged with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["transfer_source", "plan", "checking_sentinels", "transferred_arms", "transfer_summary",
           "transfer_held", "transfer_note", "LIMITS"]


def transfer_source(cfg: Any, run_cfg: Any) -> str:
    """The control arm whose chosen rate an arm of config ``run_cfg`` takes (the rule in the module docstring)."""
    (dense, _), (wide, _), (switch, _) = cfg.control_variants()
    if run_cfg.model.ffn == "moe":
        return switch
    widths = [(cfg.d_ff, dense), (cfg.capacity_mult * cfg.d_ff, wide)]
    return min(widths, key=lambda w: (abs(math.log(run_cfg.model.d_ff / w[0])), w[0]))[1]


def plan(cfg: Any, arms: Sequence[tuple], sentinels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per study arm: ``{"control": the control it would transfer from, "tuned": bool, "sentinel":
    bool, "source": text}``. ``sentinel`` (the arm is a check of the transfer) is False for a
    declared sentinel whose run config is a control's: its records are the control's."""
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
        out[name] = {"control": control, "tuned": same is not None or name in sentinels,
                     "sentinel": same is None and name in sentinels, "source": source}
    return out


def checking_sentinels(the_plan: dict[str, dict[str, Any]]) -> list[str]:
    """The arms of :func:`plan` that check the transfer (sentinels whose config is no control's)."""
    return [n for n, p in the_plan.items() if p["sentinel"]]


def transferred_arms(the_plan: dict[str, dict[str, Any]]) -> list[str]:
    """The arms of :func:`plan` trained at one transferred rate."""
    return [n for n, p in the_plan.items() if not p["tuned"]]


def transfer_summary(the_plan: dict[str, dict[str, Any]], tuning: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"policy", "source": {arm: text}, "sentinels": {arm: {"chosen", "transferred", "agrees"}}}``,
    one check per :func:`checking_sentinels` arm that was trained along with its control."""
    checks = {}
    for name in checking_sentinels(the_plan):
        if name in tuning and the_plan[name]["control"] in tuning:
            chosen, given = tuning[name]["lr"], tuning[the_plan[name]["control"]]["lr"]
            checks[name] = {"chosen": chosen, "transferred": given, "agrees": chosen == given}
    return {"policy": "transfer", "source": {n: p["source"] for n, p in the_plan.items()}, "sentinels": checks}


def transfer_held(lr_transfer: dict[str, Any]) -> bool:
    """At least one sentinel checked the transfer, and every one agreed."""
    checks = lr_transfer["sentinels"]
    return bool(checks) and all(c["agrees"] for c in checks.values())


LIMITS = ("Agreement is each sentinel's point choice on a grid of a few rates, with no uncertainty, and says "
          "nothing certain about the other transferred arms; tuned arms (controls, sentinels, arms equal to a "
          "control) get the best of the grid on a validation loss that correlates with the measure and "
          "transferred arms do not, which tilts comparisons against the transferred arms.")


def transfer_note(lr_transfer: dict[str, Any]) -> str:
    """Sentences on the sentinels: the transfer held, was not checked, or where it did not and what to
    distrust; then what agreement does not show (:data:`LIMITS`)."""
    checks = lr_transfer["sentinels"]
    off = {n: c for n, c in checks.items() if not c["agrees"]}
    transferred = [n for n, s in lr_transfer["source"].items() if s.startswith("transferred")]
    if not checks:
        return (f"Learning rates transferred from the controls to {len(transferred)} arm(s) "
                f"({', '.join(transferred) or 'none'}); learning-rate transfer not checked: no sentinel arm unlike "
                "the controls was tuned. " + LIMITS)
    if not off:
        return (f"Learning rates transferred from the controls to {len(transferred)} arm(s); every sentinel "
                f"({', '.join(checks)}) chose on validation the rate it would have been given. " + LIMITS)
    what = "; ".join(f"{n} chose {c['chosen']:g}, would have been given {c['transferred']:g}" for n, c in off.items())
    return (f"Learning-rate transfer NOT supported: {what}. The arms trained only at a transferred rate "
            f"({', '.join(transferred) or 'none'}) may sit off their optimum: distrust their comparisons, or rerun "
            "with lr_policy=per_arm. " + LIMITS)
