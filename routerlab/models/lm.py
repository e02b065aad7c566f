"""A toy transformer LM whose FFNs are dense or Mixture-of-Experts per block.

A causal decoder by default; with ``LMConfig.causal=False`` a bidirectional encoder (no
attention mask, and MoE layers may mix tokens of a sequence: expert choice, Soft MoE,
Sinkhorn), trained on masked-byte prediction (:mod:`routerlab.train.objective`).
Pre-norm blocks with RMSNorm, multi-head attention with rotary (or learned)
positions, bias-free projections, tied (or untied) embeddings. See :class:`LMConfig` for
the exact architecture and :mod:`routerlab.models.accounting` for its parameter and FLOP
counts. Initialisation: embeddings (and an untied head) ``N(0, 0.02)``; attention
projections truncated-normal with fan-in variance, the output projection further scaled by
``1 / sqrt(2 L)`` (GPT-2); dense FFNs and experts use :mod:`routerlab.moe`'s fan-in init,
so a dense FFN starts exactly like one expert. Parameters live in float32; activations run in ``cfg.dtype`` with float32
accumulation, norms, softmaxes and logits.

Parameter paths (as in ``nnx.state(model)``)::

    embed.embedding                 [V, d]
    pos_embed.embedding             [T, d]        positions="learned" only
    layers.<i>.attn_norm.scale      [d]
    layers.<i>.attn.{wq,wk,wv}      [d, H, d/H]
    layers.<i>.attn.wo              [H, d/H, d]
    layers.<i>.ffn_norm.scale       [d]
    layers.<i>.ffn.{w_in,w_out}     [d, f], [f, d]     dense: routerlab.moe.DenseFFN
    layers.<i>.ffn.{w_in,w_out}     [E, d, f], [E, f, d]   MoE: routerlab.moe.MoELayer
    layers.<i>.ffn.router           [d, E]        (and router_bias, shared.*, per MoEConfig)
    final_norm.scale                [d]
    head.kernel                     [d, V]        tie_embeddings=False only
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from routerlab.models.config import LMConfig
from routerlab.moe.layer import DenseFFN, MoEAux, MoELayer

__all__ = ["LM", "Block", "Attention", "RMSNorm", "rotary", "causal_mask"]


def _dtype(cfg: LMConfig) -> jnp.dtype:
    return jnp.dtype(cfg.dtype)


def _normal(rngs: nnx.Rngs, shape: tuple[int, ...], std: float) -> jax.Array:
    return std * jax.random.truncated_normal(rngs.params(), -2.0, 2.0, shape, jnp.float32)


def _mm(spec: str, a: jax.Array, b: jax.Array) -> jax.Array:
    """``einsum`` in the dtype of ``a`` (weights cast to it), accumulated in float32."""
    return jnp.einsum(spec, a, b.astype(a.dtype), preferred_element_type=jnp.float32).astype(a.dtype)


class RMSNorm(nnx.Module):
    """``x / rms(x) * scale``, computed in float32, returned in the dtype of ``x``."""

    def __init__(self, dim: int, eps: float):
        self.scale = nnx.Param(jnp.ones((dim,), jnp.float32))
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x.astype(jnp.float32)
        h = h * jax.lax.rsqrt(jnp.mean(h * h, axis=-1, keepdims=True) + self.eps)
        scale = self.scale[...].reshape((1,) * (x.ndim - 1) + (-1,))
        return (h * scale).astype(x.dtype)


def rotary(x: jax.Array, base: float) -> jax.Array:
    """Rotary position embedding of ``x[B, T, H, D]`` at positions ``0..T-1`` (half-split pairs)."""
    _, length, _, dim = x.shape
    half = dim // 2
    freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = jnp.arange(length, dtype=jnp.float32)[:, None] * freq[None, :]  # [T, D/2]
    cos = jnp.cos(angle).reshape(1, length, 1, half)
    sin = jnp.sin(angle).reshape(1, length, 1, half)
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return out.astype(x.dtype)


def causal_mask(length: int) -> jax.Array:
    """``[T, T]`` bool, True where query ``q`` may attend to key ``k`` (``k <= q``)."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))


class Attention(nnx.Module):
    """Multi-head self-attention without biases: causal, or bidirectional when ``cfg.causal`` is False.

    Both forms compute the full ``T x T`` score matrix; the causal one masks its upper triangle.
    """

    def __init__(self, cfg: LMConfig, *, rngs: nnx.Rngs):
        d, h, hd = cfg.d_model, cfg.n_heads, cfg.head_dim
        std = 1.0 / math.sqrt(d)
        self.wq = nnx.Param(_normal(rngs, (d, h, hd), std))
        self.wk = nnx.Param(_normal(rngs, (d, h, hd), std))
        self.wv = nnx.Param(_normal(rngs, (d, h, hd), std))
        # Residual-branch outputs are scaled down with depth (GPT-2).
        self.wo = nnx.Param(_normal(rngs, (h, hd, d), std / math.sqrt(2 * cfg.n_layers)))
        self.rope_base = cfg.rope_base if cfg.positions == "rope" else None
        self.causal = cfg.causal

    def __call__(self, x: jax.Array) -> jax.Array:
        q = _mm("btd,dhk->bthk", x, self.wq[...])
        k = _mm("btd,dhk->bthk", x, self.wk[...])
        v = _mm("btd,dhk->bthk", x, self.wv[...])
        if self.rope_base is not None:
            q, k = rotary(q, self.rope_base), rotary(k, self.rope_base)
        scores = jnp.einsum("bqhk,bshk->bhqs", q, k, preferred_element_type=jnp.float32)
        scores = scores / math.sqrt(q.shape[-1])
        if self.causal:
            length = x.shape[1]
            scores = jnp.where(causal_mask(length)[None, None], scores, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
        out = jnp.einsum("bhqs,bshk->bqhk", probs, v, preferred_element_type=jnp.float32).astype(x.dtype)
        return _mm("bqhk,hkd->bqd", out, self.wo[...])


class Block(nnx.Module):
    """``x + attn(norm(x))``, then ``+ ffn(norm(x))``; the FFN is dense or MoE."""

    def __init__(self, cfg: LMConfig, index: int, *, rngs: nnx.Rngs):
        self.index = index
        self.is_moe = cfg.is_moe_layer(index)
        self.causal = cfg.causal
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg, rngs=rngs)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        if self.is_moe:
            self.ffn = MoELayer(cfg.moe, rngs=rngs)
        else:
            self.ffn = DenseFFN(cfg.d_model, cfg.d_ff, activation=cfg.activation, rngs=rngs)

    def __call__(self, x: jax.Array, *, key: jax.Array | None, token_ids: jax.Array) -> tuple[jax.Array, MoEAux | None]:
        x = x + self.attn(self.attn_norm(x))
        h = self.ffn_norm(x)
        if not self.is_moe:
            return x + self.ffn.apply(h), None
        layer_key = None if key is None else jax.random.fold_in(key, self.index)
        # A decoder's MoE layer refuses routings that would leak later tokens; an encoder's need not.
        y, aux = self.ffn(h, key=layer_key, token_ids=token_ids, causal=self.causal)
        return x + y, aux


class LM(nnx.Module):
    """The toy LM: a causal decoder, or a bidirectional encoder (``cfg.causal=False``).

    ``model(tokens, key=None) -> (logits, aux)``: ``tokens[B, T]`` int with ``T <= seq_len``;
    ``logits[B, T, V]`` float32 (decoder: position ``t`` predicts token ``t + 1``; encoder:
    position ``t`` predicts the original token at ``t``, read at masked positions); ``aux`` maps the
    index of each MoE block to that layer's aux pytree (losses and routing metrics), empty
    for a dense model. ``key`` feeds router noise; each MoE block folds in its index.
    """

    def __init__(self, cfg: LMConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        d = cfg.d_model
        self.embed = nnx.Embed(cfg.vocab_size, d, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        if cfg.positions == "learned":
            self.pos_embed = nnx.Embed(cfg.seq_len, d, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.layers = nnx.List([Block(cfg, i, rngs=rngs) for i in range(cfg.n_layers)])
        self.final_norm = RMSNorm(d, cfg.norm_eps)
        if not cfg.tie_embeddings:
            self.head = nnx.Linear(d, cfg.vocab_size, use_bias=False,
                                   kernel_init=nnx.initializers.normal(0.02), rngs=rngs)

    def __call__(self, tokens: jax.Array, *, key: jax.Array | None = None) -> tuple[jax.Array, dict[int, MoEAux]]:
        cfg = self.cfg
        if tokens.ndim != 2 or tokens.shape[1] > cfg.seq_len:
            raise ValueError(f"expected tokens [B, T] with T <= seq_len ({cfg.seq_len}); got {tokens.shape}")
        dtype = _dtype(cfg)
        x = self.embed.embedding[...][tokens]
        if cfg.positions == "learned":
            x = x + self.pos_embed.embedding[...][None, : tokens.shape[1]]
        x = x.astype(dtype)
        aux: dict[int, MoEAux] = {}
        for block in self.layers:
            x, layer_aux = block(x, key=key, token_ids=tokens)
            if layer_aux is not None:
                aux[block.index] = layer_aux
        h = self.final_norm(x)
        if cfg.tie_embeddings:
            logits = jnp.einsum("btd,vd->btv", h, self.embed.embedding[...].astype(dtype),
                                preferred_element_type=jnp.float32)
        else:
            logits = jnp.einsum("btd,dv->btv", h, self.head.kernel[...].astype(dtype),
                                preferred_element_type=jnp.float32)
        return logits, aux
