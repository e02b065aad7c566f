"""RL-R: a top-1 router trained by REINFORCE (Clark et al. 2022, "Unified Scaling Laws for Routed Language Models").

:class:`ReinforceMoELayer` is a :class:`~routerlab.moe.MoELayer` (``router="top_k"``, ``top_k=1``)
whose routing is a *policy*: while training (a ``key`` is passed) each token's expert is
**sampled** from ``pi(. | x) = softmax(router logits)``; at evaluation (``key=None``) it is the
argmax. The chosen expert's output enters the residual stream with gate 1, so the task loss
sends no gradient to the router through the output (unlike Switch, whose gate is the router
probability): the router learns only from

* the policy-gradient loss of :func:`reinforce_loss`,
  ``-mean_t[(R_t - b) * log pi(e_t | x_t)]`` with reward ``R_t = -CE_t``, the token's own
  next-token cross-entropy (no gradient), and baseline ``b`` the batch mean of ``R``;
* the layer's configured load-balance and z-losses (``aux.loss``), as in Clark et al.

The layer's aux is :class:`ReinforceAux`: :class:`~routerlab.moe.MoEAux`'s fields plus
``logp [T]``, the log-probability of each token's chosen expert. :func:`reinforce_lm_loss`
is the LM loss of :func:`routerlab.train.step.lm_loss` plus ``pg_weight`` times the policy
loss of every RL-R layer; :func:`reinforce_lm` swaps the MoE layers of an :class:`~routerlab.models.LM`
for RL-R layers (same parameters, same paths).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from routerlab.moe.config import MoEConfig
from routerlab.moe.dispatch import dropless_dispatch
from routerlab.moe.layer import ACTIVATIONS, MoEAux, MoELayer, _summarize
from routerlab.moe.losses import load_balance_loss
from routerlab.moe.metrics import dropped_fraction, expert_load
from routerlab.moe.routers import router_logits

__all__ = ["ReinforceAux", "ReinforceMoELayer", "reinforce_loss", "reinforce_lm", "reinforce_lm_loss", "check_config"]


# MoEAux's fields, in order, plus ``logp``: derived, so the two never drift apart.
ReinforceAux = NamedTuple("ReinforceAux", [*MoEAux.__annotations__.items(), ("logp", jax.Array)])
ReinforceAux.__doc__ = """:class:`~routerlab.moe.MoEAux` plus ``logp [T]``: log pi of each token's chosen expert."""


def check_config(cfg: MoEConfig) -> None:
    """RL-R samples one expert per token from a softmax and computes every assignment.

    It replaces the router's routing function by sampling, so the router must be one whose
    learned ``[d, E]`` logits can serve as the policy: learned, one logit per expert, no
    selection bias, token choice, and not mixing tokens (of the built-ins: ``top_k``).
    """
    spec = cfg.spec
    policy_router = (spec.learned and not spec.bias and spec.kind == "token_choice" and spec.mixes_tokens is None
                     and cfg.num_router_outputs == cfg.num_experts)
    if not policy_router or cfg.top_k != 1 or cfg.score_fn != "softmax" or cfg.capacity_factor is not None:
        raise ValueError("RL-R needs router='top_k' (a learned, unbiased, non-mixing token-choice router with "
                         "one logit per expert), top_k=1, softmax scores and dropless dispatch "
                         f"(capacity_factor=None); got router={cfg.router!r}, top_k={cfg.top_k}, "
                         f"score={cfg.score_fn!r}, capacity_factor={cfg.capacity_factor}")


class ReinforceMoELayer(MoELayer):
    """Top-1 MoE whose expert is sampled from the router policy in training (see module doc)."""

    def __init__(self, cfg: MoEConfig, *, rngs: nnx.Rngs):
        check_config(cfg)
        super().__init__(cfg, rngs=rngs)

    def _token_choice(self, tokens, key, token_ids, w_in, w_out) -> tuple[jax.Array, ReinforceAux]:
        del token_ids
        cfg = self.cfg
        logits = router_logits(tokens, self.router[...])  # the policy's logits: no extra noise
        log_pi = jax.nn.log_softmax(logits, axis=-1)
        if key is None:
            choice = jnp.argmax(logits, axis=-1)
        else:
            choice = jax.random.categorical(key, jax.lax.stop_gradient(logits), axis=-1)
        choice = choice.astype(jnp.int32)[:, None]  # [T, 1]
        gates = jnp.ones(choice.shape, tokens.dtype)
        out = dropless_dispatch(tokens, choice, gates, w_in, w_out, act=ACTIVATIONS[cfg.activation],
                                impl=cfg.dropless_impl, block_size=cfg.dropless_block_size)
        probs = jnp.exp(log_pi)
        load = expert_load(choice, cfg.num_experts)
        base = _summarize(cfg, load, dropped_fraction(out.dropped), probs, logits, load_balance_loss(probs, choice))
        logp = jnp.take_along_axis(log_pi, choice, axis=-1)[:, 0]
        return out.y, ReinforceAux(*base, logp=logp)


def reinforce_loss(logp: jax.Array, ce_per_token: jax.Array) -> jax.Array:
    """REINFORCE surrogate ``-mean[(R - mean R) * logp]`` with ``R = -CE`` (no gradient through ``R``).

    ``logp`` and ``ce_per_token`` hold the same tokens (any shape, flattened alike). Its gradient
    with respect to the router is the policy-gradient estimate ``-E[(R - b) grad log pi]`` with
    the batch-mean baseline ``b``.
    """
    reward = -jax.lax.stop_gradient(ce_per_token.reshape(-1)).astype(jnp.float32)
    advantage = reward - jnp.mean(reward)
    return -jnp.mean(advantage * logp.reshape(-1))


def reinforce_lm(model: nnx.Module) -> nnx.Module:
    """``model`` (an :class:`~routerlab.models.LM`) with each MoE FFN replaced by an RL-R layer
    holding the same parameter values (in place; returns ``model``)."""
    for block in model.layers:
        if isinstance(block.ffn, MoELayer) and not isinstance(block.ffn, ReinforceMoELayer):
            old = block.ffn
            new = ReinforceMoELayer(old.cfg, rngs=nnx.Rngs(0))
            nnx.update(new, nnx.state(old))
            block.ffn = new
    return model


def reinforce_lm_loss(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State, tokens: jax.Array,
                      key: jax.Array | None, pg_weight: float) -> tuple[jax.Array, tuple[Any, ...]]:
    """:func:`routerlab.train.step.lm_loss` plus ``pg_weight *`` the policy loss of every RL-R layer.

    Returns ``(loss, (ce, aux_loss + pg_weight * pg, aux, ce_per_sequence))``, the structure
    of ``lm_loss``, so a train step can use it in its place.
    """
    model = nnx.merge(graphdef, params, rest)
    logits, aux = model(tokens[:, :-1], key=key)
    ce_tok = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
    ce = jnp.mean(ce_tok)
    extra = jnp.zeros((), jnp.float32)
    for layer_aux in aux.values():
        extra = extra + jnp.asarray(layer_aux.loss, jnp.float32)
        if isinstance(layer_aux, ReinforceAux):
            extra = extra + pg_weight * reinforce_loss(layer_aux.logp, ce_tok)
    return ce + extra, (ce, extra, aux, jnp.mean(ce_tok, axis=1))
