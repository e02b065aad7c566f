"""Routing across the fleet: every router's cost-quality frontier on the fleet's routing log,
online bandits on its replay, and the bandit's Pareto curve over the cost penalty.

Protocol, per fleet seed ``s`` (the fleet of :mod:`routerlab.fleet.fleet`, trained once and
cached): the routing log of seed ``s`` holds every model's exact-match outcome and cost on
every held-out query of the task suite; its queries are split 60/20/20 (train/val/test)
for routers by a hash of the query id. Prompt features are character 1-3-gram TF-IDF
reduced by truncated SVD, **fitted on the train prompts only** (the suite's prompts are
symbols and digits, which word-level TF-IDF ignores). Each router of
:func:`routerlab.fleet.routers.default_routers` (single models, random, per-task and
per-query oracles, the seed's pipeline ``task_classifier`` = logistic-regression task
classifier -> the model with the best train accuracy-minus-cost on that task, kNN, MLP and
MF utility routers, a cascade) is fitted on train, tuned on val and scored on test by
:func:`routerlab.fleet.evaluate.evaluate_router` (bootstrap intervals over test queries):
AIQ and an operating point chosen on val; and savings at 95% and at 100% of the
*reference* model's test quality (:func:`routerlab.fleet.protocol.savings_vs`, bootstrap over test queries), where the
reference is the generalist with the best train quality (the seed's claim is against
generalists; the best model overall is recorded beside it).

Online (:func:`routerlab.fleet.protocol.replay_linucb`): LinUCB on :func:`routerlab.bandits.replay` of the test
queries (contexts: the same features plus an intercept; the context carries each model's
mean cost, as output length is unknown before the call), reward ``quality - lam * cost``
over a grid of ``lam``, and a global-budget variant (:func:`routerlab.bandits.lagrangian`,
budget = ``budget_fraction`` x the reference model's mean test cost x rounds). All of it is
one :func:`routerlab.bandits.simulate` call per variant: ``vmap`` over seeds and ``lam``.

The deployable protocol (operating points fixed on validation, the one-pass bandit) is
:mod:`routerlab.fleet.protocol`; the metrics are :mod:`routerlab.fleet.metrics`. With
``fleet_log="shipped:quick"`` the routers run on the quick fleet's logs shipped with the
package (:mod:`routerlab.fleet.shipped`) instead of a fleet trained here.

Modules: :mod:`.config` (config, features), :mod:`.costs` (cost models, chance rows,
RouteLLM lead), :mod:`.study` (run, summary), :mod:`.report` (report, findings, paper).
"""

from routerlab.studies.fleet_routing.config import COST_MODELS, FleetRoutingConfig, char_features
from routerlab.studies.fleet_routing.costs import chance_rows, measure_latency, routellm_lead
from routerlab.studies.fleet_routing.report import (
    PLUMBING_FLEET,
    PLUMBING_SHIPPED,
    findings,
    paper,
    protocol_rows,
    report,
    routellm_text,
    shipped_headline,
)
from routerlab.studies.fleet_routing.study import METRICS, ONE_PASS, REPLAY, run, summarize

__all__ = ["FleetRoutingConfig", "COST_MODELS", "char_features", "chance_rows", "measure_latency", "routellm_lead",
           "run", "summarize", "report", "findings", "paper", "routellm_text", "protocol_rows", "shipped_headline",
           "PLUMBING_FLEET", "PLUMBING_SHIPPED", "METRICS", "ONE_PASS", "REPLAY"]
