"""The contract every policy and environment in :mod:`routerlab.bandits` shares.

A router picks one of ``K`` arms (models) per query and sees only that arm's outcome.
One round is described by a :class:`Context`: the query features ``x``, per-arm features
``arms`` (so a model that joins the fleet is described, not just numbered), a feasibility
``mask`` and the per-arm ``cost`` known before choosing (price x tokens in routing), plus
``lam``, the weight of cost in the reward ``r = quality - lam * cost``.

Because ``-lam * cost`` is known ex ante, every learning policy models only the unknown part
``y = r + lam * cost[arm]`` (the quality) and adds ``-lam * cost`` back when it scores arms.
A policy therefore learns one quality model whatever ``lam`` is, and a Lagrangian budget
wrapper (:mod:`routerlab.bandits.cost`) can move its price without invalidating what was
learnt. When cost is not known ex ante, set ``cost`` to zero (or a prior estimate): the
policy then learns whatever part of ``r`` it is not told.

Policies are optax-style triples of pure functions (:class:`Policy`); hyperparameters are
stored in the state at ``init`` time, so ``jax.vmap(lambda a: linucb(alpha=a).init(k, s))``
yields a batch of policies, and ``select``/``update`` read them only from the state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from routerlab.config import check

__all__ = [
    "BanditSpec",
    "Context",
    "Round",
    "Policy",
    "Env",
    "make_context",
    "known_reward",
    "residual",
    "masked_argmax",
    "masked_probs",
    "num_feasible",
]

PyTree = Any


@dataclasses.dataclass(frozen=True)
class BanditSpec:
    """Static shapes of a problem: ``num_arms`` K, context ``dim`` d, arm-feature ``arm_dim`` p."""

    num_arms: int
    dim: int
    arm_dim: int = 0

    def __post_init__(self):
        check(self.num_arms >= 2, "num_arms", f"must be >= 2; got {self.num_arms}")
        check(self.dim >= 1, "dim", f"must be >= 1; got {self.dim}")
        check(self.arm_dim >= 0, "arm_dim", f"must be >= 0; got {self.arm_dim}")


class Context(NamedTuple):
    """What a policy sees before choosing (one round, unbatched)."""

    x: jax.Array  # [d] query features
    arms: jax.Array  # [K, p] arm features (p may be 0)
    mask: jax.Array  # [K] bool: feasible arms; infeasible arms are never chosen
    cost: jax.Array  # [K] cost of each arm known before choosing (0 when unknown)
    lam: jax.Array  # [] cost weight in r = quality - lam * cost


class Round(NamedTuple):
    """One round of an environment, full information: the simulator reveals only ``[arm]``."""

    context: Context
    quality: jax.Array  # [K] realized quality of every arm
    cost: jax.Array  # [K] realized cost of every arm
    mean_quality: jax.Array  # [K] E[quality | x], for the regret oracle
    mean_cost: jax.Array  # [K] E[cost | x]


class Policy(NamedTuple):
    """A bandit policy as three pure functions (jit-, scan- and vmap-able).

    * ``init(key, spec) -> state``
    * ``select(state, context, key) -> (arm, propensity)``; ``propensity`` is the
      probability the policy had of choosing ``arm`` (1.0 for deterministic policies).
    * ``update(state, context, arm, reward) -> state`` with ``reward = quality - lam * cost``.
    """

    init: Callable[[jax.Array, BanditSpec], PyTree]
    select: Callable[[PyTree, Context, jax.Array], tuple[jax.Array, jax.Array]]
    update: Callable[[PyTree, Context, jax.Array, jax.Array], PyTree]


@dataclasses.dataclass(frozen=True, eq=False)
class Env:
    """A pure environment: ``step(params, key, t) -> Round``, with ``params`` as data.

    There is no mutable environment state: a drifting environment is a function of ``t``.
    ``params`` is a pytree, so a batch of environments of one kind (stacked ``params``)
    is a vmap axis of the simulator.
    """

    name: str
    spec: BanditSpec
    step: Callable[[PyTree, jax.Array, jax.Array], Round]
    params: PyTree


def make_context(x, *, num_arms: int, arms=None, mask=None, cost=None, lam=0.0) -> Context:
    """A :class:`Context` with defaults: no arm features, all feasible, zero cost, ``lam=0``."""
    x = jnp.asarray(x, jnp.float32)
    arms = jnp.zeros((num_arms, 0), jnp.float32) if arms is None else jnp.asarray(arms, jnp.float32)
    mask = jnp.ones((num_arms,), bool) if mask is None else jnp.asarray(mask, bool)
    cost = jnp.zeros((num_arms,), jnp.float32) if cost is None else jnp.asarray(cost, jnp.float32)
    return Context(x, arms, mask, cost, jnp.asarray(lam, jnp.float32))


def known_reward(context: Context) -> jax.Array:
    """The part of each arm's reward known before choosing: ``-lam * cost``, shape [K]."""
    return -context.lam * context.cost


def residual(context: Context, arm: jax.Array, reward: jax.Array) -> jax.Array:
    """The part of ``reward`` a policy has to learn: ``reward + lam * cost[arm]``."""
    return reward - known_reward(context)[arm]


def masked_argmax(scores: jax.Array, mask: jax.Array) -> jax.Array:
    """Index of the largest feasible score (first on ties)."""
    return jnp.argmax(jnp.where(mask, scores, -jnp.inf))


def num_feasible(mask: jax.Array) -> jax.Array:
    return jnp.maximum(jnp.sum(mask), 1).astype(jnp.float32)


def masked_probs(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Softmax over feasible arms; infeasible arms get probability exactly 0."""
    logits = jnp.where(mask, logits, -jnp.inf)
    return jax.nn.softmax(logits)
