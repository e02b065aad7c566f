"""Router auxiliary losses. All take float32 router outputs and return float32 scalars.

Load-balance normalisation, compared with peers (``N = E`` experts, ``T`` tokens, ``k``
experts per token):

* Here ``f_i`` is the fraction of the ``T * k`` token->expert *assignments* sent to expert
  ``i`` (so ``sum_i f_i = 1``) and ``P_i`` the mean router probability of expert ``i``. The
  loss ``N * sum_i f_i P_i`` equals 1 under uniform routing for every ``k``, so its weight
  means the same thing whatever ``k`` is.
* Switch Transformer (Fedus et al. 2021) is the ``k = 1`` case, where the two conventions agree.
* GShard (Lepikhin et al. 2020) uses only the top-1 choice for ``f`` even with top-2 routing.
* Implementations that normalise the counts by ``T`` instead of ``T * k`` (e.g. the Hugging
  Face Transformers Mixtral loss, which sums per-slot fractions) get ``k`` at uniform
  routing, so the same weight is ``k`` times stronger there.
* DeepSeek-V3's sequence-wise balance loss (``f_i = N / (k T) * count_i``) is exactly this
  normalisation, applied per sequence rather than per batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["load_balance_loss", "z_loss", "router_entropy"]


def load_balance_loss(probs: jax.Array, expert_index: jax.Array) -> jax.Array:
    """Switch load-balance loss ``N * sum_i f_i * P_i`` (Fedus et al. 2021, eq. 4).

    Args:
      probs: ``[T, N]`` router distribution over experts (rows sum to 1).
      expert_index: ``[T, k]`` selected experts. ``f`` counts selections before any
        capacity dropping, and is piecewise constant: gradients flow only through ``P``.

    Returns:
      Scalar; 1 under uniform routing (``f_i = P_i = 1/N``) for any ``k``. When the router
      sends tokens where its probability mass is (``f = P``) it is ``N * sum_i P_i^2 >= 1``,
      with equality only at uniform, which is what the loss pushes towards.
    """
    num_tokens, top_k = expert_index.shape
    num_experts = probs.shape[-1]
    counts = jnp.bincount(expert_index.reshape(num_tokens * top_k), length=num_experts)
    fraction = counts.astype(jnp.float32) / (num_tokens * top_k)
    return num_experts * jnp.sum(fraction * jnp.mean(probs, axis=0))


def z_loss(logits: jax.Array) -> jax.Array:
    """Router z-loss (ST-MoE, Zoph et al. 2022, eq. 5): ``mean_t logsumexp(logits_t)^2``.

    Keeps router logits small so the softmax stays in float32's accurate range.
    """
    return jnp.mean(jnp.square(jax.nn.logsumexp(logits.astype(jnp.float32), axis=-1)))


def router_entropy(probs: jax.Array) -> jax.Array:
    """Mean over tokens of the entropy (nats) of the router distribution ``probs [T, N]``.

    ``log N`` for a uniform router, 0 for a one-hot one.
    """
    return jnp.mean(jnp.sum(jax.scipy.special.entr(probs), axis=-1))
