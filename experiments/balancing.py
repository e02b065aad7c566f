"""Load balancing: Switch aux-loss weight, z-loss, and DeepSeek-V3's loss-free bias.

Top-1 MoE with E=8 experts per block. Load-balance weight alpha in {0, 1e-4, 1e-3, 1e-2,
1e-1} (z-loss 1e-3), alpha=1e-2 without z-loss, and auxiliary-loss-free balancing (DeepSeek
router: sigmoid scores, a per-expert selection bias moved by gamma=1e-3 * sign(mean load -
load) after each step, no auxiliary loss). Reported: final validation loss, MaxVio (max load
/ mean load - 1), dead experts (experts with no token in a validation batch, averaged over
batches and layers) and whether alpha = 0 collapses.

Command:
    routerlab run balancing --scale quick
    routerlab run balancing --scale smoke

Quick regime (since 2026-12-01 evening): the calibrated knowledge regime of moe_vs_dense
(routerlab.studies.lm.config.KNOWLEDGE_QUICK; see experiments/capacity.py), declared measure the
fact loss (nats per fact), lr_policy="transfer": the three control arms are tuned over {3e-3,
6e-3, 1e-2}, every other arm trains at its control's chosen rate, and the sentinels (loss_free and alpha=0.1) are
tuned over the grid as a check. Smoke and paper keep the text domains. The records below under
"Runtime" and "Expected result" are the text regime's until this regime's run is recorded.

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 92 s
(179 s wall under contention); quick 179 s (524 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps:
alpha trades balance for loss monotonically but weakly. MaxVio falls from 4.96 +- 1.75
(alpha=0) to 2.76 +- 0.59 (0.01) and 1.56 +- 0.62 (0.1); dead experts per 8 from 4.2 +- 1.6
to 0.9 +- 0.6; validation loss rises from 2.100 +- 0.111 to 2.139 +- 0.180 (differences not
resolved). alpha = 0 does not collapse onto one expert here: 4.2 of 8 experts idle per
batch, lower bound below half. z-loss off changes nothing resolvable; loss-free bias
(gamma=1e-3, 300 updates) balances about as well as alpha=0.01 (MaxVio 2.86 +- 0.24) at loss
2.153 +- 0.086.

Feeds: paper Table (tab:balancing) and Figure balancing.pdf.
"""

from routerlab.config import ConfigError
from routerlab.studies.lm import STUDIES, BalancingConfig, at_scale
from routerlab.studies.lm.config import in_knowledge_regime

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["balancing"]
run, report, paper = STUDY.run, STUDY.report, STUDY.paper


def check(cfg: BalancingConfig) -> None:
    """Every arm's config, before a run directory exists (the bias rate named as this study's field)."""
    if not cfg.bias_rate >= 0:
        raise ConfigError("bias_rate", f"must be >= 0; got {cfg.bias_rate}")
    STUDY.check(cfg)


def get_config(scale: str) -> BalancingConfig:
    if scale == "quick":  # the calibrated knowledge regime (moe_vs_dense's), rates transferred from the controls
        return in_knowledge_regime(BalancingConfig(), lr_policy="transfer")
    return at_scale(BalancingConfig(), scale, smoke=dict(alphas=(0.0, 0.01)))
