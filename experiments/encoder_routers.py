"""Routers in a bidirectional encoder on masked bytes: Switch, top-2, expert choice, Soft MoE, Sinkhorn/BASE.

The toy LM of the routers study with its attention mask removed (LMConfig.causal=False) and
trained BERT-style (routerlab.train.objective): in each 32-byte sequence 5 positions (15%,
rounded) are replaced by a reserved MASK byte (127, which the corpus never contains) and the
loss is the cross-entropy of the original bytes at those positions only. Validation and test
masks are fixed, so every variant and seed is scored on the same masked positions. Every
block's FFN is an MoE with E=8 experts of the dense FFN's width (a dense model is the
reference): Switch top-1, top-2 (renormalized gates, twice the expert FLOPs), expert choice
(Zhou et al. 2022) with top_k=1 and capacity factor 1 (each expert takes 4 of a sequence's 32
tokens: one expert per token on average, Switch's active FLOPs), Soft MoE (Puigcerver et al.
2023) with 4 slots per expert (one slot per token: Switch's expert FLOPs, plus dispatch and
combine) and Sinkhorn/BASE (Lewis et al. 2021; Clark et al. 2022's S-BASE: balanced by
Sinkhorn, no load-balance loss).

Why an encoder: expert choice, Soft MoE and Sinkhorn make a token's routing depend on the
other tokens of its sequence (or batch). In the causal decoder the next input is the current
target, so that leaks the answer and the decoder refuses these routers
(routerlab.moe.causal_leak; see experiments/routers.py). Here the targets are masked out of
the input, so nothing leaks. Losses are masked-byte cross-entropies (nats per masked byte):
not comparable with the decoder's next-byte losses.

Command:
    routerlab run encoder_routers --scale quick
    routerlab run encoder_routers --scale smoke

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls): (CPU seconds, measured on the shared 2-core machine,
otherwise idle, with an empty compilation cache): smoke 83 s (80 s wall); quick 112 s (113 s
wall), 51 s when the compilation cache is warm; paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps:
no router beats Switch, and no MoE has a lower mean than dense. Validation loss (nats per
masked byte): dense 2.747 +- 0.218, Switch 2.762 +- 0.063, top-2 2.785 +- 0.089, expert
choice 2.785 +- 0.137, Soft MoE 2.804 +- 0.065, Sinkhorn/BASE 2.929 +- 0.160. Paired with
Switch: dense -0.015 +- 0.158, top-2 +0.023 +- 0.108 and expert choice +0.023 +- 0.155 (not
resolved); Soft MoE +0.042 +- 0.035 and Sinkhorn/BASE +0.167 +- 0.103 (worse). Routing:
Switch is far from balanced (MaxVio 3.8, 3.6 of 8 experts per layer get no token of a
validation batch); expert choice is balanced by construction but leaves 40% of the tokens to
no expert; Soft MoE spends 1.22x Switch's active FLOPs (dispatch and combine) and top-2
1.33x. Sinkhorn balances at evaluation too, over each domain-pure evaluation batch, while
BASE routes greedily at inference: evaluating the same Sinkhorn-trained weights with greedy
top-1 routing (a by-hand check, not part of this study) gave 2.820 +- 0.045, still +0.058 +-
0.031 worse than Switch, so the evaluation-time balancing explains about two thirds of its
deficit. At 300 steps of a 2-layer, d=32 model the MoE variants have not yet paid for their
routing.

Feeds: paper Table (tab:encoder_routers) and Figure encoder_routers.pdf.
"""

from routerlab.studies.lm import STUDIES, EncoderRoutersConfig, at_scale

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["encoder_routers"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


def get_config(scale: str) -> EncoderRoutersConfig:
    return at_scale(EncoderRoutersConfig(), scale)
