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

Runtime (measured 2026-11-30 on 2 CPU cores shared with three other jobs): smoke ~40 CPU s
(~10 s of it the RouteLLM lead, one split seed); quick ~6 min wall once the fleet is cached
(3 fleet seeds, 3 RouteLLM split seeds), plus 1,258 CPU s to train the fleet when it is not
(see specialists_vs_generalists).

Expected result (quick, measured 2026-11-30, 3 fleet seeds, 200 bootstrap resamples, on the
fleet acb9c643093b that the code before 20a2132 built, the one shipped; today's code
builds a slightly different quick fleet, see routerlab.fleet.fleet.FLEET_KEY_SALT):
RouteLLM, MF router at the validation-fixed operating point: MMLU saves 47.7% [33.9, 61.6]
of GPT-4's cost keeping 93.8% of its quality (the 95% target is missed on 80% of test
resamples; 45.5% read off the test hull; RouteLLM published 45%), GSM8K 33.8% [4.9, 62.6]
(missed on 41%; published 35%). So the seed's "90%+" fails on real data.
Toy fleet (reference gen-l, test quality 0.708; gen-m 0.661, gen-s 0.601; majority answer
0.186, uniform guess 0.126): the seed's pipeline (task_classifier) at its validation-fixed
point saves 99.0% of gen-l's cost under the price list (a 100x cut: the price list's own
ratio), 97.6% under FLOPs (42x) and 73.3% [72.1, 74.5] under measured latency (3.7x: gen-l's
forward pass takes 0.56 ms, a specialist's 0.15 ms, both dominated by per-call overhead),
keeping 1.02 of gen-l's quality on average but missing the 95% target on 33% of resamples.
MF: 99.0% / 97.6% / 73.2%, missed on 41%. One-pass LinUCB: 82.4% [45.0, 100] of the price,
missed on 40%. Random routing at its validation-fixed point saves 3.8% (hull 6.7%). AIQ:
MF 0.765, task classifier 0.750, kNN 0.746, random 0.427, per-query oracle 0.877. So under
the price list the 10-100x holds at the ceiling the list sets, under FLOPs ~40x, and under
latency on this machine only ~4x; and a deployed router misses the 95% target a third of
the time or more.

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
