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

Runtime (2026-12-01, 2 CPU cores, almost idle): quick 299 s wall, 338 CPU s (12 arms x 3
rates x 3 seeds, the controls' arms shared through the unit cache); smoke ~90 CPU s.

Expected result (quick, measured 2026-12-01, 3 seeds, 300 steps, N 2.1k-74k): `underpowered`
(the shared text-domain controls do not resolve: capacity +0.044 [-0.040, +0.129], Switch E=8
-0.008 [-0.096, +0.079]). E_start and E_max are not identified by 3 expert counts (the bootstrap
of E_start spans its whole search grid and the fitted residual equals S-BASE's), so the fit
uses Clark's S-BASE constants: a = -0.054 [-0.062, -0.047], b = +0.020 [-0.012, +0.050], c =
-0.0015 [-0.0047, +0.0021] (bootstrap), -0.0015 +- 0.0134 per-seed t: whether routing's benefit
shrinks with N is not resolved. Superseded (2026-11-28, one rate, widths 16-48): c = -0.010
+- 0.015.

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
