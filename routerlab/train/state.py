"""Training state construction: the optimiser, its schedule, and the initial :class:`TrainState`.

Its own module so that everything that builds a state (the loop, :mod:`routerlab.parallel`,
the seed-batched sweeps, the fleet) imports it without importing the loop, and
:mod:`routerlab.parallel` never sits in an import circle with :mod:`routerlab.train.loop`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import optax
from flax import nnx

from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.rng import KeyStreams
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.step import TrainState, split_model

__all__ = ["make_schedule", "make_optimizer", "init_state"]


def make_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warmup from 0 to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        decay_steps=cfg.steps,
        end_value=cfg.lr * cfg.min_lr_ratio,
    )


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping then AdamW on :func:`make_schedule`; decay on matrices only."""
    adamw = optax.adamw(
        make_schedule(cfg),
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        mask=lambda params: jax.tree.map(lambda p: p.ndim >= 2, params),
    )
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adamw) if cfg.grad_clip > 0 else adamw


@functools.lru_cache(maxsize=8)
def _init_model_fn(model_cfg: LMConfig) -> Callable[[jax.Array], tuple[nnx.State, nnx.State]]:
    def init(key: jax.Array) -> tuple[nnx.State, nnx.State]:
        _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=key)))
        return params, rest

    return jax.jit(init)  # one compiled program instead of an eager dispatch per parameter


@functools.lru_cache(maxsize=8)
def _init_opt_fn(train_cfg: TrainConfig) -> Callable[[nnx.State], Any]:
    return jax.jit(make_optimizer(train_cfg).init)


def init_state(cfg: LMRunConfig) -> TrainState:
    """The initial :class:`TrainState`: parameters drawn from the ``params`` key stream."""
    params, rest = _init_model_fn(cfg.model)(KeyStreams(cfg.seed)("params"))
    return TrainState(params, rest, _init_opt_fn(cfg.train)(params))
