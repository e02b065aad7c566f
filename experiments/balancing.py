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
6e-3, 1e-2}, every other arm trains at its control's chosen rate, and the sentinel loss_free (no
balance loss: the arm least like the control) is tuned over the grid as a check. Smoke and paper
keep the text domains. Until 2026-12-02 alpha=0.1 was a second sentinel; it chose the transferred
1e-2 in every recorded run, and one sentinel per study keeps the quick LM suite within 30 minutes.

Runtime (measured 2026-12-01 in `make lm-quick`'s command, beside the knowledge study on the 2
cores, after moe_vs_dense had cached the control units): quick 757 s wall, 754 CPU s (10 new units).

Expected result (quick, measured 2026-12-01 at 3ca79c7, 3 seeds, fact loss in nats per fact):
both controls resolve on their own unadjusted intervals (capacity +1.715 [+0.825, +2.606],
Switch E=8 over dense +0.816 [+0.046, +1.586], narrowly; see expert_count.py); every arm tried at
more than one rate chose 1e-2, the grid's top edge, so the sentinels' agreement is
uninformative. Balance: MaxVio ~2-2.5 for alpha <= 1e-4 (alpha=0 1.99 +- 1.06, 1e-4 2.46) and
0.2-0.3 for alpha >= 1e-2 (alpha=0 minus 0.01: +1.73 [+0.53, +2.93], unadjusted; 1e-3 0.93);
loss-free bias (sigmoid scores, no z-loss: three changes at once) 0.12 +- 0.09, not
distinguishable from alpha >= 1e-2. Collapse (>= 4 of 8 experts dead, lower bound) is not seen
(alpha=0: 1.0 [-1.5, +3.5] dead). The loss side: the study's tested comparisons (alpha=0 minus
0.01 +0.086 +- 1.347, z-loss off -0.046 +- 0.559) resolve nothing (Holm p 1), but two untested
ones point at the literature's trade-off: alpha=0.1 minus 0.01 is +0.47 nats with all 3 seeds
worse (paired SD 0.34), and loss-free minus alpha=0.01 is +0.47 (seeds -0.49, +0.33, +1.58),
against DeepSeek-V3's claim of no loss cost. Neither was declared, so neither is a result; the
first would need ~5 seeds, the second ~40. The text-regime record (2026-11-28, one rate 3e-3,
300 steps): MaxVio 4.96 +- 1.75 (alpha=0) to 2.76 +- 0.59 (0.01) and 1.56 +- 0.62 (0.1); loss
differences not resolved.

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
