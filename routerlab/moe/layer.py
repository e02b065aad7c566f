"""Flax NNX Mixture-of-Experts FFN layer, and a dense FFN with the same call signature.

``MoELayer(cfg, rngs=...)(x [..., d], key=, token_ids=, causal=) -> (y [..., d], MoEAux)``.

* What the router is and does comes from its :class:`~routerlab.moe.registry.RouterSpec`
  (``cfg.spec``); the layer never compares router names.
* Token-choice routers (``spec.kind == "token_choice"``: top_k, deepseek, sinkhorn, hash)
  flatten all leading axes into ``T`` tokens and use capacity dispatch
  (``cfg.capacity_factor``) or dropless dispatch (``capacity_factor=None``).
* Expert-choice and soft routers (expert_choice, soft) route within each sequence: ``x [..., S, d]``
  has its second-last axis as the sequence and the leading axes are vmapped, so batch
  elements never influence each other. A 2-D ``x [T, d]`` is one sequence.
* Parameters are float32; experts compute in the dtype of ``x`` (float32 accumulation),
  the router always in float32.
* ``causal=True`` refuses configurations that would leak future tokens (see
  :func:`routerlab.moe.config.causal_leak`) unless ``cfg.allow_causal_leak``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from routerlab.moe.config import CausalLeakError, MoEConfig, causal_leak
from routerlab.moe.dispatch import (
    capacity_dispatch,
    dropless_dispatch,
    expert_choice_dispatch,
    expert_ffn,
)
from routerlab.moe.losses import load_balance_loss, router_entropy, z_loss
from routerlab.moe.metrics import (
    dead_experts,
    dropped_fraction,
    expert_load,
    load_cv,
    max_violation,
    router_confidence,
)
from routerlab.moe.registry import RouterInputs, RouterSpec, expert_choice_capacity, moe_expert_flops, moe_router_flops
from routerlab.moe.routers import router_logits, update_router_bias

__all__ = [
    "RouterBias",
    "FixedRandom",
    "MoEAux",
    "MoELayer",
    "DenseFFN",
    "param_count",
    "moe_param_count",
    "moe_flops_per_token",
    "dense_flops_per_token",
    "matched_dense_d_ff",
]

ACTIVATIONS = {"gelu": jax.nn.gelu, "relu": jax.nn.relu, "silu": jax.nn.silu}
_expert_init = jax.nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", batch_axis=(0,))
_dense_init = jax.nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
_router_init = jax.nn.initializers.variance_scaling(0.1, "fan_in", "truncated_normal")  # Switch


class RouterBias(nnx.Variable):
    """Per-expert selection bias for auxiliary-loss-free balancing (DeepSeek-V3).

    Not an ``nnx.Param``: optimizers built with ``wrt=nnx.Param`` and ``nnx.grad`` never see
    it. It changes only through :meth:`MoELayer.update_bias`.
    """


class FixedRandom(nnx.Variable):
    """Random state drawn once at init and never trained (hash salt, LSH projection)."""


class MoEAux(NamedTuple):
    """Scalar losses and routing metrics of one layer call (float32 unless noted).

    Attributes:
      loss: ``load_balance_weight * load_balance + z_loss_weight * z_loss``; add to the task loss.
      load_balance: Switch loss (:func:`~routerlab.moe.losses.load_balance_loss`); 0 for
        routers that are balanced by construction or have no router (expert_choice, soft, hash).
      z_loss: router z-loss; 0 for hash.
      entropy: mean router entropy over experts (nats).
      load: ``[E]`` fraction of assignments per expert (soft: combine mass per expert).
      max_vio, cv: MaxVio and coefficient of variation of ``load``.
      dead: int32 number of experts with zero load.
      dropped_frac: fraction of assignments dropped for capacity (expert_choice: fraction
        of tokens no expert picked).
      confidence: mean top router probability.
    """

    loss: jax.Array
    load_balance: jax.Array
    z_loss: jax.Array
    entropy: jax.Array
    load: jax.Array
    max_vio: jax.Array
    cv: jax.Array
    dead: jax.Array
    dropped_frac: jax.Array
    confidence: jax.Array

    @classmethod
    def dense(cls) -> MoEAux:
        """The aux of a dense FFN: no losses, one expert taking every token."""
        zero = jnp.zeros((), jnp.float32)
        return cls(zero, zero, zero, zero, jnp.ones((1,), jnp.float32), zero, zero,
                   jnp.zeros((), jnp.int32), zero, jnp.ones((), jnp.float32))


def _summarize(cfg: MoEConfig, load, dropped_frac, probs, logits, balance) -> MoEAux:
    zero = jnp.zeros((), jnp.float32)
    balance = zero if balance is None else balance
    z = zero if logits is None else z_loss(logits)
    return MoEAux(
        loss=cfg.load_balance_weight * balance + cfg.z_loss_weight * z,
        load_balance=balance,
        z_loss=z,
        entropy=router_entropy(probs),
        load=load,
        max_vio=max_violation(load),
        cv=load_cv(load),
        dead=dead_experts(load),
        dropped_frac=dropped_frac,
        confidence=router_confidence(probs),
    )


def _ffn(x: jax.Array, w_in: jax.Array, w_out: jax.Array, activation: str) -> jax.Array:
    """``act(x @ w_in) @ w_out`` in the dtype of ``x`` with float32 accumulation.

    The tokens are flattened to one axis first: with ``x[B, T, d]`` XLA:CPU's backward pass
    transposed the ``[B * T, f]`` hidden gradient into ``[f, B, T]`` for the ``w_in``
    gradient (four such copies were ~20% of a d_model 128 LM step); on ``[B * T, d]`` every
    backward matmul reads its operands in place. Same arithmetic, same bits.
    """
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    h = jnp.einsum("nd,df->nf", x2, w_in.astype(x.dtype), preferred_element_type=jnp.float32)
    h = ACTIVATIONS[activation](h.astype(x.dtype))
    y = jnp.einsum("nf,fd->nd", h, w_out.astype(x.dtype), preferred_element_type=jnp.float32)
    return y.astype(x.dtype).reshape(*lead, -1)


class DenseFFN(nnx.Module):
    """Bias-free dense FFN ``act(x @ w_in) @ w_out`` with :class:`MoELayer`'s call signature."""

    def __init__(self, d_model: int, d_ff: int, *, activation: str = "gelu", rngs: nnx.Rngs):
        self.w_in = nnx.Param(_dense_init(rngs.params(), (d_model, d_ff)))
        self.w_out = nnx.Param(_dense_init(rngs.params(), (d_ff, d_model)))
        self.activation = activation

    def apply(self, x: jax.Array) -> jax.Array:
        """The FFN output alone."""
        return _ffn(x, self.w_in[...], self.w_out[...], self.activation)

    def __call__(self, x, *, key=None, token_ids=None, causal=False) -> tuple[jax.Array, MoEAux]:
        """``(y, MoEAux.dense())``; ``key``, ``token_ids``, ``causal`` are accepted and unused."""
        del key, token_ids, causal
        return self.apply(x), MoEAux.dense()

    def param_count(self) -> int:
        return param_count(self)

    def flops_per_token(self) -> float:
        d_model, d_ff = self.w_in.shape
        return dense_flops_per_token(d_model, d_ff)


class MoELayer(nnx.Module):
    """Mixture-of-Experts FFN configured by :class:`~routerlab.moe.config.MoEConfig`.

    Variables: ``w_in [E, d, f]``, ``w_out [E, f, d]`` and ``router [d, num_router_outputs]``
    (``nnx.Param``; None unless ``spec.learned``, e.g. not for ``hash``), ``router_bias [E]``
    (:class:`RouterBias`, when ``spec.bias``: deepseek), one :class:`FixedRandom` per array of
    ``spec.init_fixed`` (hash: ``hash_salt`` and ``hash_projection``), and ``shared``
    (:class:`DenseFFN` of width ``num_shared_experts * shared_d_ff``, or None).
    """

    def __init__(self, cfg: MoEConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        num_experts, d_model, d_ff = cfg.num_experts, cfg.d_model, cfg.d_ff
        self.w_in = nnx.Param(_expert_init(rngs.params(), (num_experts, d_model, d_ff)))
        self.w_out = nnx.Param(_expert_init(rngs.params(), (num_experts, d_ff, d_model)))
        spec = cfg.spec
        fixed = spec.init_fixed(cfg, rngs) if spec.init_fixed is not None else {}
        taken = {"cfg", "w_in", "w_out", "router", "router_bias", "shared", "fixed_names"} & set(fixed)
        if taken:
            raise ValueError(f"router {cfg.router!r}: init_fixed names {sorted(taken)} are the layer's own attributes")
        self.fixed_names = tuple(fixed)
        for name, value in fixed.items():  # untrained random state (hash salt, LSH projection)
            setattr(self, name, FixedRandom(value))
        learned = spec.learned
        self.router = nnx.Param(_router_init(rngs.params(), (d_model, cfg.num_router_outputs))) if learned else None
        self.router_bias = RouterBias(jnp.zeros((num_experts,), jnp.float32)) if spec.bias else None
        width = cfg.shared_width
        self.shared = DenseFFN(d_model, width, activation=cfg.activation, rngs=rngs) if width else None

    def logits(self, tokens: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Float32 router logits ``[T, E * slots]`` of ``tokens [T, d]``, noised when ``key`` is given."""
        return router_logits(tokens, self.router[...], noise=self.cfg.noise, eps=self.cfg.noise_eps, key=key)

    @property
    def spec(self) -> RouterSpec:
        """The router's :class:`~routerlab.moe.registry.RouterSpec` (``cfg.spec``)."""
        return self.cfg.spec

    def route(self, tokens: jax.Array, *, key=None, token_ids=None):
        """The routing of ``tokens [T, d]`` (one sequence): a ``Routing``,
        ``ExpertChoiceRouting`` or ``SoftRouting`` depending on ``spec.kind``."""
        logits = self.logits(tokens, key) if self.router is not None else None
        return self._assign(tokens, logits, token_ids)

    def _assign(self, tokens: jax.Array, logits: jax.Array | None, token_ids: jax.Array | None = None):
        """The spec's routing function on one call's (or one sequence's) tokens."""
        inputs = RouterInputs(
            logits=logits,
            tokens=tokens,
            cfg=self.cfg,
            token_ids=None if token_ids is None else token_ids.reshape(-1),
            bias=None if self.router_bias is None else self.router_bias[...],
            fixed={name: getattr(self, name)[...] for name in self.fixed_names},
        )
        return self.spec.route(inputs)

    def expert_choice_capacity(self, seq_len: int) -> int:
        """Tokens each expert takes from a sequence: ``min(S, ceil(cf * S * k / E))``."""
        return expert_choice_capacity(self.cfg, seq_len)

    def __call__(
        self,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        token_ids: jax.Array | None = None,
        causal: bool = False,
    ) -> tuple[jax.Array, MoEAux]:
        """Apply the layer to ``x [..., d]``.

        Args:
          x: tokens; any float dtype.
          key: PRNG key for router noise; ``None`` (evaluation) means no noise.
          token_ids: ``x.shape[:-1]`` int ids, used by ``router="hash"``.
          causal: the caller is a causal decoder; raises :class:`CausalLeakError` for
            configurations whose outputs would depend on later tokens.

        Returns:
          ``(y, aux)`` with ``y`` shaped and typed like ``x``.
        """
        cfg = self.cfg
        if x.shape[-1] != cfg.d_model:
            raise ValueError(f"expected x [..., {cfg.d_model}]; got {x.shape}")
        kind = self.spec.kind
        if kind != "token_choice" and x.ndim < 2:
            raise ValueError(f"router={cfg.router!r} routes within sequences: expected x [..., S, d]; got {x.shape}")
        if token_ids is not None and token_ids.shape != x.shape[:-1]:
            raise ValueError(f"token_ids must have shape {x.shape[:-1]}; got {token_ids.shape}")
        reason = causal_leak(cfg) if causal and not cfg.allow_causal_leak else None
        if reason:
            raise CausalLeakError(f"router={cfg.router!r} is not causal: {reason}. "
                                  "Set allow_causal_leak=True only to study the leak.")
        w_in, w_out = self.w_in[...].astype(x.dtype), self.w_out[...].astype(x.dtype)
        if kind != "token_choice":
            seqs = x.reshape(-1, *x.shape[-2:]) if x.ndim >= 3 else x[None]
            logits = self.logits(seqs.reshape(-1, cfg.d_model), key).reshape(*seqs.shape[:2], -1)
            mix = self._expert_choice if kind == "expert_choice" else self._soft
            y, aux = mix(seqs, logits, w_in, w_out)
        else:
            y, aux = self._token_choice(x.reshape(-1, cfg.d_model), key, token_ids, w_in, w_out)
        y = y.reshape(x.shape)
        if self.shared is not None:
            y = y + self.shared.apply(x)
        return y, aux

    def _token_choice(self, tokens, key, token_ids, w_in, w_out) -> tuple[jax.Array, MoEAux]:
        cfg = self.cfg
        act = ACTIVATIONS[cfg.activation]
        routing = self.route(tokens, key=key, token_ids=token_ids)
        args = (tokens, routing.expert_index, routing.gates, w_in, w_out)
        if cfg.capacity_factor is None:
            out = dropless_dispatch(*args, act=act, impl=cfg.dropless_impl, block_size=cfg.dropless_block_size)
        else:
            out = capacity_dispatch(*args, capacity_factor=cfg.capacity_factor, priority=cfg.priority, act=act)
        balance = None if routing.logits is None else load_balance_loss(routing.probs, routing.expert_index)
        load = expert_load(routing.expert_index, cfg.num_experts)
        return out.y, _summarize(cfg, load, dropped_fraction(out.dropped), routing.probs, routing.logits, balance)

    def _expert_choice(self, seqs, logits, w_in, w_out) -> tuple[jax.Array, MoEAux]:
        cfg = self.cfg
        seq_len = seqs.shape[1]

        def one(tokens, seq_logits):
            routing = self._assign(tokens, seq_logits)
            y = expert_choice_dispatch(tokens, routing.token_index, routing.gates, w_in, w_out,
                                       act=ACTIVATIONS[cfg.activation])
            picked = jnp.zeros((seq_len,), bool).at[routing.token_index.reshape(-1)].set(True)
            return y, routing.probs, picked

        y, probs, picked = jax.vmap(one)(seqs, logits)
        load = jnp.full((cfg.num_experts,), 1.0 / cfg.num_experts, jnp.float32)  # C tokens each
        unpicked = 1.0 - jnp.mean(picked.astype(jnp.float32))
        flat = (-1, cfg.num_experts)
        return y, _summarize(cfg, load, unpicked, probs.reshape(flat), logits.reshape(flat), None)

    def _soft(self, seqs, logits, w_in, w_out) -> tuple[jax.Array, MoEAux]:
        cfg = self.cfg
        num_experts, slots = cfg.num_experts, cfg.slots_per_expert

        def one(tokens, seq_logits):
            routing = self._assign(tokens, seq_logits)
            inputs = jnp.einsum("ts,td->sd", routing.dispatch, tokens, preferred_element_type=jnp.float32)
            inputs = inputs.astype(tokens.dtype).reshape(num_experts, slots, -1)
            out = expert_ffn(inputs, w_in, w_out, ACTIVATIONS[cfg.activation]).reshape(num_experts * slots, -1)
            y = jnp.einsum("ts,sd->td", routing.combine, out, preferred_element_type=jnp.float32)
            return y.astype(tokens.dtype), routing.combine

        y, combine = jax.vmap(one)(seqs, logits)
        per_expert = jnp.sum(combine.reshape(-1, num_experts, slots), axis=-1)  # [T, E], rows sum to 1
        load = jnp.mean(per_expert, axis=0)
        zero = jnp.zeros((), jnp.float32)
        return y, _summarize(cfg, load, zero, per_expert, logits.reshape(-1, num_experts * slots), None)

    def update_bias(self, load: jax.Array) -> None:
        """Loss-free balancing step on ``router_bias`` from this step's ``load [E]`` (``aux.load``).

        ``b += bias_update_rate * sign(mean(load) - load)``; call once per optimizer step,
        after the update, inside the same jitted step. Only for routers whose spec has ``bias``
        (``router="deepseek"``).
        """
        if self.router_bias is None:
            raise ValueError("update_bias needs a router with a selection bias (router='deepseek'); "
                             f"this layer has router={self.cfg.router!r}")
        load = jax.lax.stop_gradient(load)
        self.router_bias[...] = update_router_bias(self.router_bias[...], load, self.cfg.bias_update_rate)

    def param_count(self) -> int:
        return param_count(self)

    def flops_per_token(self, seq_len: int | None = None) -> float:
        return moe_flops_per_token(self.cfg, seq_len=seq_len)


def param_count(module: nnx.Module) -> int:
    """Number of trainable (``nnx.Param``) scalars in ``module``."""
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(module, nnx.Param)))


def moe_param_count(cfg: MoEConfig) -> int:
    """Trainable parameters of ``MoELayer(cfg)``: router + all experts + shared experts."""
    router = cfg.d_model * cfg.num_router_outputs if cfg.spec.learned else 0
    experts = 2 * cfg.num_experts * cfg.d_model * cfg.d_ff
    return router + experts + 2 * cfg.d_model * cfg.shared_width


def dense_flops_per_token(d_model: int, d_ff: int) -> float:
    """Forward FLOPs of a bias-free FFN per token: two matmuls, 2 FLOPs per MAC."""
    return 4.0 * d_model * d_ff


def moe_flops_per_token(cfg: MoEConfig, *, seq_len: int | None = None) -> float:
    """Active forward FLOPs per token of ``MoELayer(cfg)`` (matmuls only, 2 per MAC).

    The router's spec gives both terms (:mod:`routerlab.moe.registry`). Built-ins: router
    ``2 d R`` (hash: its LSH projection, ``2 d E``, as the layer is called without token
    ids), plus the expert FFNs a token uses: ``k`` experts for token choice;
    ``capacity_factor * k`` on average for expert choice; for Soft MoE, the ``E * slots``
    slot FFNs of a sequence shared by its ``seq_len`` tokens plus dispatch and combine
    (``4 d E slots``). Capacity dispatch *executes* ``capacity_factor`` times the
    token-choice expert FLOPs (padding); that is not counted. Shared experts add
    ``4 d shared_width``.
    """
    flops = moe_router_flops(cfg, token_ids=False) + dense_flops_per_token(cfg.d_model, cfg.shared_width)
    return flops + moe_expert_flops(cfg, seq_len=seq_len)


def matched_dense_d_ff(cfg: MoEConfig, *, seq_len: int | None = None) -> int:
    """Hidden width of a :class:`DenseFFN` with the same FLOPs per token as ``MoELayer(cfg)``."""
    return round(moe_flops_per_token(cfg, seq_len=seq_len) / dense_flops_per_token(cfg.d_model, 1))
