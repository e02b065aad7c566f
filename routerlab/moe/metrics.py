"""Per-layer routing health metrics: cheap reductions, all usable inside ``jit``.

``load`` below is the *expert load histogram*: the fraction of the ``T * k`` token->expert
assignments routed to each expert (before capacity dropping), summing to 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from routerlab.moe.losses import router_entropy

__all__ = [
    "expert_load",
    "max_violation",
    "load_cv",
    "dead_experts",
    "dropped_fraction",
    "router_entropy",
    "router_confidence",
]


def expert_load(expert_index: jax.Array, num_experts: int) -> jax.Array:
    """``[E]`` float32 fraction of the assignments ``expert_index [T, k]`` sent to each expert."""
    counts = jnp.bincount(expert_index.reshape(-1), length=num_experts)
    return counts.astype(jnp.float32) / expert_index.size


def max_violation(load: jax.Array) -> jax.Array:
    """MaxVio ``= max_i load_i / mean(load) - 1`` (Wang et al. 2024, DeepSeek-V3); 0 is balanced."""
    return jnp.max(load) / jnp.mean(load) - 1.0


def load_cv(load: jax.Array) -> jax.Array:
    """Coefficient of variation of the load, ``std / mean`` (population std); 0 is balanced."""
    return jnp.std(load) / jnp.mean(load)


def dead_experts(load: jax.Array) -> jax.Array:
    """Number of experts that received no assignment (int32)."""
    return jnp.sum(load == 0).astype(jnp.int32)


def dropped_fraction(dropped: jax.Array) -> jax.Array:
    """Fraction of assignments dropped for lack of capacity, from ``dropped [T, k]`` bool."""
    return jnp.mean(dropped.astype(jnp.float32))


def router_confidence(probs: jax.Array) -> jax.Array:
    """Mean over tokens of the router's top probability; ``1/N`` uniform, 1 one-hot."""
    return jnp.mean(jnp.max(probs, axis=-1))
