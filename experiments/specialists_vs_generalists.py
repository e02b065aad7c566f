"""Specialists vs generalists: does a small model trained on one task family beat a generalist 10x+ its size there, and lose on knowledge?

The seed's claim: specialised small models beat much larger generalists on their own domain
(code, math, logic, planning), while generalists keep the lead on broad knowledge. Tested on
a fleet of toy decoders (routerlab.fleet.fleet) over a procedurally generated task suite
(routerlab.fleet.tasks): one specialist per family (~7k parameters at quick) and
generalists of ~26k / ~102k / ~333k parameters on the uniform mixture, all trained for the
same steps and batch. Reported: exact-match test accuracy per family and model (greedy
decoding), against parameters and FLOPs, over 3 fleet seeds with 95% t-intervals; and, per
specialist, the paired accuracy difference with every generalist >= 10x its size.

The fleet is trained once per config and cached under <runs>/_fleets/<hash>/; the
fleet_routing and lambda_sweep experiments at the same scale reuse it.

Command:
    routerlab run specialists_vs_generalists --scale quick
    routerlab run specialists_vs_generalists --scale smoke

Runtime (measured 2026-11-28 on 2 CPU cores shared with other jobs, so wall times are
inflated; CPU seconds are the better guide): smoke ~30 CPU s (~1-2 min wall, mostly
compilation); quick ~480 CPU s for the fleet (15 min wall on the loaded machine), the study
itself seconds once the fleet is cached.

Expected result (quick, measured 2026-11-28, 3 fleet seeds, 1500 steps x 32 sequences per
model): specialists ~7k params, generalists 26k / 102k / 338k (48x). Test exact match,
specialist vs gen-l (48x larger) on the specialist's family: math 0.26 vs 0.18, code 0.34
vs 0.28, logic 0.68 vs 0.69, planning (sorting) 1.00 vs 0.96, knowledge 1.00 vs 1.00. The
only difference whose 95% t-interval over seeds excludes 0 is code vs gen-m (14x): +0.08
[+0.02, +0.13]; every other comparison is a tie at 3 seeds. So at this scale the claim
"a specialist beats a 10x+ generalist on its own family" is not contradicted (specialists
are never worse) but is resolved only once. Knowledge (200 facts) is memorised by every
model (0.96-1.00), so "generalists keep the lead on knowledge" is NOT supported here: the
knowledge task is at ceiling, and with equal steps a generalist also sees each family 1/5
as often as that family's specialist (an exposure confound, said in the report).

Feeds: paper table specialists_vs_generalists and its figure.
"""

from dataclasses import replace

from routerlab.fleet.fleet import scaled_fleet
from routerlab.studies.fleet_specialists import SpecialistsConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> SpecialistsConfig:
    return replace(SpecialistsConfig(), fleet=scaled_fleet(scale))
