"""The MoE router registry: everything the library needs to know about a router, in one record.

A router is a name in :data:`ROUTERS` bound to a frozen :class:`RouterSpec`. The layer
(:class:`routerlab.moe.MoELayer`), the causal guard (:func:`routerlab.moe.causal_leak`),
:class:`~routerlab.moe.MoEConfig` validation, parameter and FLOP accounting
(:func:`routerlab.moe.moe_flops_per_token`, :mod:`routerlab.models.accounting`), RL-R
(:mod:`routerlab.moe.reinforce`) and expert parallelism (:mod:`routerlab.parallel.expert`) read
the spec; none of them compares router names. Adding a router is one :func:`register_router`
call, after which ``MoEConfig(router=name)`` works in every layer, model and study::

    def top1_sigmoid(inputs: RouterInputs) -> Routing:
        scores, probs = router_scores(inputs.logits, "sigmoid")
        index = jnp.argmax(jax.lax.stop_gradient(scores), axis=-1)[:, None].astype(jnp.int32)
        return Routing(index, jnp.take_along_axis(scores, index, -1), inputs.logits, probs)

    register_router("top1_sigmoid", RouterSpec(route=top1_sigmoid, active_experts=lambda cfg: 1,
                                                expert_flops=lambda cfg, seq_len: 4.0 * cfg.d_model * cfg.d_ff))

What a spec promises (the layer trusts it; ``tests/moe/test_registry.py`` checks the built-ins):

* ``route(inputs)`` returns the :class:`~routerlab.moe.routers.Routing` type its ``kind`` names.
  ``token_choice``: a :class:`Routing` over all ``T`` tokens of the call, dispatched by
  capacity or dropless dispatch (``expert_index [T, k']`` may use any ``k'``; the FLOP functions
  must then say so). ``expert_choice``/``soft``: an :class:`ExpertChoiceRouting` or
  :class:`SoftRouting` of one sequence; the layer vmaps it over the batch.
* ``mixes_tokens`` is ``None`` exactly when a token's routing depends on that token alone (and,
  through capacity dispatch, on earlier tokens): the causal guard refuses the router in a
  causal decoder otherwise, quoting the string.
* The FLOP functions count the forward pass, 2 FLOPs per multiply-add, per token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from routerlab.config import check
from routerlab.moe.dispatch import expert_capacity
from routerlab.moe.routers import (
    expert_choice_route,
    hash_route,
    lsh_route,
    sinkhorn_route,
    soft_route,
    top_k_route,
)

if TYPE_CHECKING:
    from flax import nnx

    from routerlab.moe.config import MoEConfig

__all__ = [
    "RouterInputs",
    "RouterSpec",
    "ROUTERS",
    "register_router",
    "unregister_router",
    "router_spec",
    "router_names",
    "is_built_in",
    "moe_router_flops",
    "moe_expert_flops",
]

Kind = Literal["token_choice", "expert_choice", "soft"]


class RouterInputs(NamedTuple):
    """What a routing function sees, for one call (token choice) or one sequence (the others).

    Attributes:
      logits: ``[T, R]`` float32 router logits ``tokens @ router`` (noised in training when
        ``cfg.noise`` asks for it); ``None`` when the spec has no learned router.
      tokens: ``[T, d]`` router input, in the layer's activation dtype.
      cfg: the layer's :class:`~routerlab.moe.MoEConfig`.
      token_ids: ``[T]`` integer ids when the caller passed them (the LM does), else ``None``.
      bias: ``[E]`` float32 selection bias when ``spec.bias`` (see :class:`routerlab.moe.RouterBias`).
      fixed: the untrained random arrays ``spec.init_fixed`` drew, by attribute name.
    """

    logits: jax.Array | None
    tokens: jax.Array
    cfg: Any
    token_ids: jax.Array | None = None
    bias: jax.Array | None = None
    fixed: Mapping[str, jax.Array] = MappingProxyType({})


def _expert_ffn_flops(cfg: MoEConfig) -> float:
    return 4.0 * cfg.d_model * cfg.d_ff  # two bias-free matmuls, 2 FLOPs per multiply-add


def _learned_router_flops(cfg: MoEConfig, token_ids: bool) -> float:
    del token_ids
    return 2.0 * cfg.d_model * cfg.num_router_outputs


def _num_experts(cfg: MoEConfig) -> int:
    return cfg.num_experts


def _top_k_experts(cfg: MoEConfig) -> Fraction:
    return Fraction(cfg.top_k)


def _top_k_expert_flops(cfg: MoEConfig, seq_len: int | None) -> float:
    del seq_len
    return cfg.top_k * _expert_ffn_flops(cfg)


@dataclass(frozen=True)
class RouterSpec:
    """One router, as the rest of the library needs to know it.

    Attributes:
      route: ``route(inputs: RouterInputs)`` -> the routing its ``kind`` names (module doc).
        Must be a pure, jit-able function of ``inputs``.
      kind: ``"token_choice"`` (each token picks experts; capacity/dropless dispatch),
        ``"expert_choice"`` (each expert picks tokens of a sequence) or ``"soft"`` (slots
        are weighted means over a sequence). The layer's dispatch path follows it.
      mixes_tokens: ``None`` if a token's routing depends only on that token, else one
        phrase saying how later tokens change it (the causal guard quotes it).
      learned: the layer holds a trained ``router [d, num_outputs]`` and passes ``logits``.
      bias: the layer holds a per-expert :class:`~routerlab.moe.RouterBias` (loss-free
        balancing, updated by :meth:`~routerlab.moe.MoELayer.update_bias`) and passes it.
      score: the score function used when ``MoEConfig.score`` is ``None``.
      num_outputs: router logits per token, from the config (default ``E``).
      active_experts: routed experts a token's forward pass uses on average (exact).
      router_flops: ``(cfg, token_ids_given) -> FLOPs`` of the router per token.
      expert_flops: ``(cfg, seq_len) -> FLOPs`` of routed experts per token, with any
        dispatch/combine matmuls (``seq_len`` is ``None`` when the caller has none).
      expert_parallel: :func:`routerlab.parallel.ep_moe` may shard it; ``None`` means
        ``kind == "token_choice"`` (it needs ``Routing.expert_index``).
      init_fixed: ``(cfg, rngs) -> {attribute: array}`` of untrained random state, drawn
        from ``rngs.params()`` when the layer is built (e.g. a hash salt).
      check: ``check(cfg)`` raises :class:`~routerlab.config.ConfigError` for a config the
        router cannot run (called by ``MoEConfig.__post_init__``).
    """

    route: Callable[[RouterInputs], Any]
    kind: Kind = "token_choice"
    mixes_tokens: str | None = None
    learned: bool = True
    bias: bool = False
    score: Literal["softmax", "sigmoid"] = "softmax"
    num_outputs: Callable[[MoEConfig], int] = _num_experts
    active_experts: Callable[[MoEConfig], Fraction | int] = _top_k_experts
    router_flops: Callable[[MoEConfig, bool], float] = _learned_router_flops
    expert_flops: Callable[[MoEConfig, int | None], float] = _top_k_expert_flops
    expert_parallel: bool | None = None
    init_fixed: Callable[[MoEConfig, nnx.Rngs], dict[str, jax.Array]] | None = None
    check: Callable[[MoEConfig], None] | None = None

    def __post_init__(self) -> None:
        if not callable(self.route):
            raise TypeError(f"RouterSpec.route must be callable; got {self.route!r}")
        if self.kind not in ("token_choice", "expert_choice", "soft"):
            raise ValueError(f"RouterSpec.kind must be 'token_choice', 'expert_choice' or 'soft'; got {self.kind!r}")
        if self.score not in ("softmax", "sigmoid"):
            raise ValueError(f"RouterSpec.score must be 'softmax' or 'sigmoid'; got {self.score!r}")
        if self.kind != "token_choice" and not self.learned:
            raise ValueError(f"a {self.kind} router routes from logits: it needs learned=True")
        if self.expert_parallel is None:
            object.__setattr__(self, "expert_parallel", self.kind == "token_choice")
        elif self.expert_parallel and self.kind != "token_choice":
            raise ValueError("expert parallelism dispatches token-choice routings only: "
                             f"expert_parallel=True needs kind='token_choice'; got {self.kind!r}")


_REGISTRY: dict[str, RouterSpec] = {}
ROUTERS: Mapping[str, RouterSpec] = MappingProxyType(_REGISTRY)
"""Every registered router by name (read-only; add with :func:`register_router`)."""
_BUILT_IN: set[str] = set()


def register_router(name: str, spec: RouterSpec, *, replace: bool = False) -> RouterSpec:
    """Make ``MoEConfig(router=name)`` route with ``spec``; returns ``spec``.

    ``replace=True`` re-registers a name (e.g. a notebook cell run twice); the built-in routers
    cannot be replaced. Register before building configs: a config stores only the name, so
    a run that loads it needs the same registration (put it in the experiment file). Functions
    already compiled for a name keep the routing they were traced with: re-register before
    compiling, not between calls.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a router name must be a Python identifier (it is typed in --set); got {name!r}")
    if not isinstance(spec, RouterSpec):
        raise TypeError(f"register_router needs a RouterSpec; got {type(spec).__name__}")
    if name in _BUILT_IN:
        raise ValueError(f"router {name!r} is built in and cannot be replaced; choose another name")
    if name in _REGISTRY and not replace:
        raise ValueError(f"router {name!r} is already registered; pass replace=True to re-register it")
    _REGISTRY[name] = spec
    return spec


def unregister_router(name: str) -> None:
    """Remove a user router (tests; built-in routers stay)."""
    if name in _BUILT_IN:
        raise ValueError(f"router {name!r} is built in and cannot be removed")
    _REGISTRY.pop(name, None)


def is_built_in(name: str) -> bool:
    """Whether ``name`` is one of routerlab's own routers (not one registered by a user)."""
    return name in _BUILT_IN


def router_names() -> tuple[str, ...]:
    """Registered names, built-ins first, in registration order."""
    return tuple(_REGISTRY)


def known_routers_phrase() -> str:
    """``one of 'top_k', ..., or a name given to routerlab.moe.register_router``."""
    return ("one of " + ", ".join(repr(n) for n in _REGISTRY)
            + " (or a name given to routerlab.moe.register_router)")


def router_spec(name: str) -> RouterSpec:
    """The spec registered as ``name``; ``KeyError`` naming the known routers otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown router {name!r}: must be {known_routers_phrase()}") from None


def moe_router_flops(cfg: MoEConfig, *, token_ids: bool = False) -> float:
    """Router FLOPs per token of ``cfg``'s layer (``token_ids``: the caller passes ids)."""
    return router_spec(cfg.router).router_flops(cfg, token_ids)


def moe_expert_flops(cfg: MoEConfig, *, seq_len: int | None = None) -> float:
    """Routed-expert FLOPs per token of ``cfg``'s layer (shared experts not included)."""
    return router_spec(cfg.router).expert_flops(cfg, seq_len)


# -- the built-in routers ---------------------------------------------------------------


def _check_top1_gates(cfg: MoEConfig) -> None:
    check(not (cfg.renormalize and cfg.top_k == 1), "renormalize",
          "with top_k=1 renormalizing makes every gate 1, so the task loss gives the router no "
          "gradient; set renormalize=false (Switch) or top_k >= 2")


def _route_top_k(inputs: RouterInputs):
    cfg = inputs.cfg
    return top_k_route(inputs.logits, cfg.top_k, score=cfg.score_fn, renormalize=cfg.renormalize)


def _route_deepseek(inputs: RouterInputs):
    cfg = inputs.cfg
    return top_k_route(inputs.logits, cfg.top_k, score=cfg.score_fn, renormalize=cfg.renormalize, bias=inputs.bias)


def _route_sinkhorn(inputs: RouterInputs):
    cfg = inputs.cfg
    return sinkhorn_route(inputs.logits, cfg.top_k, num_iters=cfg.sinkhorn_iters, score=cfg.score_fn,
                          renormalize=cfg.renormalize)


def expert_choice_capacity(cfg: MoEConfig, seq_len: int) -> int:
    """Tokens each expert takes from a sequence: ``min(S, ceil(cf * S * k / E))``."""
    return min(seq_len, expert_capacity(seq_len, cfg.num_experts, cfg.top_k, cfg.capacity_factor))


def _route_expert_choice(inputs: RouterInputs):
    cfg = inputs.cfg
    return expert_choice_route(inputs.logits, expert_choice_capacity(cfg, inputs.logits.shape[0]), score=cfg.score_fn)


def _check_expert_choice(cfg: MoEConfig) -> None:
    check(cfg.capacity_factor is not None, "capacity_factor",
          "router='expert_choice' needs a number (tokens per expert = capacity_factor * T * top_k / "
          "num_experts); got null")


def _expert_choice_experts(cfg: MoEConfig) -> Fraction:
    return Fraction(repr(float(cfg.capacity_factor))) * cfg.top_k  # the decimal value: 1.1 is 11/10


def _expert_choice_flops(cfg: MoEConfig, seq_len: int | None) -> float:
    del seq_len
    return cfg.capacity_factor * cfg.top_k * _expert_ffn_flops(cfg)


def _route_soft(inputs: RouterInputs):
    return soft_route(inputs.logits)


def _soft_flops(cfg: MoEConfig, seq_len: int | None) -> float:
    # E * slots slot FFNs per sequence, shared by its seq_len tokens; dispatch and combine
    # are two [T, S] x [S or T, d] matmuls: 2 * 2 d S per token.
    if seq_len is None:
        raise ValueError("Soft MoE FLOPs per token depend on seq_len; pass seq_len=")
    slots = cfg.num_router_outputs
    return slots / seq_len * _expert_ffn_flops(cfg) + 4.0 * cfg.d_model * slots


def _route_hash(inputs: RouterInputs):
    if inputs.token_ids is None:
        return lsh_route(inputs.tokens, inputs.fixed["hash_projection"])
    return hash_route(inputs.token_ids, inputs.cfg.num_experts, inputs.fixed["hash_salt"])


def _hash_fixed(cfg: MoEConfig, rngs: nnx.Rngs) -> dict[str, jax.Array]:
    salt_key, projection_key = rngs.params(), rngs.params()
    return {"hash_salt": jax.random.bits(salt_key, (), jnp.uint32),
            "hash_projection": jax.random.normal(projection_key, (cfg.d_model, cfg.num_experts))}


def _hash_router_flops(cfg: MoEConfig, token_ids: bool) -> float:
    # Token ids are looked up (no FLOPs); without them the LSH projection costs 2 d E.
    return 0.0 if token_ids else 2.0 * cfg.d_model * cfg.num_experts


def _check_hash(cfg: MoEConfig) -> None:
    check(cfg.top_k == 1, "top_k",
          f"router='hash' routes each token to exactly one expert, so top_k must be 1; got {cfg.top_k}")


def _register_built_ins() -> None:
    sequence_wide = dict(
        expert_choice=("expert choice lets each expert pick its top tokens over the whole sequence, so "
                       "whether a token is processed (and by which experts) depends on later tokens"),
        soft=("Soft MoE slots are softmax-weighted averages over all tokens of the sequence, so every "
              "output mixes in later tokens"),
        sinkhorn=("Sinkhorn balancing normalises router scores over all tokens of the batch, so a token's "
                  "expert depends on later tokens (BASE/S-BASE train this way and route greedily at inference)"),
    )
    specs = {
        "top_k": RouterSpec(_route_top_k, check=_check_top1_gates),
        "expert_choice": RouterSpec(_route_expert_choice, kind="expert_choice",
                                    mixes_tokens=sequence_wide["expert_choice"], active_experts=_expert_choice_experts,
                                    expert_flops=_expert_choice_flops, check=_check_expert_choice),
        "soft": RouterSpec(_route_soft, kind="soft", mixes_tokens=sequence_wide["soft"],
                           num_outputs=lambda cfg: cfg.num_experts * cfg.slots_per_expert,
                           active_experts=lambda cfg: Fraction(cfg.num_experts), expert_flops=_soft_flops),
        "hash": RouterSpec(_route_hash, learned=False, router_flops=_hash_router_flops, init_fixed=_hash_fixed,
                           check=_check_hash),
        "sinkhorn": RouterSpec(_route_sinkhorn, mixes_tokens=sequence_wide["sinkhorn"], check=_check_top1_gates),
        "deepseek": RouterSpec(_route_deepseek, bias=True, score="sigmoid", check=_check_top1_gates),
    }
    for name, spec in specs.items():
        _REGISTRY[name] = spec
        _BUILT_IN.add(name)


_register_built_ins()
