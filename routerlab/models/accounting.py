"""Exact parameter and FLOP accounting of :class:`routerlab.models.LM`, total and active.

Parameters count ``nnx.Param`` scalars only: router biases, hash salts and LSH projections
are not trained and are not counted. *Active* parameters are those a token's forward pass
multiplies by: everything except the routed experts it does not use. A token-choice MoE
layer contributes ``top_k`` of its ``E`` experts; expert choice ``capacity_factor * top_k``
on average (a fraction); Soft MoE all of them (every slot mixes every token). Embeddings
count in both totals (the input row and, tied or not, the output head).

FLOP convention (Kaplan et al. 2020 style, matmuls only):

* 2 FLOPs per multiply-add; forward pass only. A training step costs 3x the forward
  (:func:`training_flops`): the backward pass is twice the forward.
* Counted: the q, k, v, o projections (``8 d^2``), attention scores ``QK^T`` and the
  value mix ``AV`` at the full context (``2 T d`` each per token), each FFN, each router,
  and the output head (``2 d V``, at every position, also under the masked objective, whose
  loss reads only the masked ones).
* Attention is charged alike for the causal decoder and the bidirectional encoder
  (``causal=False``): the implementation forms the whole ``T x T`` score matrix in both
  and the decoder masks its upper triangle, so both do ``4 T d`` per token. (A causal
  kernel that skipped the masked half would do about ``2 T d``; ours does not.)
* Not counted: the embedding lookup, norms, softmaxes, rotary rotations, activations,
  residual adds and the MoE gather/combine (all ``O(d)`` or ``O(k d)`` per token).
* *total* charges every MoE layer as if every token visited every expert (the FLOPs of a
  dense model with the same parameters); *active* is what a token uses. Capacity dispatch
  also executes padding slots (``capacity_factor`` times the assignments); that overhead
  is not counted, as it is not useful work.

MoE layer terms come from the router's :class:`~routerlab.moe.registry.RouterSpec` (its
``active_experts``, ``router_flops`` and ``expert_flops``), through
:func:`routerlab.moe.moe_param_count` and the registry's ``moe_router_flops`` /
``moe_expert_flops``, which :func:`routerlab.moe.moe_flops_per_token` reads too: the two
packages agree by construction. The LM passes token ids to its MoE layers, so a router that
looks ids up (hash) is charged its ``router_flops`` with ids (0 for hash).
"""

from __future__ import annotations

from fractions import Fraction

from routerlab.models.config import LMConfig
from routerlab.moe.config import MoEConfig
from routerlab.moe.layer import dense_flops_per_token, moe_param_count
from routerlab.moe.registry import moe_expert_flops, moe_router_flops

__all__ = ["param_count", "flops_per_token", "training_flops", "moe_active_experts"]


def _num(x: Fraction | int) -> int | float:
    """An exact count as an int when it is integral, else a float."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


def moe_active_experts(moe: MoEConfig) -> Fraction:
    """Routed experts a token uses on average (the spec's ``active_experts``): ``k`` for
    token choice, ``capacity_factor * k`` for expert choice, ``E`` for Soft MoE."""
    return Fraction(moe.spec.active_experts(moe))


def _embedding_params(cfg: LMConfig) -> int:
    n = cfg.vocab_size * cfg.d_model
    if cfg.positions == "learned":
        n += cfg.seq_len * cfg.d_model
    if not cfg.tie_embeddings:
        n += cfg.d_model * cfg.vocab_size
    return n


def param_count(cfg: LMConfig) -> dict[str, int | float]:
    """``{"total", "active"}`` trainable parameters of ``LM(cfg)``.

    ``total`` is exact (an int); ``active`` is exact too, an int unless expert choice makes
    the number of experts per token fractional.
    """
    d = cfg.d_model
    attention = 4 * d * d
    norms = 2 * d
    total = Fraction(_embedding_params(cfg) + d)  # + final norm
    active = Fraction(total)
    for i in range(cfg.n_layers):
        total += attention + norms
        active += attention + norms
        if cfg.is_moe_layer(i):
            moe = cfg.moe
            expert = 2 * d * moe.d_ff
            layer_total = moe_param_count(moe)
            total += layer_total
            active += layer_total - (moe.num_experts - moe_active_experts(moe)) * expert
        else:
            total += 2 * d * cfg.d_ff
            active += 2 * d * cfg.d_ff
    return {"total": _num(total), "active": _num(active)}


def _moe_flops(moe: MoEConfig, seq_len: int, *, active: bool) -> Fraction:
    # The LM passes token ids, so hash routing looks them up: no LSH projection.
    router = Fraction(moe_router_flops(moe, token_ids=True))
    shared = Fraction(dense_flops_per_token(moe.d_model, moe.shared_width))
    if active:
        return router + shared + Fraction(moe_expert_flops(moe, seq_len=seq_len))
    experts = moe.num_experts * Fraction(dense_flops_per_token(moe.d_model, moe.d_ff))
    return router + experts + shared


def flops_per_token(cfg: LMConfig) -> dict[str, int | float]:
    """``{"total", "active"}`` forward FLOPs per token at context ``seq_len`` (see module doc)."""
    d, t = cfg.d_model, cfg.seq_len
    # Projections + QK^T + AV over the full T x T matrix, causal or bidirectional (module doc).
    per_layer_attention = 8 * d * d + 2 * (2 * t * d)
    head = 2 * d * cfg.vocab_size
    total = active = Fraction(head + cfg.n_layers * per_layer_attention)
    for i in range(cfg.n_layers):
        if cfg.is_moe_layer(i):
            total += _moe_flops(cfg.moe, t, active=False)
            active += _moe_flops(cfg.moe, t, active=True)
        else:
            ffn = Fraction(dense_flops_per_token(d, cfg.d_ff))
            total += ffn
            active += ffn
    return {"total": _num(total), "active": _num(active)}


def training_flops(cfg: LMConfig, tokens: int) -> float:
    """Active training FLOPs for ``tokens`` tokens: ``3 x`` forward (forward + backward)."""
    return 3.0 * float(flops_per_token(cfg)["active"]) * tokens
