"""Lambda sweep: the online bandit's cost-quality Pareto curve over the cost penalty, in one compiled vmap.

LinUCB replayed on each fleet seed's test queries (routerlab.fleet.fleet's routing log,
cost from the seed's price list) with reward quality - lam * cost, for a log-spaced grid of
lam (scaled by the cost gap between the dearest and cheapest model) plus lam = 0, times
several bandit seeds: one routerlab.bandits.simulate call (lax.scan over rounds, vmap over
seeds x lams) per fleet seed. Beside it, the per-query oracle under the same penalty and
every single model. Reported: the curve (mean +- 95% t-interval over fleet seeds) and its AIQ.

Command:
    routerlab run lambda_sweep --scale quick
    routerlab run lambda_sweep --scale smoke

Runtime (measured 2026-11-28 on 2 CPU cores): smoke ~10 CPU s; quick ~60 CPU s (~1 min
wall), the fleet reused when cached (else ~540 CPU s to train it).

Not a deployable router: the replay draws the test log's few hundred queries thousands of
times, so LinUCB can memorise them; fleet_routing reports the one-pass LinUCB with lam fixed
on validation. At smoke scale the report opens with a plumbing-check line.

Expected result (quick, measured 2026-12-01 on the 8-seed quick fleet 93102884f721, 96 CPU s,
1:14 wall at load ~5): LinUCB replayed online over 24 cost penalties reaches quality 0.691 +-
0.028 at $0.153 +- 0.037 per 1k queries at lam = 0 and walks down to 0.643 +- 0.024 at $0.0047
per 1k queries at lam = 20 (the small models' price): ~0.05 of quality over a ~33x range of cost.
The fleet's size control fails (specialists_vs_generalists), so read this as a curve over this
fleet, not over well-trained sizes. Superseded: the 2026-11-28 fleet (1,500 steps, one shared
rate): 0.532 +- 0.089 at $0.106 down to 0.495 +- 0.125 at $0.0045.

Feeds: paper figure lambda_sweep and its findings.
"""

from dataclasses import replace

from routerlab.fleet.fleet import scaled_fleet
from routerlab.studies.lambda_sweep import LambdaSweepConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> LambdaSweepConfig:
    base = replace(LambdaSweepConfig(), fleet=scaled_fleet(scale))
    if scale == "smoke":
        return replace(base, rounds=200, bandit_seeds=2, lams=4, feature_dim=8)
    if scale == "quick":
        return replace(base, rounds=4000, bandit_seeds=4, lams=24)
    if scale == "paper":
        return replace(base, rounds=20000, bandit_seeds=8, lams=32)
    raise ValueError(f"unknown scale {scale!r}")
