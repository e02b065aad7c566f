"""The one declared measure an LM study's comparisons and positive controls read.

``LMStudyConfig.measure`` names it (:data:`MEASURES`; lower is better for both):

* ``test_loss``: the corpus test split's cross-entropy (nats/byte), every study's default;
* ``fact_loss``: with the ``knowledge`` domain (:mod:`routerlab.models.knowledge`), the mean
  cross-entropy of a fact's value bytes given its entity's name and the attribute's prompt, on
  the test prompts (nats per fact, :func:`fact_loss`). The records then carry the knowledge
  study's readout (:func:`routerlab.studies.lm.knowledge.run_knowledge_variants`), and the
  study trains with it (:meth:`routerlab.studies.lm.study.Study.run`).

Learning rates are chosen on the validation loss whatever the measure: the test prompts never
choose.
"""

from __future__ import annotations

import math
from typing import Any

from routerlab.models import knowledge as kn

__all__ = ["MEASURES", "fact_loss", "measure_of", "measure_name", "measure_unit"]

#: What each ``measure`` is (lower is better for both), as the report names it.
MEASURES = {
    "test_loss": "test loss (cross-entropy over the corpus test split, nats/byte)",
    "fact_loss": ("fact loss (cross-entropy of a fact's value bytes given its entity's name and the attribute's "
                  "prompt, on the knowledge domain's test prompts, nats per fact)"),
}


def fact_loss(row: dict[str, Any], num_facts: int) -> float:
    """A knowledge record's mean cross-entropy per fact in nats, from its bits stored.

    :func:`routerlab.models.knowledge.bits_stored` is ``table_bits - sum_f CE_f / ln 2``, so
    ``mean_f CE_f = (table_bits - test_bits) ln 2 / num_facts``: the same readout, as a loss."""
    return (row["table_bits"] - row["test_bits"]) * math.log(2) / num_facts


def measure_of(cfg: Any, row: dict[str, Any]) -> float:
    """One record's value of ``cfg.measure`` (an :class:`~routerlab.studies.lm.config.LMStudyConfig`)."""
    if cfg.measure == "fact_loss":
        return fact_loss(row, cfg.entities * len(kn.ATTRIBUTES))
    return row["test_loss"]


def measure_name(cfg: Any) -> str:
    """``"test loss"`` or ``"fact loss"``: how prose names the measure."""
    return cfg.measure.replace("_", " ")


def measure_unit(cfg: Any) -> str:
    """The measure's unit in prose: nats (per byte) or nats per fact."""
    return "nats per fact" if cfg.measure == "fact_loss" else "nats"
