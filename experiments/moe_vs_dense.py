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

Runtime (measured 2026-11-30 on the shared 2-core machine, empty unit cache): quick 216 s
CPU (11:52 wall under a load of ~13 from other jobs; 15 trained units of 3 seeds, the control
arms reused); smoke not re-timed (3 trained units). Paper not yet run.

Expected result (quick, measured 2026-11-30, 3 seeds, 300 steps of 16 x 32 bytes = 153,600
tokens per arm, every arm's rate chosen as 1e-2 from {3e-3, 1e-2, 3e-2}): UNDERPOWERED. The
capacity control does not resolve (dense 4x minus dense 1x test loss: +0.044, 95% CI [-0.040,
+0.129]), nor does the literature control (Switch E=8 over dense: -0.008 [-0.096, +0.079]).
Dense frontier test loss 1.711 / 1.693 / 1.667 / 1.659 at 1x / 2x / 4x / 8x FFN; MoE 1.719.
Dense-equivalent ratio 0.98 .. 2.01 (1 of 3 seeds censored), step speed-up 1.00 .. 1.01
(2 of 3 censored); MoE minus dense 8x (its total parameters): +0.060 +- 0.026 nats (Holm p
0.02, worse). Per domain, only prose is capacity-bound here: dense 4x beats dense 1x on prose
by 0.14-0.21 nats in every seed, while arith, code, dyck and recall move by noise.
A GPU pilot of the control arms alone (2026-11-30, H200, 3 seeds, rates {3e-3, 1e-2, 3e-2}):
d_model 32, 600 steps of 32 x 64 bytes (1.2M tokens), 200k bytes per domain: capacity
resolves (+0.025 [+0.015, +0.035]), Switch E=8 does not (+0.000 [-0.021, +0.022]); d_model
64 at the same tokens resolves neither. CPU pilots on prose alone (the capacity-bound domain;
--set domains='["prose"]' bytes_per_domain=300000), rates as above: 300 steps of 16 x 32
(3 seeds) resolve neither control; 600 steps (307k tokens, 5 seeds) resolve capacity (+0.029
[+0.010, +0.048]) but not Switch E=8 (-0.005 [-0.046, +0.036]). No calibrated quick regime is
known yet: the literature control is the one that fails.

Feeds: paper Table (tab:moe_vs_dense) and Figure moe_vs_dense.pdf.
"""

from routerlab.studies.lm import STUDIES, MoEVsDenseConfig, at_scale

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["moe_vs_dense"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


# quick: the calibrated regime (docstring): the knowledge domain alone, a one-block model, fact loss.
QUICK = dict(domains=("knowledge",), entities=64, renderings=64, measure="fact_loss", weight_decay=0.0, d_model=32,
             n_layers=1, d_ff=32, seq_len=64, batch_size=32, steps=2000, eval_every=250, eval_batches=2)


def get_config(scale: str) -> MoEVsDenseConfig:
    if scale == "quick":
        return MoEVsDenseConfig(**QUICK)
    return at_scale(MoEVsDenseConfig(), scale, smoke=dict(dense_widths=(1, 4)))
