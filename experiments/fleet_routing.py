"""Fleet routing: on the toy fleet's routing log, which routers reach the best generalist's quality, and at what fraction of its cost?

The seed's claim: a routing layer (task classification -> specialised model) over a fleet
gives equal or better quality at 10-100x lower cost, with the price list $0.03 / $0.002 /
$0.0003 per 1K tokens (large / medium / small models). Every router of
routerlab.fleet.routers (single models, random, per-task and per-query oracles, the
seed's task-classifier pipeline, kNN / MLP / MF utility routers, a cascade) on the fleet's
log (60/20/20 router splits per fleet seed, character TF-IDF features fitted on train), and
LinUCB replayed online with reward quality - lam * cost, plus a global-budget variant
(Lagrangian pacing). Reported: AIQ, savings at 95% and 100% of the reference (the generalist
with the best train quality) and of the largest generalist, with bootstrap intervals over test queries and
t-intervals over 3 fleet seeds, and the cost-cut factor 1 / (1 - savings).

Command:
    routerlab run fleet_routing --scale quick
    routerlab run fleet_routing --scale smoke

Runtime (measured 2026-11-28 on 2 CPU cores): smoke ~16 CPU s (~25 s wall); quick 54 CPU s
(~1 min wall) once the fleet is cached, plus ~540 CPU s (~9 min) to train the fleet when it is
not (see specialists_vs_generalists).

Expected result (quick, measured 2026-11-28 after the knowledge family became capacity-bound,
3 fleet seeds, 200 bootstrap resamples): the best generalist on train is gen-m on every seed
(test quality 0.489), ahead of gen-l (0.458). The seed's pipeline (task_classifier; task
accuracy 1.00 on val, so identical to the per-task oracle) reaches 0.482 and saves 0.853 of
gen-m's cost at 95% of its quality (a 6.8x cut) and 0.990 of gen-l's (a ~103x cut, the price
list's ceiling: gen-l costs ~100x the small models per query). AIQ: MF 0.540, MLP 0.538,
kNN 0.527, task classifier 0.531, cascade 0.484, random 0.479, per-query oracle 0.696. So
"equal quality at 10-100x lower cost" holds against the dearest generalist, with a cut set by
the price list; against the best generalist the cut is ~7x (the $0.002/$0.0003 price ratio).
The global-budget LinUCB (25% of the reference's cost) reaches 0.478 [0.356, 0.600] with a
violation rate of 0.004.

Feeds: paper table fleet_routing and its findings.
"""

from dataclasses import replace

from routerlab.fleet.fleet import scaled_fleet
from routerlab.studies.fleet_routing import FleetRoutingConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> FleetRoutingConfig:
    base = replace(FleetRoutingConfig(), fleet=scaled_fleet(scale))
    if scale == "smoke":
        return replace(base, n_boot=20, steps=50, bandit_rounds=200, bandit_seeds=2, lams=3, feature_dim=8,
                       real_seeds=(0,))
    if scale == "quick":
        return replace(base, n_boot=200, steps=300, bandit_rounds=2000, bandit_seeds=3, lams=9)
    if scale == "paper":
        return replace(base, n_boot=1000, steps=500, bandit_rounds=10000, bandit_seeds=5, lams=13)
    raise ValueError(f"unknown scale {scale!r}")
