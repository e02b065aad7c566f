"""Specialists vs generalists on the task suite: per-family exact-match accuracy against size.

The fleet (:mod:`routerlab.fleet.fleet`): one small specialist per family, trained on that
family only, and generalists of several sizes trained on the uniform mixture, every model
for the same number of steps and examples. Accuracy is exact match under greedy decoding on
the suite's *test* queries (never seen in training, except for ``knowledge``, which is
recall of facts stated in training; see :mod:`routerlab.fleet.tasks`).

The seed's claims, as tests on this fleet, each over fleet seeds (paired by seed):

* **own family**: does the specialist of family ``f`` beat every generalist with at least
  10x its parameters on ``f``? (Paired difference specialist - generalist, mean and 95%
  t-interval over seeds; "beats" = interval above 0, "loses" = below 0, else "tie".)
* **knowledge**: do generalists keep the lead on knowledge: does the largest generalist
  beat the knowledge specialist there? (Paired difference generalist - specialist.)

Knowledge is recall of a synthetic fact base sized to load capacity (``num_facts`` facts of
``fact_digits`` random digits each; :mod:`routerlab.fleet.tasks`), so it separates models
only when it is not at ceiling. The comparison has an *exposure confound*: with equal steps
and batch, a generalist sees each fact ``1/F`` as often as the knowledge specialist (the
summary records the training queries per fact of each), which favours the specialist. The
fleet's controls (:class:`routerlab.fleet.fleet.ControlSpec`; rows ``ctl-*``, not routed to)
split the gap into paired differences that each hold one factor fixed:

* a model of the specialist's size on the mixture (``ctl-gen-xs``, or a generalist of that
  size): largest generalist - it is *capacity at the generalists' exposure*, knowledge
  specialist - it is *exposure (and no competing families) at the specialist's size*;
* a larger knowledge-only model (``ctl-know-m``): it - knowledge specialist is *capacity at
  the specialist's exposure*, it - largest generalist is *exposure for larger models*
  (conservative when the control is the smaller of the two).
"""

from routerlab.studies.fleet_specialists.report import findings, knowledge_text, paper, report, size_text
from routerlab.studies.fleet_specialists.study import (
    PLUMBING,
    SpecialistsConfig,
    baselines,
    family_outcomes,
    informative,
    model_interval,
    run,
    s3_verdict,
    s6_verdict,
    size_control,
    size_metric,
    summarize,
    verdict,
    wilson_interval,
)

__all__ = ["SpecialistsConfig", "run", "summarize", "report", "paper", "findings", "verdict", "knowledge_text",
           "size_text", "wilson_interval", "model_interval", "baselines", "informative", "size_control", "size_metric", "family_outcomes", "s3_verdict", "s6_verdict",
           "PLUMBING"]
