"""Routers: pure functions from router logits (or token ids) to an expert assignment.

Conventions:

* ``T`` tokens, ``E`` experts, ``k`` experts per token. Logits are ``[T, E]`` float32:
  :func:`router_logits` upcasts its input, because bfloat16 routers are unstable (Switch
  Transformer, Fedus et al. 2021, "selective precision").
* Selections (``top_k`` indices) carry no gradient; gates are gathered from the
  differentiable scores, so the router learns through the gates and the auxiliary losses.
* ``probs [T, E]`` is the router's distribution over experts, used by the load-balance loss
  and the metrics: the softmax, or for sigmoid scores the scores normalised to sum to 1
  (the ``s'`` of DeepSeek-V3's balance loss).
* Randomness (router noise) comes only from an explicit ``key``; ``key=None`` means no noise.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "Routing",
    "ExpertChoiceRouting",
    "SoftRouting",
    "router_logits",
    "router_scores",
    "top_k_route",
    "sinkhorn",
    "sinkhorn_route",
    "expert_choice_route",
    "soft_route",
    "hash_ids",
    "hash_route",
    "lsh_route",
    "update_router_bias",
]

Score = Literal["softmax", "sigmoid"]
Noise = Literal["none", "jitter", "gaussian"]


class Routing(NamedTuple):
    """Token-choice assignment: token ``t`` goes to experts ``expert_index[t]``.

    Attributes:
      expert_index: ``[T, k]`` int32 expert ids, best first.
      gates: ``[T, k]`` float32 combine weights.
      logits: ``[T, E]`` float32 router logits; ``None`` for routers without (hash).
      probs: ``[T, E]`` float32 router distribution over experts.
    """

    expert_index: jax.Array
    gates: jax.Array
    logits: jax.Array | None
    probs: jax.Array


class ExpertChoiceRouting(NamedTuple):
    """Expert-choice assignment: expert ``e`` processes tokens ``token_index[e]``.

    Attributes:
      token_index: ``[E, C]`` int32 token ids, best first.
      gates: ``[E, C]`` float32 combine weights (the tokens' scores for that expert).
      logits, probs: ``[T, E]`` float32, as in :class:`Routing`.
    """

    token_index: jax.Array
    gates: jax.Array
    logits: jax.Array
    probs: jax.Array


class SoftRouting(NamedTuple):
    """Soft MoE weights over ``S = E * slots_per_expert`` slots (slot ``s`` -> expert ``s // p``).

    Attributes:
      dispatch: ``[T, S]``, each column a softmax over tokens (slot input = weighted mean).
      combine: ``[T, S]``, each row a softmax over slots (token output = weighted mean).
      logits: ``[T, S]`` float32.
    """

    dispatch: jax.Array
    combine: jax.Array
    logits: jax.Array


def router_logits(
    x: jax.Array,
    weight: jax.Array,
    *,
    noise: Noise = "none",
    eps: float = 0.0,
    key: jax.Array | None = None,
) -> jax.Array:
    """Float32 router logits ``x @ weight``, optionally noised.

    Args:
      x: ``[T, d]`` tokens in any float dtype; upcast to float32 first.
      weight: ``[d, E]`` router weight.
      noise: ``"jitter"`` multiplies the router input by ``U(1 - eps, 1 + eps)`` (Switch
        Transformer; only the router sees the jittered input). ``"gaussian"`` adds
        ``eps * N(0, 1)`` to the logits: the noisy top-k gating of Shazeer et al. 2017 with a
        fixed rather than learned noise scale. ``"none"``: no noise.
      eps: jitter half-width or Gaussian standard deviation.
      key: PRNG key for the noise; ``None`` disables noise (evaluation).

    Returns:
      ``[T, E]`` float32 logits, computed at full float32 matmul precision.
    """
    x = x.astype(jnp.float32)
    if key is not None and noise == "jitter":
        x = x * jax.random.uniform(key, x.shape, jnp.float32, 1.0 - eps, 1.0 + eps)
    logits = jnp.dot(x, weight.astype(jnp.float32), precision=jax.lax.Precision.HIGHEST)
    if key is not None and noise == "gaussian":
        logits = logits + eps * jax.random.normal(key, logits.shape, jnp.float32)
    return logits


def router_scores(logits: jax.Array, score: Score = "softmax") -> tuple[jax.Array, jax.Array]:
    """``(scores, probs)``: per-expert scores used as gates, and the router distribution."""
    if score == "softmax":
        probs = jax.nn.softmax(logits, axis=-1)
        return probs, probs
    if score == "sigmoid":
        scores = jax.nn.sigmoid(logits)
        return scores, scores / jnp.sum(scores, axis=-1, keepdims=True)
    raise ValueError(f"score must be 'softmax' or 'sigmoid'; got {score!r}")


def _gather_gates(scores: jax.Array, index: jax.Array, renormalize: bool) -> jax.Array:
    gates = jnp.take_along_axis(scores, index, axis=-1)
    if renormalize:
        gates = gates / jnp.sum(gates, axis=-1, keepdims=True)
    return gates


def top_k_route(
    logits: jax.Array,
    k: int,
    *,
    score: Score = "softmax",
    renormalize: bool = False,
    bias: jax.Array | None = None,
) -> Routing:
    """Token-choice top-k routing (Shazeer et al. 2017; GShard; Switch when ``k = 1``).

    Each token picks the ``k`` experts with the highest ``score + bias``; its gates are the
    *unbiased* scores of those experts, divided by their sum when ``renormalize``.

    ``bias [E]`` is the auxiliary-loss-free balancing bias (Wang et al. 2024, DeepSeek-V3):
    it only decides which experts are selected and never weights their outputs. It is
    treated as a constant (no gradient).
    """
    scores, probs = router_scores(logits, score)
    select = jax.lax.stop_gradient(scores)
    if bias is not None:
        select = select + jax.lax.stop_gradient(bias).astype(select.dtype)[None, :]
    _, index = jax.lax.top_k(select, k)
    return Routing(index.astype(jnp.int32), _gather_gates(scores, index, renormalize), logits, probs)


def sinkhorn(logits: jax.Array, num_iters: int) -> jax.Array:
    """Log of an approximately balanced transport plan between tokens and experts.

    Finds ``log P = logits + a[:, None] + b[None, :]`` whose rows sum to 1 (each token is one
    unit) and whose columns sum to ``T / E`` (every expert equally loaded), by alternating
    log-domain normalisations (Sinkhorn-Knopp; Cuturi 2013). It ends on a row normalisation,
    so rows are exact and columns approximate. Since ``a`` is constant along a row, the
    per-token ranking of ``log P`` is that of ``logits + b``: ``b`` is a per-batch expert
    bias, solved for exactly where DeepSeek-V3 accumulates one across steps.
    """
    num_tokens, num_experts = logits.shape
    log_col = jnp.log(num_tokens / num_experts)

    def body(_, potentials):
        a, _ = potentials
        b = log_col - jax.nn.logsumexp(logits + a[:, None], axis=0)
        a = -jax.nn.logsumexp(logits + b[None, :], axis=1)
        return a, b

    init = (jnp.zeros(num_tokens, logits.dtype), jnp.zeros(num_experts, logits.dtype))
    a, b = jax.lax.fori_loop(0, num_iters, body, init)
    return logits + a[:, None] + b[None, :]


def sinkhorn_route(
    logits: jax.Array,
    k: int,
    *,
    num_iters: int = 8,
    score: Score = "softmax",
    renormalize: bool = False,
) -> Routing:
    """Balanced assignment routing: BASE layers (Lewis et al. 2021) via Sinkhorn, as in S-BASE
    (Clark et al. 2022).

    A few Sinkhorn iterations on the (stop-gradient) logits give a balanced plan; each token
    takes its top-``k`` experts under that plan. Gates are the router's own scores of the
    chosen experts, so gradients flow as in :func:`top_k_route`. Balancing couples all
    tokens of the call; BASE routes greedily (plain top-k) at inference.
    """
    plan = sinkhorn(jax.lax.stop_gradient(logits), num_iters)
    _, index = jax.lax.top_k(plan, k)
    scores, probs = router_scores(logits, score)
    return Routing(index.astype(jnp.int32), _gather_gates(scores, index, renormalize), logits, probs)


def expert_choice_route(logits: jax.Array, capacity: int, *, score: Score = "softmax") -> ExpertChoiceRouting:
    """Expert-choice routing (Zhou et al. 2022): each expert takes its top-``capacity`` tokens.

    Scores are computed per token over experts (softmax by default), then each expert
    column keeps its ``capacity`` highest-scoring tokens; the gate is that score. Loads are
    perfectly balanced, but a token may get several experts or none, and the choice depends
    on every token of the group: not causal.
    """
    scores, probs = router_scores(logits, score)
    _, token_index = jax.lax.top_k(jax.lax.stop_gradient(scores).T, capacity)
    gates = jnp.take_along_axis(scores.T, token_index, axis=1)
    return ExpertChoiceRouting(token_index.astype(jnp.int32), gates, logits, probs)


def soft_route(logits: jax.Array) -> SoftRouting:
    """Soft MoE routing (Puigcerver et al. 2023) from slot logits ``[T, S]``.

    Dispatch weights are a softmax over tokens for each slot; combine weights a softmax over
    slots for each token. (The paper also l2-normalises tokens and slot parameters with a
    learned scale; here the logits are used as given.) Every slot mixes every token: not causal.
    """
    return SoftRouting(jax.nn.softmax(logits, axis=0), jax.nn.softmax(logits, axis=1), logits)


def hash_ids(token_ids: jax.Array, salt: jax.Array) -> jax.Array:
    """A fixed 32-bit hash of integer ids: the murmur3 finaliser of ``id ^ salt``."""
    h = token_ids.astype(jnp.uint32) ^ jnp.asarray(salt, jnp.uint32)
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _one_hot_routing(index: jax.Array, num_experts: int) -> Routing:
    index = index.astype(jnp.int32)[:, None]
    probs = jax.nn.one_hot(index[:, 0], num_experts, dtype=jnp.float32)
    return Routing(index, jnp.ones(index.shape, jnp.float32), None, probs)


def hash_route(token_ids: jax.Array, num_experts: int, salt: jax.Array) -> Routing:
    """Hash layers (Roller et al. 2021): token id ``v`` always goes to expert ``hash(v) mod E``.

    The assignment is fixed before training and ignores context; the gate is 1 and there is
    no router to learn, so ``logits`` is ``None`` and ``probs`` is the one-hot assignment.
    """
    return _one_hot_routing(hash_ids(token_ids, salt) % jnp.uint32(num_experts), num_experts)


def lsh_route(x: jax.Array, projection: jax.Array) -> Routing:
    """Hash routing for inputs without token ids: fixed random-projection LSH.

    Expert ``argmax_e <x, r_e>`` over ``E`` fixed Gaussian directions ``projection [d, E]``
    (never trained). Unlike :func:`hash_route`, which hashes the token *identity*, this
    hashes the continuous hidden state: nearby inputs (by angle) share an expert, the
    assignment is scale-invariant and it changes as the layers below learn.
    """
    scores = jnp.dot(jax.lax.stop_gradient(x).astype(jnp.float32), projection.astype(jnp.float32),
                     precision=jax.lax.Precision.HIGHEST)
    return _one_hot_routing(jnp.argmax(scores, axis=-1), projection.shape[-1])


def update_router_bias(bias: jax.Array, load: jax.Array, rate: float) -> jax.Array:
    """Auxiliary-loss-free balancing step (Wang et al. 2024; DeepSeek-V3 eq. 16):
    ``b_i <- b_i + rate * sign(mean(load) - load_i)``.

    Overloaded experts are pushed down, underloaded ones up, by a fixed step. ``load [E]``
    may be counts or fractions (only the sign matters); under data parallelism, aggregate it
    over all devices first so every replica applies the same update.
    """
    step = jnp.sign(jnp.mean(load) - load).astype(bias.dtype)
    return bias + jnp.asarray(rate, bias.dtype) * step
