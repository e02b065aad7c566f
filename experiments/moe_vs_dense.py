"""MoE vs dense: how many dense FLOPs per token is a top-1 MoE worth? (the seed's claim S2)

The seed's claim: sparse MoE models match much larger dense models "while using 80% less
compute per token". Measured as that sentence says: a top-1 (Switch) MoE with E=8 experts of
the dense FFN's width in every block (dense's active FLOPs per token up to the router), and
dense models with FFN widths 1x, 2x, 4x and 8x (8x = the MoE's total FFN parameters), all on
the same tokens, each at its own learning rate chosen on validation from {3e-3, 1e-2, 3e-2}.
The dense models' (active FLOPs per token, test loss) points form the dense frontier.

Dense-equivalent ratio (routerlab.studies.lm.curves.dense_equivalent_ratio): per seed, the
FLOPs per token at which the dense frontier (running minimum, log-linear) reaches the MoE's
test loss, over the MoE's own active FLOPs per token. "80% less compute per token" is a
ratio >= 5. A seed whose MoE is below every frontier point is censored (ratio at least the
widest dense's FLOPs per token over the MoE's) and reported as a bound, never averaged.
Step speed-up (Switch Transformer): dense steps over the steps the MoE's validation curve
needs to reach dense's final validation loss. Positive controls (routerlab.report.controls):
dense 4x beats dense 1x, and Switch E=8 beats dense, on test loss with a 95% interval above
0; if either fails the verdict reads "underpowered: ...".

Command:
    routerlab run moe_vs_dense --scale quick
    routerlab run moe_vs_dense --scale smoke

Runtime: not yet measured at the current settings (5 arms x 3 learning rates at quick).
Superseded (dense budgets instead of widths, one rate): smoke 53 s CPU, quick 109 s CPU on
the shared 2-core machine.

Expected result: not yet measured at the current settings. The superseded measurement
(2026-11-28, one rate 3e-3, validation loss, no controls, 300 steps of 16 x 32 bytes) found
no saving: compute ratio 0.93 +- 0.17 against a dense step-budget frontier, MoE minus dense
+0.04 +- 0.13 nats. Issue 12 records why that instrument could not see the effect (a dense
model with ~3.8x the parameters gained only ~0.06 nats; the rate moved dense by ~0.3 nats).

Feeds: paper Table (tab:moe_vs_dense) and Figure moe_vs_dense.pdf.
"""

from routerlab.studies.lm import STUDIES, MoEVsDenseConfig, at_scale

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["moe_vs_dense"]
run, report, paper = STUDY.run, STUDY.report, STUDY.paper


def get_config(scale: str) -> MoEVsDenseConfig:
    return at_scale(MoEVsDenseConfig(), scale, smoke=dict(dense_widths=(1, 4)))
