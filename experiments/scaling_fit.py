"""Scaling fit: does routing's benefit shrink as the dense model grows (Clark et al. 2022)?

A grid of dense decoder widths d_model in {8, 16, 32, 64} (FFN width 2 d_model; N from 2.1k
to 74k parameters, 1.55 decades) times expert counts E in {1, 4, 16} (E = 1: the dense model;
otherwise top-1 Switch MoE in every block, experts of the dense FFN's width), 3 seeds each,
at quick. Paper scale: widths {16, 32, 64, 128} (N from 6.2k to 279k, 1.65 decades) times
E in {1, 4, 16, 64}, 5 seeds. Both meet issue 12's ">= 4 widths over >= 1.5 decades".
Losses are test losses, each arm at its learning rate chosen on validation. Fitted by least squares over every
(config, seed) point, Clark et al. 2022's bilinear law of routed language models

    log L = a log N + b log E_hat + c log N log E_hat + d,

with N the dense base model's parameter count (the E = 1 model of that width) and E_hat
Clark's saturating transform 1/E_hat = 1/(E - 1 + (1/E_start - 1/E_max)^-1) + 1/E_max. Clark
et al. fit E_start and E_max per routing technique and publish S-BASE's (1.85, 315); the
router here is Switch top-1, so the study fits both constants to its own grid (profile least
squares over log-spaced grids, routerlab.studies.lm.scaling_fit.fit_e_constants; needs >= 3
expert counts, so smoke uses S-BASE's) and refits them in every bootstrap resample and per-seed
fit; the S-BASE-constant fit is reported beside it. 95% intervals by bootstrap over seeds
within each grid point. Routing's benefit is
-(b + c log N); it shrinks with N when c > 0 (Clark et al. found c > 0).

Command:
    routerlab run scaling_fit --scale quick
    routerlab run scaling_fit --scale smoke

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 90 s
(270 s wall under contention); quick 203 s (411 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps, N
from 6.2k to 43k: routing does not help at these sizes, and the trend with N is not
resolved. Fit: a = -0.114 [-0.138, -0.093], b = +0.105 [+0.019, +0.195], c = -0.010 [-0.020,
-0.001] (bootstrap), c = -0.010 +- 0.015 from per-seed fits (t-interval; includes 0). b > 0:
at the smallest N more experts raise the loss; the slope d log L / d log E_hat falls from
+0.016 (d=16) to -0.004 (d=48). That points to routing's benefit GROWING with N here, the
opposite of Clark et al.'s c > 0, but the per-seed interval does not exclude 0, so the
report calls it unresolved. With 3 seeds the percentile bootstrap under-covers; the
t-interval is the one to trust.

Feeds: paper Table (tab:scaling_fit) and Figure scaling_fit.pdf.
"""

from routerlab.config import ConfigError
from routerlab.studies.lm import STUDIES, ScalingFitConfig, at_scale

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["scaling_fit"]
run, report, paper = STUDY.run, STUDY.report, STUDY.paper


def check(cfg: ScalingFitConfig) -> None:
    """Every arm's config, before a run directory exists (the FFN multiple named as this study's field)."""
    if not cfg.ffn_mult >= 1:
        raise ConfigError("ffn_mult", f"must be >= 1; got {cfg.ffn_mult}")
    STUDY.check(cfg)


def get_config(scale: str) -> ScalingFitConfig:
    return at_scale(ScalingFitConfig(), scale, smoke=dict(widths=(8, 16), expert_counts=(1, 4), bootstrap=50),
                    paper=dict(widths=(16, 32, 64, 128), expert_counts=(1, 4, 16, 64)))
