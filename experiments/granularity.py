"""Granularity: fine-grained experts with and without a shared expert (DeepSeekMoE).

E=8 coarse experts of width f, top-1; 4E=32 experts of width f/4, top-4 (DeepSeekMoE
fine-grained segmentation); and 1 shared expert of width f/4 plus 31 routed of width f/4,
top-3. All three have the same total expert parameters (8 * 2 d f) and the same active expert
FLOPs (one width-f FFN's worth); routers differ by 2 d (E' - 8) parameters. A dense model
of width f is the reference. Reported: final validation loss and its paired difference to
the coarse MoE.

Command:
    routerlab run granularity --scale quick
    routerlab run granularity --scale smoke

Quick regime (since 2026-12-01 evening): the calibrated knowledge regime of moe_vs_dense
(routerlab.studies.lm.config.KNOWLEDGE_QUICK; see experiments/capacity.py), declared measure the
fact loss (nats per fact), lr_policy="transfer": the three control arms are tuned over {3e-3,
6e-3, 1e-2}, every other arm trains at its control's chosen rate, and the sentinel (fine+shared) is
tuned over the grid as a check. Smoke and paper keep the text domains.

Runtime (measured 2026-12-01 in `make lm-quick`'s command, beside other studies on the 2 cores,
after moe_vs_dense had cached the control units): quick 446 s wall, 447 CPU s (4 new units).

Expected result (quick, measured 2026-12-01 at 3ca79c7, 3 seeds, fact loss in nats per fact):
both controls resolve on their own unadjusted intervals (as in moe_vs_dense, the same arms;
Switch narrowly: see expert_count.py); every arm tried at more than one rate chose 1e-2, the
grid's top edge, and fine (E=32, k=4), the best arm, was transferred, not tuned. Fact loss:
coarse top-1 1.020, fine 0.316, fine+shared 0.08 / 0.09 / 1.77 by seed (two seeds memorise the
table, one stalls: a t interval does not describe it), dense 1.836. Fine is below coarse in all
3 seeds (-1.03, -0.80, -0.28; Holm p 0.17: with 3 seeds t is 4.30; ~3-6 seeds would resolve a
difference of this size at its paired SD of 0.38); fine+shared minus coarse -0.37 (paired SD
1.57), not resolved. Read it with its confound: fine is top-4, so granularity is not separated
from k > 1 here (in the routers study top-2 also removes Switch's stalls), and the fine arms
cost ~5% more active FLOPs (the router's). A granularity sweep (E=16, k=2; E=64, k=8) and more
seeds would tell the two apart. The text-regime record (2026-11-28, one rate, 300 steps): fine
-0.038 +- 0.065, fine+shared -0.049 +- 0.126, not resolved.

Feeds: paper Table (tab:granularity) and Figure granularity.pdf.
"""

from routerlab.studies.lm import STUDIES, GranularityConfig, at_scale
from routerlab.studies.lm.config import in_knowledge_regime

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["granularity"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


def get_config(scale: str) -> GranularityConfig:
    if scale == "quick":  # the calibrated knowledge regime (moe_vs_dense's), rates transferred from the controls
        return in_knowledge_regime(GranularityConfig(), lr_policy="transfer")
    return at_scale(GranularityConfig(), scale)
