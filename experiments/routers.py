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

Quick regime (since 2026-12-01): the calibrated knowledge regime of moe_vs_dense
(routerlab.studies.lm.config.KNOWLEDGE_QUICK; see experiments/capacity.py), declared measure the
fact loss (nats per fact), lr_policy="transfer": the control arms are tuned over {3e-3, 6e-3,
1e-2} (dense and switch(top-1) are the controls' own configs, so tuned too); top-2 and rl-r train
at the Switch control's rate; the sentinel rl-r is tuned over the grid. Smoke and paper keep the
text domains. Sentinels: hash alone in the run below, hash and rl-r from 2026-12-01 (both chose the
transferred 1e-2 in every recorded run), rl-r alone since 2026-12-02 (one sentinel per study, the
arm least like its control, as in the other transfer studies: it keeps the quick LM suite within
its 30 minutes; hash now trains at the transferred rate only, the rate it chose every time).

Runtime (measured 2026-12-01, /usr/bin/time -v, right after capacity at the same code version,
whose 9 control units it reused from the unit cache; 2 shared cores at load ~5): quick 10:18
wall, 394 CPU s (5 new units: hash at 3 rates, top-2 and rl-r at 1e-2). From an empty cache add
the controls' ~640 CPU s, and 2 more rl-r units now that it is a sentinel.

Expected result (quick, measured 2026-12-01 at 0470d40, 3 seeds, fact loss in nats per fact,
mean [95% t-interval]): both controls resolve (capacity +1.715 [+0.825, +2.606], Switch E=8 over
dense +0.816 [+0.046, +1.586]); every tuned arm chose 1e-2 (the grid's top edge) and the sentinel
hash agrees with the transferred 1e-2. Fact loss: dense 1.836, Switch top-1 1.020 [-0.60, 2.64],
top-2 0.080 [0.046, 0.113] (1.3x Switch's active FLOPs, about dense 4x's 0.120), hash 0.227
[-0.17, 0.62], RL-R 1.764 [-0.85, 4.37]. Minus Switch, paired by seed: top-2 -0.94 [-2.55, +0.67],
hash -0.79 [-2.15, +0.57], RL-R +0.75 [-0.37, +1.85], dense +0.82 [+0.05, +1.59] (Holm p 0.18):
none resolved after Holm. Verdict: "Resolved better than Switch (Holm): none; resolved worse:
none." Switch's own fact loss varies from 0.38 to 1.68 between seeds (it memorises the table or
not), which is what hides every difference: calibrated, but 3 seeds are too few for this study's
question. Routing on validation: Switch MaxVio 0.26, hash 1.57 (a fixed hash of bytes is
unbalanced on names), RL-R 0.69; no dead experts, nothing dropped (dropless).
The superseded text-domain record (2026-11-30, per-arm rates, test loss, 300 steps):
underpowered (neither control resolved); hash beat Switch (-0.179 +- 0.009 nats, Holm p 0.0005),
RL-R worse (+0.099 +- 0.021), top-2 not resolved.

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
