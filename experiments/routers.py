"""Routers in the causal decoder: Switch top-1, top-2, hash, and REINFORCE-trained RL-R.

Every block's FFN is an MoE with E=8 experts of the dense FFN's width (a dense model is the
reference). Switch top-1 (softmax gate), top-2 (renormalized gates, twice the expert
FLOPs), hash routing (a fixed hash of the token id: no router to learn; Roller et al. 2021)
and RL-R (Clark et al. 2022; routerlab.moe.reinforce): each token's expert is sampled from
the router's softmax policy in training and is the argmax at evaluation; the expert output
enters with gate 1, so the router learns only from the policy-gradient loss
-mean[(R - b) log pi(e|x)] (reward R = minus the token's own next-byte cross-entropy,
baseline b = the batch mean of R, weight pg_weight = 0.1) plus the usual load-balance and
z-losses. RL-R starts from the same initial parameters as Switch (same init stream).

Not in this experiment: expert choice, Soft MoE and Sinkhorn/BASE. Each makes a token's
routing depend on later tokens of its sequence (or batch), so in a causal decoder they leak
the future and the layer refuses them (routerlab.moe.causal_leak). They need a
non-causal model: experiments/encoder_routers.py compares them in the same toy model made
bidirectional and trained on masked bytes, and planted_experts on a non-sequential task.

Command:
    routerlab run routers --scale quick
    routerlab run routers --scale smoke
    # plus routers you registered with routerlab.moe.register_router (in the same process,
    # e.g. from Python: routerlab.cli.main([...]) after the register_router call):
    routerlab run routers --scale smoke --set 'extra_routers=["my_router"]'

Runtime: not yet measured at the current settings (every arm at each of 3 learning rates,
plus the positive controls' arms, shared with the other LM studies through the unit cache).
Superseded (one rate, no controls; CPU seconds on the shared 2-core machine): smoke 101 s
(345 s wall under contention); quick 110 s (298 s wall under contention); paper not yet run.

Expected result: not yet measured at the current settings (per-arm learning rates chosen on
validation, test-loss comparisons with Holm's correction, positive controls). The superseded
measurement, 2026-11-28 (one rate 3e-3, validation loss, no controls), 3 seeds, 300 steps: a
fixed hash beats every learned router. Validation loss: hash 1.769 +- 0.051, top-2 2.041 +-
0.062, dense 2.076 +- 0.123, Switch 2.118 +- 0.167, RL-R 2.359 +- 0.053. Paired with Switch:
hash -0.35 +- 0.18 (better), RL-R +0.24 +- 0.12 (worse), top-2 -0.08 +- 0.11 (not resolved;
it also spends 1.3x the active FLOPs). On a byte-level corpus, routing by the input byte
gives each expert a fixed slice of the vocabulary from step 0, while the learned routers are
still unbalanced at 300 steps (Switch MaxVio 2.8, RL-R 4.0). RL-R's sampled policy adds
variance that 300 steps do not average out.

Feeds: paper Table (tab:routers) and Figure routers.pdf.
"""

from routerlab.studies.lm import STUDIES, RoutersConfig, at_scale
from routerlab.studies.lm.config import in_knowledge_regime

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["routers"]
run, report, paper, check = STUDY.run, STUDY.report, STUDY.paper, STUDY.check  # check: every arm, before a run dir


def get_config(scale: str) -> RoutersConfig:
    if scale == "quick":  # the calibrated knowledge regime (moe_vs_dense's), rates transferred from the controls
        return in_knowledge_regime(RoutersConfig(), lr_policy="transfer")
    return at_scale(RoutersConfig(), scale)
