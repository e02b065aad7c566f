"""The toy decoder-only LM (dense or MoE FFNs), its accounting, and the generated corpus."""

from routerlab.models.accounting import flops_per_token, moe_active_experts, param_count, training_flops
from routerlab.models.config import LMConfig
from routerlab.models.corpus import DOMAINS, SPLITS, VOCAB_SIZE, Batch, Corpus, CorpusConfig, build_corpus
from routerlab.models.lm import LM

__all__ = [
    "LM",
    "LMConfig",
    "param_count",
    "flops_per_token",
    "training_flops",
    "moe_active_experts",
    "Corpus",
    "CorpusConfig",
    "Batch",
    "build_corpus",
    "DOMAINS",
    "SPLITS",
    "VOCAB_SIZE",
]
