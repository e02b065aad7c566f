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

Runtime (CPU seconds, measured on the shared 2-core machine): smoke 48 s (143 s wall under
contention); quick 129 s (372 s wall under contention); paper not yet run.

Expected result (quick, measured): 2026-11-28, 3 seeds, 300 steps: dropping hurts. Because
routing is unbalanced (MaxVio 2.3-2.9), capacity 1.0 drops 51% of assignments (0.5: 69%,
1.25: 43%, 2.0: 26%); validation loss minus dropless is +0.15 +- 0.07 (cf=0.5), +0.13 +-
0.08 (1.0), +0.12 +- 0.11 (1.25), +0.07 +- 0.11 (2.0). A dropped token skips its FFN
(residual only).

Feeds: paper Table (tab:capacity) and Figure capacity.pdf.
"""

from routerlab.studies.lm_moe import STUDIES, CapacityConfig, at_scale

SCALES = ("smoke", "quick", "paper")
_study = STUDIES["capacity"]
run, report, paper = _study.run, _study.report, _study.paper


def get_config(scale: str) -> CapacityConfig:
    return at_scale(CapacityConfig(), scale, smoke=dict(capacity_factors=(1.0, 0.0)))
