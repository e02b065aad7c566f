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
from routerlab.runtime import FAST_COMPILE
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.step import TrainState, split_model

__all__ = ["make_schedule", "make_optimizer", "init_state"]


def make_schedule(cfg: TrainConfig, peak: jax.Array | None = None) -> optax.Schedule:
    """Linear warmup from 0 to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``steps``.

    ``peak``: the peak rate as an array (traced, say) in place of ``cfg.lr``; the schedule is
    then built as ``optax.warmup_cosine_decay_schedule`` builds its own (a linear warmup joined
    to a cosine decay with ``alpha = min_lr_ratio``), which that function cannot do with a
    traced peak, so a step count gives the same float32 value either way
    (``tests/train/test_engine.py`` checks it bit for bit over a run's steps)."""
    if peak is None:
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=cfg.lr,
            warmup_steps=cfg.warmup_steps,
            decay_steps=cfg.steps,
            end_value=cfg.lr * cfg.min_lr_ratio,
        )
    return optax.join_schedules([
        optax.linear_schedule(init_value=0.0, end_value=peak, transition_steps=cfg.warmup_steps),
        optax.cosine_decay_schedule(init_value=peak, decay_steps=cfg.steps - cfg.warmup_steps,
                                    alpha=cfg.min_lr_ratio),
    ], [cfg.warmup_steps])


def _adamw(cfg: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    adamw = optax.adamw(
        schedule,
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        mask=lambda params: jax.tree.map(lambda p: p.ndim >= 2, params),
    )
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adamw) if cfg.grad_clip > 0 else adamw


def make_optimizer(cfg: TrainConfig, *, lr_in_state: bool = False) -> optax.GradientTransformation:
    """Global-norm clipping then AdamW on :func:`make_schedule`; decay on matrices only.

    ``lr_in_state``: the peak rate is *data*, not a constant of the program. It is held in the
    optimiser state (``optax.inject_hyperparams``: ``opt_state.hyperparams["peak_lr"]``, set
    to ``cfg.lr`` by ``init``), so that one compiled update serves every rate of a
    learning-rate grid: the update built from
    a config with any ``lr`` trains at the rate its state holds, with the schedule of
    :func:`make_schedule` ``(cfg, peak_lr)``: the plain optimiser's update, bit for bit on
    the rates and configurations ``tests/train/test_engine.py`` checks (the float32 values of
    the schedule agree exactly; ``alpha`` is ``min_lr_ratio`` here and ``(lr * min_lr_ratio) /
    lr`` in optax's own, which round to the same float32 for every rate the test tries).
    """
    if not lr_in_state:
        return _adamw(cfg, make_schedule(cfg))

    def factory(peak_lr: jax.Array) -> optax.GradientTransformation:
        return _adamw(cfg, make_schedule(cfg, peak_lr))

    return optax.inject_hyperparams(factory)(peak_lr=cfg.lr)


def _init_model(model_cfg: LMConfig, key: jax.Array) -> tuple[nnx.State, nnx.State]:
    _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=key)))
    return params, rest


@functools.lru_cache(maxsize=8)
def _init_model_fn(model_cfg: LMConfig) -> Callable[[jax.Array], tuple[nnx.State, nnx.State]]:
    # One compiled program instead of an eager dispatch per parameter, at LLVM level 1: a third
    # of the default's compile time, bit for bit the same parameters (tests/train/test_state_init.py).
    return jax.jit(functools.partial(_init_model, model_cfg), compiler_options=FAST_COMPILE)


@functools.lru_cache(maxsize=8)
def _init_opt_fn(train_cfg: TrainConfig, lr_in_state: bool = False) -> Callable[[nnx.State], Any]:
    return jax.jit(make_optimizer(train_cfg, lr_in_state=lr_in_state).init, compiler_options=FAST_COMPILE)


def init_state(cfg: LMRunConfig, *, lr_in_state: bool = False) -> TrainState:
    """The initial :class:`TrainState`: parameters drawn from the ``params`` key stream.
    ``lr_in_state``: the optimiser state of :func:`make_optimizer`'s ``lr_in_state`` form,
    holding ``cfg.train.lr``. Called under a caller's ``jax.jit`` (``init_sharded_state``), it
    traces into that program (compile options belong to the outermost jit only)."""
    key = KeyStreams(cfg.seed)("params")
    if isinstance(key, jax.core.Tracer):
        params, rest = _init_model(cfg.model, key)
        return TrainState(params, rest, make_optimizer(cfg.train, lr_in_state=lr_in_state).init(params))
    params, rest = _init_model_fn(cfg.model)(key)
    return TrainState(params, rest, _init_opt_fn(cfg.train, lr_in_state)(params))
