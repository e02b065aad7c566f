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
tuned over the grid as a check. Smoke and paper keep the text domains. The records below under
"Runtime" and "Expected result" are the text regime's until this regime's run is recorded.

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 82 s
(222 s wall under contention); quick 104 s (291 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps:
no difference is resolved. Validation loss: coarse 2.118 +- 0.167, fine 2.080 +- 0.109,
fine+shared 2.068 +- 0.134, dense 2.076 +- 0.123; differences to coarse -0.038 +- 0.065
(fine) and -0.049 +- 0.126 (fine+shared). Fine-grained routing is less balanced (MaxVio
5.0-5.6; about 9 of 32 experts idle per batch). DeepSeekMoE's gains are not visible at this
scale and length.

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
