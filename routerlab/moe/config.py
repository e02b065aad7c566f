"""``MoEConfig``: one frozen, validated description of a Mixture-of-Experts FFN layer.

Conventions used across :mod:`routerlab.moe`:

* ``E = num_experts`` routed experts, each a bias-free FFN ``d_model -> d_ff -> d_model``;
  ``k = top_k`` experts per token for token-choice routers.
* ``capacity_factor=None`` means *dropless* dispatch (every assignment is computed); a number
  gives each expert ``ceil(capacity_factor * T * k / E)`` slots and drops the overflow.
* Shared experts (DeepSeekMoE) are always on, ungated, and are added to the routed output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routerlab.config import check
from routerlab.moe.registry import ROUTERS, RouterSpec, known_routers_phrase, router_spec

__all__ = ["MoEConfig", "CausalLeakError", "causal_leak"]

class CausalLeakError(ValueError):
    """A layer configuration would let a causal decoder see future tokens."""


@dataclass(frozen=True)
class MoEConfig:
    """Hyper-parameters of :class:`routerlab.moe.MoELayer`.

    Attributes:
      num_experts: routed experts ``E``.
      top_k: experts per token ``k`` (token-choice routers). For ``expert_choice`` each
        expert takes ``C = ceil(capacity_factor * T * k / E)`` tokens of a sequence, so a
        token is served by ``capacity_factor * k`` experts on average. Unused by ``soft``.
      d_model: model width ``d``.
      d_ff: hidden width ``f`` of each routed expert.
      router: a name in :data:`routerlab.moe.ROUTERS`: ``"top_k"`` (Switch when ``k=1``),
        ``"expert_choice"``, ``"soft"``, ``"hash"``, ``"sinkhorn"`` (BASE/S-BASE),
        ``"deepseek"`` (sigmoid scores + loss-free bias; pair with DeepSeekMoE's fine-grained
        experts, i.e. more experts with a smaller ``d_ff``, and ``num_shared_experts``), or
        one added by :func:`routerlab.moe.register_router`.
      score: ``"softmax"`` or ``"sigmoid"`` router scores; ``None`` picks the router's own
        convention (sigmoid for ``deepseek``, softmax otherwise). See :attr:`score_fn`.
        Unused by ``soft`` and ``hash``.
      renormalize: divide the selected ``k`` gates by their sum (GShard top-2, Mixtral,
        DeepSeek-V3). Off: the gate is the raw score (Switch). Token-choice routers only.
      capacity_factor: ``None`` for dropless dispatch, else slots per balanced load (> 0).
      priority: which assignments keep their slot under capacity: ``"sequence"`` (token
        order) or ``"score"`` (highest gate first, Batch Prioritized Routing).
      dropless_impl: ``"auto"``, ``"blocks"`` or ``"ragged_dot"`` grouped matmul.
      dropless_block_size: rows per block for ``dropless_impl="blocks"``.
      num_shared_experts: always-on experts (DeepSeekMoE), fused into one dense FFN.
      shared_d_ff: hidden width of each shared expert; ``None`` uses ``d_ff``.
      slots_per_expert: Soft MoE slots per expert.
      sinkhorn_iters: Sinkhorn iterations for ``router="sinkhorn"``.
      bias_update_rate: ``gamma`` of the loss-free balancing update (DeepSeek-V3: 1e-3).
      noise: ``"none"``, ``"jitter"`` (multiplicative input jitter, Switch) or
        ``"gaussian"`` (logit noise, Shazeer et al. 2017); applied only when a key is passed.
      noise_eps: jitter half-width, or the Gaussian noise standard deviation.
      load_balance_weight: weight of the Switch load-balance loss in ``aux.loss``.
      z_loss_weight: weight of the ST-MoE router z-loss in ``aux.loss``.
      allow_causal_leak: permit token-mixing routing in a causal decoder (see
        :func:`causal_leak`); for studying the leak, never for honest LM evaluation.
      activation: expert activation.
    """

    num_experts: int = 8
    top_k: int = 2
    d_model: int = 64
    d_ff: int = 128
    router: str = "top_k"
    score: Literal["softmax", "sigmoid"] | None = None
    renormalize: bool = True
    capacity_factor: float | None = None
    priority: Literal["sequence", "score"] = "sequence"
    dropless_impl: Literal["auto", "blocks", "ragged_dot"] = "auto"
    dropless_block_size: int = 128
    num_shared_experts: int = 0
    shared_d_ff: int | None = None
    slots_per_expert: int = 1
    sinkhorn_iters: int = 8
    bias_update_rate: float = 1e-3
    noise: Literal["none", "jitter", "gaussian"] = "none"
    noise_eps: float = 1e-2
    load_balance_weight: float = 1e-2
    z_loss_weight: float = 1e-3
    allow_causal_leak: bool = False
    activation: Literal["gelu", "relu", "silu"] = "gelu"

    def __post_init__(self) -> None:
        check(isinstance(self.router, str) and self.router in ROUTERS, "router",
              f"must be {known_routers_phrase()}; got {self.router!r}")
        for name in ("num_experts", "top_k", "d_model", "d_ff", "slots_per_expert",
                     "sinkhorn_iters", "dropless_block_size"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(self.top_k <= self.num_experts, "top_k",
              f"must be <= num_experts ({self.num_experts}); got {self.top_k}")
        check(self.capacity_factor is None or self.capacity_factor > 0, "capacity_factor",
              f"must be > 0, or null for dropless dispatch; got {self.capacity_factor}")
        spec = self.spec
        if spec.check is not None:
            spec.check(self)
        check(self.num_shared_experts >= 0, "num_shared_experts",
              f"must be >= 0; got {self.num_shared_experts}")
        check(self.shared_d_ff is None or self.shared_d_ff >= 1, "shared_d_ff",
              f"must be >= 1, or null for d_ff; got {self.shared_d_ff}")
        for name in ("bias_update_rate", "noise_eps", "load_balance_weight", "z_loss_weight"):
            check(getattr(self, name) >= 0, name, f"must be >= 0; got {getattr(self, name)}")
        check(self.noise != "jitter" or self.noise_eps < 1, "noise_eps",
              f"jitter multiplies inputs by U(1 - eps, 1 + eps), so eps must be < 1; got {self.noise_eps}")

    @property
    def spec(self) -> RouterSpec:
        """The :class:`~routerlab.moe.registry.RouterSpec` registered as :attr:`router`."""
        return router_spec(self.router)

    @property
    def score_fn(self) -> Literal["softmax", "sigmoid"]:
        """The router score actually used: :attr:`score`, or the router's convention."""
        if self.score is not None:
            return self.score
        return self.spec.score

    @property
    def shared_width(self) -> int:
        """Hidden width of the fused shared-expert FFN (0 when there is none)."""
        return self.num_shared_experts * (self.shared_d_ff or self.d_ff)

    @property
    def num_router_outputs(self) -> int:
        """Router logits per token (the spec's ``num_outputs``): ``E * slots_per_expert`` for
        Soft MoE, ``E`` for the other built-in routers."""
        return self.spec.num_outputs(self)


def causal_leak(cfg: MoEConfig) -> str | None:
    """Why ``cfg`` would leak future tokens into a causal decoder's outputs, or ``None``.

    Token-mixing routers (expert choice, Soft MoE, Sinkhorn: any router whose spec has
    ``mixes_tokens``) leak by construction. Capacity dispatch leaks through *dropping*: with ``priority="score"`` a token competes with later
    tokens for its slot, and with ``top_k > 1`` every first choice, later tokens' included,
    is served before any second choice. Dropless dispatch, and capacity dispatch with
    ``top_k = 1`` and ``priority="sequence"``, are causal within each sequence (a token's
    slot still depends on the batch's earlier sequences, as in any capacity-limited MoE).
    """
    mixes = cfg.spec.mixes_tokens
    if mixes is not None:
        return mixes
    if cfg.capacity_factor is not None and (cfg.priority == "score" or cfg.top_k > 1):
        return (
            "with a capacity, whether a token's assignment is dropped depends on other tokens' "
            "choices (priority='score' ranks it against later tokens; with top_k > 1 all first "
            "choices, later tokens' included, are served before any second choice); use "
            "capacity_factor=null (dropless) or top_k=1 with priority='sequence'"
        )
    return None
