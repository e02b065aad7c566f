"""The config every LM routing study shares, and the toy-LM sizes of each scale."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

from routerlab.config import check
from routerlab.models import knowledge as kn
from routerlab.models.config import LMConfig
from routerlab.models.corpus import TEXT_DOMAINS, CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.train.config import LMRunConfig, TrainConfig

__all__ = ["LMStudyConfig", "SMOKE_SIZES", "PAPER_SIZES", "KNOWLEDGE_QUICK", "LR_POLICIES", "at_scale",
           "in_knowledge_regime", "knowledge_sets"]

#: ``lr_policy`` values (:meth:`routerlab.studies.lm.study.Study.run` says what each trains).
LR_POLICIES = ("per_arm", "transfer")


@dataclass(frozen=True)
class LMStudyConfig:
    """Model, corpus and training shared by every variant of an LM routing study.

    Attributes:
      seed, num_seeds: seeds ``seed .. seed + num_seeds - 1`` (each names its own init,
        data order and router-noise streams).
      d_model, n_layers, n_heads, seq_len: the decoder (every block's FFN is dense or MoE).
      d_ff: width of the dense FFN and of each expert.
      num_experts: routed experts of the MoE variants (unless the study sweeps it).
      steps, batch_size, warmup_frac: AdamW on warmup-cosine (``routerlab.train``).
      lr_grid: peak learning rates. A tuned arm (every arm under ``lr_policy="per_arm"``; the
        controls and sentinels under ``transfer``) is trained at each and keeps the one with the
        lowest mean final *validation* loss over seeds (test loss never enters the choice); a
        transferred arm is trained at its control's chosen rate only. ``transfer`` needs >= 2.
      eval_every, eval_batches: validation cadence and batches per domain.
      bytes_per_domain, domains: size of the generated corpus and which of its domains
        (:data:`routerlab.models.corpus.DOMAINS`; default the text ones) it holds.
      load_balance_weight, z_loss_weight: auxiliary loss weights of MoE variants.
      block_size: rows per block of dropless dispatch (small: toy token counts).
      capacity_mult: the capacity control's dense FFN is ``capacity_mult x d_ff`` wide.
      control_experts: experts of the literature control's Switch top-1 MoE (Fedus et al.
        use E = 8; smoke uses the smoke MoE's 4 so that the control reuses its arms).
      entities, renderings: the ``knowledge`` domain's fact table
        (:class:`routerlab.models.knowledge.KnowledgeConfig`), given to the corpus only when
        ``domains`` holds it (with the text domains alone the run configs, and so the unit
        cache's keys, do not depend on them).
      measure: the loss every paired comparison and both positive controls read
        (:data:`routerlab.studies.lm.measure.MEASURES`): ``test_loss`` (the corpus test split)
        or ``fact_loss`` (the knowledge domain's facts; the study then trains with the knowledge
        readout).
      weight_decay: AdamW weight decay of every arm (the default is the trainer's own).
      lr_policy: ``per_arm`` (every arm at every rate of ``lr_grid``) or ``transfer`` (the
        control arms at every rate, each other arm at the rate its control chose, the study's
        sentinel arms at every rate to check the transfer;
        :meth:`routerlab.studies.lm.study.Study.run`).

    Class attribute (not a field, so it is not in ``config.json``): ``causal``, whether the
    variants are causal decoders on next-byte prediction (every study but the encoder one).
    """

    causal: ClassVar[bool] = True

    seed: int = 0
    num_seeds: int = 3
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    seq_len: int = 32
    d_ff: int = 64
    num_experts: int = 8
    steps: int = 300
    batch_size: int = 16
    lr_grid: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    warmup_frac: float = 0.1
    eval_every: int = 50
    eval_batches: int = 2
    bytes_per_domain: int = 60_000
    domains: tuple[str, ...] = TEXT_DOMAINS
    load_balance_weight: float = 1e-2
    z_loss_weight: float = 1e-3
    block_size: int = 16
    capacity_mult: int = 4
    control_experts: int = 8
    entities: int = 500
    renderings: int = 4
    measure: str = "test_loss"
    weight_decay: float = TrainConfig.weight_decay
    lr_policy: str = "per_arm"

    def __post_init__(self) -> None:
        for name in ("num_seeds", "d_model", "n_layers", "n_heads", "seq_len", "d_ff", "num_experts", "steps",
                     "batch_size", "eval_every", "eval_batches", "block_size", "control_experts"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(0 <= self.warmup_frac < 1, "warmup_frac", f"must be in [0, 1); got {self.warmup_frac}")
        check(len(self.lr_grid) >= 1 and all(lr > 0 for lr in self.lr_grid)
              and len(set(self.lr_grid)) == len(self.lr_grid), "lr_grid",
              f"must hold one or more distinct rates > 0; got {self.lr_grid}")
        CorpusConfig(bytes_per_domain=self.bytes_per_domain, domains=self.domains)  # names a bad field
        check(self.capacity_mult >= 4, "capacity_mult",
              f"the capacity control needs a dense model >= 4x wider; got {self.capacity_mult}")
        self._check_measure()
        check(self.lr_policy in LR_POLICIES, "lr_policy",
              f"must be one of {', '.join(LR_POLICIES)}; got {self.lr_policy!r}")
        check(self.lr_policy != "transfer" or len(self.lr_grid) >= 2, "lr_grid",
              f"lr_policy=transfer needs >= 2 rates (with one every sentinel agrees trivially); got {self.lr_grid}")
        # The shared fields as one dense and one Switch model: the model's own checks (heads
        # divide d_model into even halves, loss weights >= 0, ...) name these same fields, and
        # they run here, before a run directory exists. Each study's own variants are built by
        # Study.check (the registry calls an experiment's check(cfg) before creating the run).
        self.run_config()
        self.run_config(self.moe())

    def _check_measure(self) -> None:
        from routerlab.studies.lm.measure import MEASURES

        kn.KnowledgeConfig(entities=self.entities, renderings=self.renderings)  # names a bad field
        if kn.KNOWLEDGE in self.domains:
            check(self.seq_len + 1 >= kn.max_document_len(), "seq_len",
                  f"a biography of the knowledge domain needs up to {kn.max_document_len()} bytes: seq_len must "
                  f"be >= {kn.max_document_len() - 1}; got {self.seq_len}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0; got {self.weight_decay}")
        check(self.measure in MEASURES, "measure", f"must be one of {', '.join(MEASURES)}; got {self.measure!r}")
        check(self.measure != "fact_loss" or kn.KNOWLEDGE in self.domains, "measure",
              f"fact_loss reads the knowledge domain's facts: domains must hold {kn.KNOWLEDGE!r}; "
              f"got {list(self.domains)}")
        check(self.measure != "fact_loss" or self.causal, "measure",
              "fact_loss reads a causal decoder's next-byte predictions; this study trains an encoder")

    def knowledge(self) -> kn.KnowledgeConfig:
        return kn.KnowledgeConfig(entities=self.entities, renderings=self.renderings)

    def train_config(self, steps: int | None = None, lr: float | None = None) -> TrainConfig:
        steps = steps or self.steps
        return TrainConfig(steps=steps, batch_size=self.batch_size, lr=self.lr_grid[0] if lr is None else lr,
                           warmup_steps=int(self.warmup_frac * steps), eval_every=min(self.eval_every, steps),
                           eval_batches=self.eval_batches, log_every=steps, ckpt_every=steps,
                           weight_decay=self.weight_decay)

    def moe(self, **kw: Any) -> MoEConfig:
        """Switch-style top-1 MoE of ``num_experts`` experts of width ``d_ff``, overridden by ``kw``."""
        base = dict(num_experts=self.num_experts, top_k=1, d_model=self.d_model, d_ff=self.d_ff, router="top_k",
                    renormalize=False, capacity_factor=None, load_balance_weight=self.load_balance_weight,
                    z_loss_weight=self.z_loss_weight, dropless_block_size=self.block_size)
        base.update(kw)
        return MoEConfig(**base)

    def run_config(self, moe: MoEConfig | None = None, *, d_ff: int | None = None, steps: int | None = None,
                   lr: float | None = None) -> LMRunConfig:
        """One variant's run config; ``lr`` defaults to the grid's first rate (the runner sets each).

        The corpus holds the fact table only with the ``knowledge`` domain, so a text-domain
        arm's config is the same whatever ``entities`` and ``renderings`` say."""
        model = LMConfig(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads, seq_len=self.seq_len,
                         d_ff=d_ff or self.d_ff, ffn="dense" if moe is None else "moe", moe=moe, causal=self.causal)
        knowledge = self.knowledge() if kn.KNOWLEDGE in self.domains else None
        return LMRunConfig(model=model, data=CorpusConfig(bytes_per_domain=self.bytes_per_domain, domains=self.domains,
                                                          knowledge=knowledge),
                           train=self.train_config(steps, lr), seed=self.seed)

    def control_variants(self) -> list[tuple[str, LMRunConfig]]:
        """The positive controls' arms (:mod:`routerlab.studies.lm.controls`): dense, dense
        ``capacity_mult x`` wider FFN, Switch top-1 with ``control_experts`` experts; same tokens."""
        return [
            ("control:dense", self.run_config()),
            (f"control:dense(ffn x{self.capacity_mult})", self.run_config(d_ff=self.capacity_mult * self.d_ff)),
            (f"control:switch(E={self.control_experts})", self.run_config(self.moe(num_experts=self.control_experts))),
        ]


C = TypeVar("C", bound=LMStudyConfig)

# The toy LM sizes every in-model experiment shares at each scale (quick is each config's
# defaults). An experiment file adds only what is its own (fewer variants at smoke, say).
# Smoke trains one learning rate (the default suite must stay fast) and a 4-expert control.
SMOKE_SIZES = dict(d_model=16, d_ff=32, seq_len=16, batch_size=8, steps=20, eval_every=10, eval_batches=1,
                   bytes_per_domain=20_000, num_experts=4, control_experts=4, lr_grid=(3e-3,))
PAPER_SIZES = dict(d_model=64, d_ff=128, seq_len=64, steps=1500, batch_size=32, eval_every=100, eval_batches=4,
                   bytes_per_domain=200_000, num_seeds=5)


# The calibrated knowledge regime, where moe_vs_dense's quick run resolves both positive controls
# (experiments/moe_vs_dense.py's docstring is the calibration record): the knowledge domain alone,
# 64 entities x 4 attributes rendered 64 ways, 2,000 steps of 32 x 64 bytes (every fact seen 1,000
# times), a one-block decoder (d_model 32, FFN 32), weight decay 0, rates {3e-3, 6e-3, 1e-2}, and
# the fact loss as the declared measure. moe_vs_dense's quick is exactly this; any causal study
# can run in it (in_knowledge_regime, or `routerlab run NAME --scale quick` with knowledge_sets()).
KNOWLEDGE_QUICK: dict[str, Any] = dict(
    domains=(kn.KNOWLEDGE,), entities=64, renderings=64, measure="fact_loss", weight_decay=0.0, d_model=32,
    n_layers=1, d_ff=32, seq_len=64, batch_size=32, steps=2000, eval_every=250, eval_batches=2,
    lr_grid=(3e-3, 6e-3, 1e-2))


def in_knowledge_regime(base: C, **overrides: Any) -> C:
    """``base`` in the calibrated knowledge regime (:data:`KNOWLEDGE_QUICK`), then ``overrides``
    (``lr_policy="transfer"``, say)."""
    return replace(base, **{**KNOWLEDGE_QUICK, **overrides})


def knowledge_sets() -> list[str]:
    """:data:`KNOWLEDGE_QUICK` as the CLI's ``--set KEY=VALUE`` assignments (JSON values)."""
    import json

    return [f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in KNOWLEDGE_QUICK.items()]


def at_scale(base: C, scale: str, *, smoke: dict[str, Any] | None = None, paper: dict[str, Any] | None = None) -> C:
    """``base`` at ``scale``: the shared sizes of that scale, then the experiment's own ``smoke``/``paper`` fields."""
    if scale == "quick":
        return base
    if scale == "smoke":
        return replace(base, **{**SMOKE_SIZES, **(smoke or {})})
    if scale == "paper":
        return replace(base, **{**PAPER_SIZES, **(paper or {})})
    raise ValueError(f"unknown scale {scale!r}")
