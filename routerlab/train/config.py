"""Configs of a language-model training run: optimisation, schedule, logging, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from routerlab.config import check
from routerlab.models.config import LMConfig
from routerlab.models.corpus import VOCAB_SIZE, CorpusConfig
from routerlab.parallel.mesh import MeshConfig

__all__ = ["TrainConfig", "LMRunConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and bookkeeping of :func:`routerlab.train.train`.

    The optimiser is AdamW after global-norm clipping, on a linear warmup from 0 to ``lr``
    over ``warmup_steps`` followed by a cosine decay to ``lr * min_lr_ratio`` at ``steps``.
    Weight decay applies to matrices only (parameters with ``ndim >= 2``), not to norm
    scales. Step ``s`` (1-based) is the ``s``-th update; records and checkpoints are
    labelled with it.

    Attributes:
      steps: optimiser updates.
      batch_size: sequences per update.
      lr: peak learning rate.
      warmup_steps: linear-warmup updates (``< steps``).
      min_lr_ratio: final learning rate as a fraction of ``lr``.
      weight_decay: decoupled AdamW weight decay.
      b1, b2, eps: Adam moments.
      grad_clip: global-norm clip; ``0`` disables it.
      log_every: write a ``train`` record every this many steps (and at the last).
      eval_every: write a ``val`` record every this many steps (and at the last).
      eval_batches: validation batches per domain per evaluation (``batch_size`` windows
        each, all of one domain); the final ``test`` evaluation uses every full batch.
      ckpt_every: checkpoint every this many steps (and at the last).
      ckpt_keep: checkpoints kept (the newest).
      router_noise: pass a per-step ``router_noise`` key to MoE layers while training
        (their config decides whether any noise is applied).
      objective: ``"next_token"`` (next-byte cross-entropy; needs a causal model) or
        ``"masked"`` (masked-byte cross-entropy at ``mask_rate`` of the positions; needs a
        bidirectional model, ``model.causal=false``). See :mod:`routerlab.train.objective`.
      mask_rate: fraction of positions masked per sequence by the masked objective.
    """

    steps: int = 1_000
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 8
    ckpt_every: int = 100
    ckpt_keep: int = 3
    router_noise: bool = True
    objective: Literal["next_token", "masked"] = "next_token"
    mask_rate: float = 0.15

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "eval_every", "eval_batches", "ckpt_every", "ckpt_keep"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(0 <= self.warmup_steps < self.steps, "warmup_steps",
              f"must be in [0, steps={self.steps}); got {self.warmup_steps}")
        check(self.lr > 0, "lr", f"must be > 0; got {self.lr}")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1]; got {self.min_lr_ratio}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0; got {self.weight_decay}")
        check(0 <= self.b1 < 1, "b1", f"must be in [0, 1); got {self.b1}")
        check(0 <= self.b2 < 1, "b2", f"must be in [0, 1); got {self.b2}")
        check(self.eps > 0, "eps", f"must be > 0; got {self.eps}")
        check(self.grad_clip >= 0, "grad_clip", f"must be >= 0 (0 disables clipping); got {self.grad_clip}")
        check(self.objective in ("next_token", "masked"), "objective",
              f"must be 'next_token' or 'masked'; got {self.objective!r}")
        check(0 < self.mask_rate < 1, "mask_rate", f"must be in (0, 1); got {self.mask_rate}")


@dataclass(frozen=True)
class LMRunConfig:
    """One language-model training run: model, corpus, training and the seed.

    ``seed`` names every random stream of the run (:class:`routerlab.rng.KeyStreams`):
    ``params`` (initialisation), ``data`` (batch order), ``router_noise`` and ``mask`` (the
    masked objective's training masks). The corpus text has its own ``data.seed``.
    ``train.objective`` must suit ``model.causal``: next-byte prediction for a causal
    decoder, masked bytes for a bidirectional encoder.
    """

    model: LMConfig = field(default_factory=LMConfig)
    data: CorpusConfig = field(default_factory=CorpusConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    mesh: MeshConfig | None = None  # e.g. {data: 2, expert: 4}; None: one device, no sharding

    def __post_init__(self) -> None:
        if self.mesh is not None:
            check(self.train.batch_size % self.mesh.size == 0, "train.batch_size",
                  f"must be divisible by the mesh's {self.mesh.size} devices; got {self.train.batch_size}")
        check(self.model.vocab_size >= VOCAB_SIZE, "model.vocab_size",
              f"must be >= {VOCAB_SIZE} (the corpus is ASCII); got {self.model.vocab_size}")
        if self.train.objective == "masked":
            check(not self.model.causal, "train.objective",
                  "'masked' needs a bidirectional model: set model.causal=false (a causal model "
                  "cannot see the bytes after a mask)")
        else:
            check(self.model.causal, "train.objective",
                  "'next_token' needs a causal model: with model.causal=false the model sees the "
                  "next byte in its input and copies it; set train.objective=masked")
