"""MoE vs dense: does a top-1 MoE reach a dense model's loss with less compute per token?

The seed's claim: sparse MoE models match much larger dense models "while using 80% less
compute per token". Three models on the generated five-domain corpus: a dense baseline; a
top-1 (Switch) MoE with E=8 experts of the dense FFN's width in every block (same active
FLOPs per token up to the router); and a dense model with the MoE's total parameters (FFN
width 8x, so 8x the FFN FLOPs). The dense baseline is also trained at 0.5x, 2x and 4x the
steps, each with its own full warmup-cosine schedule: its final losses against training
FLOPs form the dense compute frontier.

Compute ratio at equal loss (defined in routerlab.studies.lm_moe.compute_ratio): per seed,
the training FLOPs at which the dense frontier (piecewise linear in log FLOPs, running
minimum) reaches the MoE's final validation loss, divided by the MoE's training FLOPs.
A ratio r is a compute saving of 1 - 1/r; "80% less compute" is r = 5. A seed whose MoE
loss is below every frontier point is censored (the ratio is then at least the largest
budget's FLOPs over the MoE's, about 4) and reported as a bound, never averaged; likewise one
above every frontier point (ratio at most the smallest budget's, about 0.5).

Command:
    routerlab run moe_vs_dense --scale quick
    routerlab run moe_vs_dense --scale smoke

Runtime (CPU seconds, measured on the shared 2-core machine): smoke 53 s (68 s wall); quick
109 s (325 s wall under 3-5x contention); paper not yet run. CPU time is dominated by XLA
compilation at smoke scale (one program per variant).

Expected result (quick, measured): 2026-11-28, 3 seeds, d_model 32, 2 layers, context 32,
300 steps of 16 x 32 bytes (about 2.3e10 training FLOPs): the claim does NOT hold at this
scale. Compute ratio at equal loss 0.93 +- 0.17 (95% t over seeds; no seed censored): the
dense frontier reaches the MoE's loss with about the MoE's own compute, i.e. no saving,
where the claim needs >= 5. MoE minus dense loss at equal active FLOPs: +0.04 +- 0.13 nats
(not resolved). The dense model with the MoE's total parameters beats the MoE per step (MoE
minus it +0.10 +- 0.07 nats) but spends 8x the FFN FLOPs: its own compute ratio is 0.33 +-
0.05. The top-1 MoE routes badly at this length (MaxVio 2.8 +- 0.6, 2.1 of 8 experts idle
per validation batch); every curve is still falling steeply at 300 steps.

Feeds: paper Table (tab:moe_vs_dense) and Figure moe_vs_dense.pdf.
"""

from routerlab.studies.lm_moe import STUDIES, MoEVsDenseConfig, at_scale

SCALES = ("smoke", "quick", "paper")
_study = STUDIES["moe_vs_dense"]
run, report, paper = _study.run, _study.report, _study.paper


def get_config(scale: str) -> MoEVsDenseConfig:
    return at_scale(MoEVsDenseConfig(), scale, smoke=dict(dense_budgets=(1.0, 2.0)))
