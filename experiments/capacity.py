"""Capacity factor: dropped tokens against quality in a causal decoder.

Top-1 MoE with E=8 experts per block, capacity factor in {0.5, 1.0, 1.25, 2.0} and dropless
(0 in the config). Capacity dispatch uses priority="sequence" (earlier tokens keep their
slots), the only capacity dispatch that is causal: priority="score" and top_k > 1 let later
tokens decide whether an earlier one is dropped, and the layer refuses them in a decoder.
Reported: dropped fraction of assignments (validation) and final validation loss, with the
paired difference to dropless.

Command:
    routerlab run capacity --scale quick
    routerlab run capacity --scale smoke

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 48 s
(143 s wall under contention); quick 129 s (372 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps:
dropping hurts. Because routing is unbalanced (MaxVio 2.3-2.9), capacity 1.0 drops 51% of
assignments (0.5: 69%, 1.25: 43%, 2.0: 26%); validation loss minus dropless is +0.15 +- 0.07
(cf=0.5), +0.13 +- 0.08 (1.0), +0.12 +- 0.11 (1.25), +0.07 +- 0.11 (2.0). A dropped token
skips its FFN (residual only).

Feeds: paper Table (tab:capacity) and Figure capacity.pdf.
"""

from routerlab.studies.lm import STUDIES, CapacityConfig, at_scale
from routerlab.studies.lm.config import in_knowledge_regime

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["capacity"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


def get_config(scale: str) -> CapacityConfig:
    if scale == "quick":  # the calibrated knowledge regime (moe_vs_dense's), rates transferred from the controls
        return in_knowledge_regime(CapacityConfig(), lr_policy="transfer")
    return at_scale(CapacityConfig(), scale)
