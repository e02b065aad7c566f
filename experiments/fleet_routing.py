"""Fleet routing: on the toy fleet's routing log, which routers reach the best generalist's quality, and at what fraction of its cost?

The seed's claim: a routing layer (task classification -> specialised model) over a fleet
gives equal or better quality at 10-100x lower cost, with the price list $0.03 / $0.002 /
$0.0003 per 1K tokens (large / medium / small models).

Real data first: RouteLLM's MMLU and GSM8K outcomes (Mixtral-8x7B vs GPT-4, read through
routerlab.data's loaders from ../shared/data/routellm when present; MT-Bench is dropped, its
80 questions leave ~8 test questions per split), the MF router trained in distribution on
each benchmark's train split, with its operating point fixed on validation.

Then the toy fleet's routing log: every router of routerlab.fleet.routers (single models,
random, per-task and per-query oracles, the seed's task-classifier pipeline, kNN / MLP / MF
utility routers, a cascade; 60/20/20 router splits per fleet seed, character TF-IDF
features fitted on train). Deployable protocol: each router's knob (threshold or lam) is
fixed on validation as the cheapest reaching 95% of the reference's (the generalist with
the best train quality) validation quality, then paid for on test: realised cost, quality
and how often the 95% target is missed (over test bootstrap resamples and seeds), under
three cost models side by side: the seed's price list, forward FLOPs per query (parameters x
tokens) and latency measured in the run (median of 7 interleaved repeats of each
architecture's forward pass on this machine, one pass per generated token). Beside them,
labelled optimistic, the savings read off each router's test hull. LinUCB makes one pass
over the unseen test queries (cold start, lam fixed by a one-pass run on validation); the
old replay of the test log (thousands of rounds over a few hundred queries) is kept as a
separate row labelled optimistic. Chance rows: the family's majority answer and a uniform
guess, and the ceiling.

Command:
    routerlab run fleet_routing --scale quick
    routerlab run fleet_routing --scale smoke

Runtime (measured 2026-12-01 on 2 shared CPU cores at load ~5): smoke ~40 CPU s (~10 s of it the
RouteLLM lead, one split seed); quick 3:07 wall, 211 CPU s once the fleet is cached (8 fleet
seeds, 3 RouteLLM split seeds), plus 4,180 CPU s to train the 8-seed fleet when it is not (see
specialists_vs_generalists).

Expected result (quick, measured 2026-12-01 at 6c025f6, 8 fleet seeds, 200 bootstrap resamples,
fleet 93102884f721, the one shipped since): RouteLLM, MF router at the validation-fixed operating
point: MMLU saves 47.7% [33.9, 61.6] of GPT-4's cost keeping 93.8% of its quality (the 95% target
is missed on 80% of test resamples; RouteLLM published 45%), GSM8K 33.8% [4.9, 62.6] (missed on
41%; published 35%). So the seed's "90%+" fails on real data.
Toy fleet (reference gen-l; majority answer 0.215, uniform guess 0.142): the verdict is
"underpowered", because the fleet's size control fails (1 of 5 families; the S5 verdict is
judged only on a fleet that passes it). For the record: four routers beat the zero router (the
hull of the single models) with Holm-resolved ΔAIQ over the 8 seeds: mlp +0.076 [+0.056,
+0.096], mf +0.069 [+0.048, +0.090], knn +0.069 [+0.043, +0.095], task classifier +0.060 [+0.037,
+0.082] (at 3 seeds none had resolved). At their validation-fixed points the task classifier,
kNN, MLP and MF save 99.0% of gen-l's price-list cost (the list's own 100x), 97.6% of its FLOPs
and ~78-79% of its measured latency, missing the 95% target on 14% (task classifier), 31-42%
(the utility routers) of resamples; the one-pass LinUCB saves 77.9% of the price (missed on 50%);
random routing 4.5%. Latency per forward: specialists 0.140 ms, gen-s 0.114, gen-m 0.169, gen-l
0.580 ms (per-call overhead dominates the small models).

The quick fleet's logs are shipped with routerlab (routerlab/data/shipped/quick_fleet, written by
routerlab.fleet.shipped from the quick run above); experiments/fleet_routing_shipped.py routes over
them without training a fleet, and `routerlab demo` shows that run.

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
