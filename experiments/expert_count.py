"""Expert count: how does a top-1 Switch MoE improve with E at fixed active compute?

E in {1, 2, 4, 8, 16, 32, 64} experts of the dense FFN's width in every block (E = 1 is the
dense model itself), all top-1, dropless, load-balance weight 0.01, z-loss 0.001. Step
speed-up (routerlab.studies.lm.curves.steps_to_reach; Switch Transformer Fig. 4): per seed, the
dense model's steps divided by the steps at which the MoE's validation curve (every
eval_every steps, linear interpolation) first reaches the dense model's final validation
loss; a curve that never reaches it is censored (speed-up at most 1) and reported as a bound.

Command:
    routerlab run expert_count --scale quick
    routerlab run expert_count --scale smoke

Quick regime (since 2026-12-01 evening): the calibrated knowledge regime of moe_vs_dense
(routerlab.studies.lm.config.KNOWLEDGE_QUICK; see experiments/capacity.py), declared measure the
fact loss (nats per fact), lr_policy="transfer": the three control arms are tuned over {3e-3,
6e-3, 1e-2}, every other arm trains at its control's chosen rate, and the sentinel (E=64) is
tuned over the grid as a check. Smoke and paper keep the text domains. The records below under
"Runtime" and "Expected result" are the text regime's until this regime's run is recorded.

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 39 s
(134 s wall under contention); quick 170 s (526 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps:
no expert count helps at this scale. Final validation loss is 2.08 +- 0.12 for dense (E=1)
and 2.11-2.15 for E=2..64: E=64 is resolved worse than dense (+0.076, 95% [+0.015, +0.137]
nats, paired), the other differences' intervals contain 0. No MoE reaches the dense model's
final loss earlier than the dense model does: speed-up <= 1 for E=4, 32, 64 (all seeds
censored) and 1.00-1.08 for E=2, 8, 16 (2 of 3 seeds censored). Routing degrades with E:
MaxVio 0.5 (E=2) to 19 (E=64); 51 of 64 experts receive no token of a 512-token validation
batch at E=64. The Switch Transformer's speed-up with E is not reproduced at 300 steps of a
20k-parameter model.

Feeds: paper Table (tab:expert_count) and Figure expert_count.pdf.
"""

from routerlab.studies.lm import STUDIES, ExpertCountConfig, at_scale
from routerlab.studies.lm.config import in_knowledge_regime

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["expert_count"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


def get_config(scale: str) -> ExpertCountConfig:
    if scale == "quick":  # the calibrated knowledge regime (moe_vs_dense's), rates transferred from the controls
        return in_knowledge_regime(ExpertCountConfig(), lr_policy="transfer")
    return at_scale(ExpertCountConfig(), scale, smoke=dict(expert_counts=(1, 4)))
