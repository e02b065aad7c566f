"""Routing inside a language model: one module per study, sharing a config, a runner and a ``Study``.

Each study trains named *variants* of the toy decoder LM (:mod:`routerlab.models`) on the
generated five-domain corpus, every variant at every learning rate of ``lr_grid`` and under
``num_seeds`` seeds trained together (:mod:`routerlab.studies.lm.runner`), next to the arms of
two positive controls (:mod:`routerlab.report.controls`): a dense model with a 4x-wider FFN
must beat dense, and Switch top-1 with 8 experts must beat dense at equal active FLOPs, both
on the same tokens. A study whose controls do not resolve reports ``underpowered: ...``
instead of a verdict (:class:`routerlab.studies.lm.study.Study`).

Shared conventions:

* **Compute** is active training FLOPs, ``3 x`` forward matmul FLOPs per token (backward = 2x
  forward; :mod:`routerlab.models.accounting`) x tokens seen.
* Every MoE layer replaces the FFN of every block; each expert has the dense FFN's width
  ``d_ff`` unless the study says otherwise, so top-1 MoE matches the dense model's active
  FLOPs up to the router (``2 d E`` per token per layer).
* Learning rates are chosen per arm on validation; comparisons use the test split; intervals
  are 95% Student-t over seeds, differences paired by seed with Holm's correction per study.
* Routing metrics (MaxVio, dead experts, dropped fraction, CV) are those of the final
  validation evaluation, averaged over batches and over MoE layers.

Modules: :mod:`~routerlab.studies.lm.config` (the shared config and scales),
:mod:`~routerlab.studies.lm.runner` (training, unit cache, learning-rate choice),
:mod:`~routerlab.studies.lm.measure` (the declared measure: test loss or fact loss),
:mod:`~routerlab.studies.lm.lr_transfer` (``lr_policy="transfer"``: rates from the controls, sentinels),
:mod:`~routerlab.studies.lm.curves` (cost to reach a loss, ratios, censoring),
:mod:`~routerlab.studies.lm.study` (``Study``: controls, summary, report, paper), and one per
study: ``moe_vs_dense``, ``expert_count``, ``balancing``, ``capacity``, ``granularity``,
``routers``, ``encoder_routers``, ``scaling_fit``, ``knowledge`` (bits stored per parameter
on the knowledge domain; its controls are on bits stored).
"""

from routerlab.studies.lm import (
    balancing,
    capacity,
    encoder_routers,
    expert_count,
    granularity,
    knowledge,
    moe_vs_dense,
    routers,
    scaling_fit,
)
from routerlab.studies.lm.balancing import BalancingConfig
from routerlab.studies.lm.capacity import CapacityConfig
from routerlab.studies.lm.config import (
    KNOWLEDGE_QUICK,
    PAPER_SIZES,
    SMOKE_SIZES,
    LMStudyConfig,
    at_scale,
    in_knowledge_regime,
    knowledge_sets,
)
from routerlab.studies.lm.curves import (
    ci_or_censored,
    compute_ratio,
    cost_to_reach,
    dense_equivalent_ratio,
    steps_to_reach,
)
from routerlab.studies.lm.encoder_routers import EncoderRoutersConfig
from routerlab.studies.lm.expert_count import ExpertCountConfig
from routerlab.studies.lm.granularity import GranularityConfig
from routerlab.studies.lm.knowledge import KnowledgeStudyConfig
from routerlab.studies.lm.moe_vs_dense import MoEVsDenseConfig
from routerlab.studies.lm.routers import RoutersConfig
from routerlab.studies.lm.scaling_fit import ScalingFitConfig, bootstrap_bilinear, e_hat, fit_bilinear
from routerlab.studies.lm.study import Study

STUDIES: dict[str, Study] = {m.STUDY.name: m.STUDY for m in (
    moe_vs_dense, expert_count, balancing, capacity, scaling_fit, routers, granularity, encoder_routers, knowledge)}

__all__ = [
    "STUDIES", "Study", "LMStudyConfig", "at_scale", "SMOKE_SIZES", "PAPER_SIZES", "KNOWLEDGE_QUICK",
    "in_knowledge_regime", "knowledge_sets",
    "MoEVsDenseConfig", "ExpertCountConfig", "BalancingConfig", "CapacityConfig", "GranularityConfig",
    "RoutersConfig", "EncoderRoutersConfig", "ScalingFitConfig", "KnowledgeStudyConfig",
    "cost_to_reach", "compute_ratio", "steps_to_reach", "dense_equivalent_ratio", "ci_or_censored",
    "e_hat", "fit_bilinear", "bootstrap_bilinear",
]
