"""Mixture-of-Experts layers: routers, dispatch backends, auxiliary losses and metrics.

Routers are registered by name (:data:`ROUTERS`, :mod:`routerlab.moe.registry`); a user's
routing function plugs in with :func:`register_router` and is then a valid ``MoEConfig.router``.
"""

from routerlab.moe.config import CausalLeakError, MoEConfig, causal_leak
from routerlab.moe.dispatch import (
    DispatchOutput,
    capacity_dispatch,
    dropless_dispatch,
    expert_capacity,
    expert_choice_dispatch,
    expert_ffn,
)
from routerlab.moe.layer import (
    DenseFFN,
    FixedRandom,
    MoEAux,
    MoELayer,
    RouterBias,
    dense_flops_per_token,
    matched_dense_d_ff,
    moe_flops_per_token,
    moe_param_count,
    param_count,
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
from routerlab.moe.registry import (
    ROUTERS,
    RouterInputs,
    RouterSpec,
    register_router,
    router_names,
    router_spec,
    unregister_router,
)
from routerlab.moe.routers import (
    ExpertChoiceRouting,
    Routing,
    SoftRouting,
    expert_choice_route,
    hash_ids,
    hash_route,
    lsh_route,
    router_logits,
    router_scores,
    sinkhorn,
    sinkhorn_route,
    soft_route,
    top_k_route,
    update_router_bias,
)

__all__ = [
    "CausalLeakError", "MoEConfig", "causal_leak",
    "DispatchOutput", "capacity_dispatch", "dropless_dispatch", "expert_capacity",
    "expert_choice_dispatch", "expert_ffn",
    "DenseFFN", "FixedRandom", "MoEAux", "MoELayer", "RouterBias", "dense_flops_per_token",
    "matched_dense_d_ff", "moe_flops_per_token", "moe_param_count", "param_count",
    "ROUTERS", "RouterInputs", "RouterSpec", "register_router", "router_names", "router_spec",
    "unregister_router",
    "load_balance_loss", "router_entropy", "z_loss",
    "dead_experts", "dropped_fraction", "expert_load", "load_cv", "max_violation",
    "router_confidence",
    "ExpertChoiceRouting", "Routing", "SoftRouting", "expert_choice_route", "hash_ids",
    "hash_route", "lsh_route", "router_logits", "router_scores", "sinkhorn", "sinkhorn_route",
    "soft_route", "top_k_route", "update_router_bias",
]
