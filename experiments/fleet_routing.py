"""Fleet routing: on the toy fleet's routing log, which routers reach the best generalist's quality, and at what fraction of its cost?

The seed's claim: a routing layer (task classification -> specialised model) over a fleet
gives equal or better quality at 10-100x lower cost, with the price list $0.03 / $0.002 /
$0.0003 per 1K tokens (large / medium / small models). Every router of
routerlab.fleet.routers (single models, random, per-task and per-query oracles, the
seed's task-classifier pipeline, kNN / MLP / MF utility routers, a cascade) on the fleet's
log (60/20/20 router splits per fleet seed, character TF-IDF features fitted on train), and
LinUCB replayed online with reward quality - lam * cost, plus a global-budget variant
(Lagrangian pacing). Reported: AIQ, savings at 95% and 100% of the reference (best train
quality: the largest generalist) with bootstrap intervals over test queries and
t-intervals over 3 fleet seeds, and the cost-cut factor 1 / (1 - savings).

Command:
    routerlab run fleet_routing --scale quick
    routerlab run fleet_routing --scale smoke

Runtime (measured 2026-11-28, 2 CPU cores shared with other jobs): smoke ~16 CPU s (~1 min
wall); quick 33-57 CPU s (1-2 min wall) once the fleet is cached, plus ~480 CPU s to train the
fleet when it is not (see specialists_vs_generalists).

Expected result (quick, measured 2026-11-28, 3 fleet seeds, 200 bootstrap resamples):
test quality (mean exact match over the five families): gen-l 0.570, gen-m 0.559, gen-s
0.530; the seed's pipeline (task_classifier; task accuracy 1.00 on val) 0.579 at 1/100 of
gen-l's cost, identical to the per-task oracle; per-query oracle 0.642. AIQ: task
classifier 0.614, MLP 0.611, MF 0.616, kNN 0.607, cascade 0.588, random 0.494, oracle 0.732.
Against the largest generalist (gen-l, $0.03/1K) every learned router, and the task
classifier, reaches 95% and 100% of its quality at ~1% of its cost (savings 0.99, a
~100x cut; bootstrap 59x-102x for the task classifier at 95%); LinUCB online ~75x. That
~100x is the price list's ceiling (gen-l costs ~109x the cheapest model per query): the
routers send nearly everything to the $0.0003 models, and the small models together
already match gen-l's low quality. Against the *best* generalist on train, which is gen-m
on some seeds (gen-m and gen-l are tied in quality), the cut is only ~7x-10x (the
$0.002/$0.0003 price ratio). So "equal quality at 10-100x lower cost" holds here against
the dearest generalist, with a cut set by the price list, not by the routers; gen-s alone
reaches 93% of gen-l's quality at the same ~1% cost. The global-budget LinUCB (25% of the
reference's cost) reaches 0.590 [0.567, 0.614] with no budget violation.

Feeds: paper table fleet_routing.
"""

from dataclasses import replace

from routerlab.fleet.fleet import scaled_fleet
from routerlab.studies.fleet_routing import FleetRoutingConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> FleetRoutingConfig:
    base = replace(FleetRoutingConfig(), fleet=scaled_fleet(scale))
    if scale == "smoke":
        return replace(base, n_boot=20, steps=50, bandit_rounds=200, bandit_seeds=2, lams=3, feature_dim=8)
    if scale == "quick":
        return replace(base, n_boot=200, steps=300, bandit_rounds=2000, bandit_seeds=3, lams=9)
    if scale == "paper":
        return replace(base, n_boot=1000, steps=500, bandit_rounds=10000, bandit_seeds=5, lams=13)
    raise ValueError(f"unknown scale {scale!r}")
