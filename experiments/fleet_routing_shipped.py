"""Fleet routing on the shipped quick-fleet log: the demo's across-model headline, without training a fleet.

The routers of fleet_routing (single models, random, oracles, the seed's task-classifier
pipeline, kNN / MLP / MF utility routers, a cascade, and LinUCB making one pass over unseen
queries) are trained and evaluated here, on the routing logs of the quick fleet shipped with
routerlab (routerlab/data/shipped/quick_fleet: 3 fleet seeds, ~100 KB of Parquet, every file's
sha256 checked on load; routerlab.fleet.shipped says how it was made and how to regenerate it).
The fleet itself is not trained (that takes ~21 CPU-minutes): its log, latency and chance rows
come from the quick run that made it. No RouteLLM lead (real_datasets is empty) and no replayed
bandit (bandit_rounds = 0): fleet_routing --scale quick has both.

The report leads with the log's provenance and the fleet's size control, which is
`underpowered` (0/5 families resolve gen-l > gen-m > gen-s at 3 seeds, in the recorded
specialists_vs_generalists quick run), then which routers beat the zero router (ΔAIQ
t-interval over fleet seeds above 0) and which keep 95% of the best generalist's quality at a
lower cost at the operating point fixed on validation.

Command:
    routerlab run fleet_routing_shipped --scale quick     (what `routerlab demo` runs)
    routerlab run fleet_routing_shipped --scale smoke     (fewer steps and resamples: plumbing)

Runtime (measured 2026-11-30 on the 2 CPU cores while ~5 other jobs shared them, load ~11):
quick 34 CPU s (2 min 20 s wall at a 24% share of the machine), smoke 31 CPU s (2 min 25 s wall);
no fleet training. Most of it is compiling: the MLP/MF predictors once per fleet seed, and the
one-pass LinUCB (every cost model, validation and test in one compiled call per fleet seed).

Expected result (quick, measured 2026-11-30): the toy-fleet rows of the recorded fleet_routing
--scale quick run, since the logs and router seeds are the same: task classifier, kNN, MLP and
MF save 99.0% of gen-l's price-list cost (97.6% of its FLOPs, ~73% of its latency) at their
validation-fixed points while missing the 95% target on 33-54% of test resamples; the one-pass
LinUCB saves 82.4% (missed on 40%). No router beats the zero router: the best ΔAIQ, MF's
+0.084, has a t-interval over the 3 fleet seeds of [-0.012, +0.180]; and no router's
quality-kept interval clears 95% of gen-l's. The size control is underpowered, so gen-l is
this fleet's best generalist, not a model shown to be well trained for its size.

Feeds: `routerlab demo` (its fleet section); no paper table (fleet_routing's is the quick run's).
"""

from dataclasses import replace

from routerlab.studies.fleet_routing import FleetRoutingConfig, report, run  # noqa: F401

SCALES = ("smoke", "quick")


def get_config(scale: str) -> FleetRoutingConfig:
    base = replace(FleetRoutingConfig(), fleet_log="shipped:quick", real_datasets=(), bandit_rounds=0)
    if scale == "smoke":
        return replace(base, n_boot=20, steps=50, lams=3, feature_dim=8, one_pass_orders=2)
    if scale == "quick":
        return replace(base, n_boot=200, steps=300, lams=9)
    raise ValueError(f"unknown scale {scale!r}")
