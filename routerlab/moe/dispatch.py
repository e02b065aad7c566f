"""Expert dispatch backends: route token rows to expert FFNs and combine the results.

Every backend computes, for tokens ``x[T, d]`` routed to experts by a router,

    y[t] = sum_j gates[t, j] * FFN_{e[t, j]}(x[t]),    FFN_e(v) = act(v @ w_in[e]) @ w_out[e],

and they differ only in what happens when experts are unevenly loaded:

* :func:`capacity_dispatch` gives each expert a fixed buffer of ``C`` rows
  (:func:`expert_capacity`) and drops assignments that do not fit (GShard, Switch, V-MoE).
* :func:`dropless_dispatch` serves every assignment, with block-sparse matmuls
  (MegaBlocks-style, the CPU path) or :func:`jax.lax.ragged_dot` (the GPU/TPU path).
* :func:`expert_choice_dispatch` serves whatever each expert picked (Zhou et al. 2022).

Conventions shared by all backends:

* An *assignment* is a pair ``(t, j)``: the ``j``-th expert choice of token ``t``.
  ``expert_index[T, k]`` holds expert ids in ``[0, E)``; ``gates[T, k]`` the combine weights.
* All shapes are static, so every backend is ``jit``- and ``vmap``-able; indices are
  integers and take no gradients, while ``x``, ``gates``, ``w_in`` and ``w_out`` are
  differentiable.
* Rows are moved with gathers whose out-of-range indices read zeros, so empty capacity
  slots, padded block rows and dropped assignments contribute exactly ``0`` to ``y`` (for
  any ``act``) and to every gradient (for any ``act`` finite at 0), and the inputs of
  dropped tokens are never read.
* Matmuls and the combine accumulate in float32 and return the dtype of ``x``; the
  activation runs in that dtype, so bfloat16 inputs stay bfloat16 in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "DispatchOutput",
    "expert_capacity",
    "expert_ffn",
    "capacity_dispatch",
    "dropless_dispatch",
    "expert_choice_dispatch",
]

Activation = Callable[[jax.Array], jax.Array]


class DispatchOutput(NamedTuple):
    """Result of a token-choice dispatch.

    Attributes:
      y: ``[T, d]`` combined expert output ``sum_j gates[t, j] * FFN_{e[t, j]}(x[t])``,
        where dropped assignments contribute 0.
      dropped: ``[T, k]`` bool, True where assignment ``(t, j)`` overflowed its expert's
        capacity and was not computed. Always False for :func:`dropless_dispatch`.
    """

    y: jax.Array
    dropped: jax.Array


def expert_capacity(num_tokens: int, num_experts: int, top_k: int, capacity_factor: float) -> int:
    """Static per-expert buffer size ``max(1, ceil(capacity_factor * T * k / E))``.

    ``T * k / E`` is the load of a perfectly balanced expert, so ``capacity_factor = 1``
    leaves no slack and ``E * C >= T * k``. The product is evaluated on the decimal value of
    ``capacity_factor`` (``1.1`` is exactly 11/10, not the nearest binary float), so that
    ``ceil`` does not round e.g. ``1.1 * 1000 / 10`` up to 111.
    """
    if capacity_factor <= 0:
        raise ValueError(f"capacity_factor must be > 0; got {capacity_factor}")
    load = Fraction(repr(float(capacity_factor))) * num_tokens * top_k / num_experts
    return max(1, math.ceil(load))


def _matmul(a: jax.Array, b: jax.Array, spec: str) -> jax.Array:
    """``einsum`` accumulated in float32, returned in the dtype of ``a``."""
    return jnp.einsum(spec, a, b, preferred_element_type=jnp.float32).astype(a.dtype)


def expert_ffn(
    xs: jax.Array, w_in: jax.Array, w_out: jax.Array, act: Activation = jax.nn.gelu
) -> jax.Array:
    """Batched two-layer expert FFN without biases: ``act(xs @ w_in) @ w_out`` per expert.

    Args:
      xs: ``[E, C, d]`` rows for each of ``E`` experts (or blocks).
      w_in: ``[E, d, f]``.
      w_out: ``[E, f, d]``.
      act: elementwise activation.

    Returns:
      ``[E, C, d]`` in the dtype of ``xs``.
    """
    return _matmul(act(_matmul(xs, w_in, "ecd,edf->ecf")), w_out, "ecf,efd->ecd")


def _rank_within_expert(expert_ids: jax.Array, num_experts: int) -> tuple[jax.Array, jax.Array]:
    """Arrival rank of each entry among earlier entries routed to the same expert.

    Args:
      expert_ids: ``[M]`` int expert ids, in priority order.
      num_experts: ``E``.

    Returns:
      ``(rank[M], counts[E])``: ``rank[i] = #{i' < i : ids[i'] == ids[i]}`` and the number
      of entries per expert. Computed as a cumulative sum over an ``[M, E]`` one-hot, which
      is cheaper than a sort for the expert counts MoE layers use.
    """
    one_hot = jax.nn.one_hot(expert_ids, num_experts, dtype=jnp.int32)
    arrivals = jnp.cumsum(one_hot, axis=0)
    rank = jnp.sum(arrivals * one_hot, axis=1) - 1
    return rank, arrivals[-1]


def _rows_to_tokens(row: jax.Array, num_rows: int) -> jax.Array:
    """Invert ``row[T, k]`` (the buffer row of each assignment) into ``token[num_rows]``.

    Rows that no assignment fills get the out-of-range token id ``T``; assignments whose row
    is out of range (dropped) are ignored.
    """
    num_tokens, top_k = row.shape
    tokens = jnp.broadcast_to(jnp.arange(num_tokens, dtype=jnp.int32)[:, None], row.shape)
    empty = jnp.full((num_rows,), num_tokens, dtype=jnp.int32)
    return empty.at[row.reshape(num_tokens * top_k)].set(
        tokens.reshape(num_tokens * top_k), mode="drop"
    )


def _gather_rows(x: jax.Array, index: jax.Array) -> jax.Array:
    """``x[index]`` along axis 0, reading zero rows for out-of-range indices."""
    return x.at[index].get(mode="fill", fill_value=0)


def _combine(out_rows: jax.Array, row: jax.Array, gates: jax.Array) -> jax.Array:
    """``y[t] = sum_j gates[t, j] * out_rows[row[t, j]]``; out-of-range rows read zero."""
    picked = _gather_rows(out_rows, row)  # [T, k, d]
    y = jnp.einsum("tk,tkd->td", gates, picked, preferred_element_type=jnp.float32)
    return y.astype(out_rows.dtype)


def _as_arrays(x, expert_index, gates, w_in, w_out):
    """Validates the token-choice shapes and converts array-likes (e.g. numpy) to jax arrays."""
    x, expert_index, gates, w_in, w_out = map(jnp.asarray, (x, expert_index, gates, w_in, w_out))
    if x.ndim != 2 or expert_index.ndim != 2 or expert_index.shape != gates.shape:
        raise ValueError(
            "expected x [T, d], expert_index [T, k], gates [T, k]; got "
            f"{x.shape}, {expert_index.shape}, {gates.shape}"
        )
    if expert_index.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} tokens but expert_index has {expert_index.shape[0]}")
    return x, expert_index, gates, w_in, w_out


def capacity_dispatch(
    x: jax.Array,
    expert_index: jax.Array,
    gates: jax.Array,
    w_in: jax.Array,
    w_out: jax.Array,
    *,
    capacity_factor: float,
    priority: str = "sequence",
    act: Activation = jax.nn.gelu,
) -> DispatchOutput:
    """Fixed-capacity dispatch: each expert serves at most ``C`` assignments, the rest drop.

    ``C = expert_capacity(T, E, k, capacity_factor)``. Assignments claim slots in priority
    order, always slot-major: every token's first choice is served before any token's second
    choice, and so on. Within the ``j``-th choices, tokens are ordered by

    * ``priority="sequence"``: token index (GShard / Switch Transformer);
    * ``priority="score"``: their top gate ``max_j gates[t, j]``, descending, ties by token
      index (Batch Prioritized Routing, Riquelme et al. 2021).

    An assignment is dropped when ``C`` earlier assignments already claimed its expert; it
    then contributes 0 to ``y`` (the token's other assignments still count). Cost is that
    of ``E * C`` FFN rows, plus an ``[T k, E]`` int32 cumulative sum and row gathers.

    Args:
      x: ``[T, d]`` tokens.
      expert_index: ``[T, k]`` int expert ids in ``[0, E)``.
      gates: ``[T, k]`` combine weights.
      w_in: ``[E, d, f]``; w_out: ``[E, f, d]``.
      capacity_factor: capacity relative to a perfectly balanced load (> 0, static).
      priority: ``"sequence"`` or ``"score"``.
      act: FFN activation.

    Returns:
      :class:`DispatchOutput` with ``y [T, d]`` and ``dropped [T, k]``.
    """
    x, expert_index, gates, w_in, w_out = _as_arrays(x, expert_index, gates, w_in, w_out)
    num_tokens, top_k = expert_index.shape
    num_experts = w_in.shape[0]
    capacity = expert_capacity(num_tokens, num_experts, top_k, capacity_factor)

    if priority not in ("sequence", "score"):
        raise ValueError(f"priority must be 'sequence' or 'score'; got {priority!r}")
    if priority == "score":
        order = jnp.argsort(jnp.max(gates, axis=1), descending=True, stable=True)
        queue = expert_index[order]
    else:
        queue = expert_index
    # Slot-major walk over [k, T]: all first choices, then all second choices, ...
    rank, _ = _rank_within_expert(queue.T.reshape(-1), num_experts)
    rank = rank.reshape(top_k, num_tokens).T
    if priority == "score":  # back from priority order to token order
        rank = jnp.zeros_like(rank).at[order].set(rank)

    dropped = rank >= capacity
    row = jnp.where(dropped, num_experts * capacity, expert_index * capacity + rank)
    xs = _gather_rows(x, _rows_to_tokens(row, num_experts * capacity))
    out = expert_ffn(xs.reshape(num_experts, capacity, -1), w_in, w_out, act)
    y = _combine(out.reshape(num_experts * capacity, -1), row, gates)
    return DispatchOutput(y, dropped)


def _map_active_blocks(fn, blocks, block_expert, num_experts, out_block):
    """``lax.map`` of ``fn(*block_slices, e)`` over blocks, skipping unused blocks (``e == E``).

    Skipped blocks return ``out_block`` (zeros of the right shape): on CPU the branch is real,
    so the unused tail of the static block bound costs nothing.
    """

    def body(args):
        *block, e = args
        return jax.lax.cond(e < num_experts, lambda: fn(*block, e), lambda: out_block)

    return jax.lax.map(body, (*blocks, block_expert))


@jax.custom_vjp
def _block_matmul(xs: jax.Array, w: jax.Array, block_expert: jax.Array) -> jax.Array:
    """``out[b] = xs[b] @ w[block_expert[b]]`` for xs ``[NB, B, i]``, w ``[E, i, o]``.

    Returns ``[NB, B, o]``; blocks with ``block_expert == E`` are unused and give zeros.

    One matmul per block in a loop, reading its expert's weights in place: the obvious
    ``einsum(xs, w[block_expert])`` materialises an ``[NB, i, o]`` copy of the weights and,
    in the backward pass, ``[NB, i, o]`` weight gradients to scatter-add back, memory traffic
    that costs more than the matmuls on CPU (about 1.3x vs 1.1x the dense step). The custom
    VJP accumulates ``dw[e] += xs[b]^T dout[b]`` in place, in float32.
    """
    zeros = jnp.zeros((xs.shape[1], w.shape[2]), xs.dtype)
    return _map_active_blocks(
        lambda xb, e: _matmul(xb, w[e], "ci,io->co"), (xs,), block_expert, w.shape[0], zeros
    )


def _block_matmul_fwd(xs, w, block_expert):
    return _block_matmul(xs, w, block_expert), (xs, w, block_expert)


def _block_matmul_bwd(residuals, d_out):
    xs, w, block_expert = residuals
    num_experts = w.shape[0]
    zeros = jnp.zeros(xs.shape[1:], d_out.dtype)
    d_xs = _map_active_blocks(
        lambda gb, e: _matmul(gb, w[e], "co,io->ci"), (d_out,), block_expert, num_experts, zeros
    )

    def accumulate(d_w, block):
        xb, gb, e = block
        update = jax.lax.cond(
            e < num_experts,
            lambda: jnp.einsum("ci,co->io", xb, gb, preferred_element_type=jnp.float32),
            lambda: jnp.zeros(w.shape[1:], jnp.float32),
        )
        return d_w.at[e].add(update, mode="drop"), None

    d_w, _ = jax.lax.scan(accumulate, jnp.zeros(w.shape, jnp.float32), (xs, d_out, block_expert))
    return d_xs.astype(xs.dtype), d_w.astype(w.dtype), None


_block_matmul.defvjp(_block_matmul_fwd, _block_matmul_bwd)


def _default_impl() -> str:
    return "ragged_dot" if jax.default_backend() in ("gpu", "tpu") else "blocks"


def dropless_dispatch(
    x: jax.Array,
    expert_index: jax.Array,
    gates: jax.Array,
    w_in: jax.Array,
    w_out: jax.Array,
    *,
    act: Activation = jax.nn.gelu,
    impl: str = "auto",
    block_size: int = 128,
) -> DispatchOutput:
    """Dropless dispatch: every assignment is computed, however unbalanced the routing.

    Assignments are laid out expert-major (by expert, then by token index) and fed to a
    grouped matmul:

    * ``impl="blocks"``: each expert's group is padded to a multiple of ``block_size`` rows,
      giving at most ``(T k + E (B - 1)) // B`` blocks of ``B`` rows, a static bound. Each
      block is one ``[B, d] @ [d, f]`` matmul with its expert's weights (the block-sparse
      formulation of MegaBlocks, Gale et al. 2022), run in a loop that skips the unused
      trailing blocks; a custom VJP accumulates the weight gradients in place, so this
      backend supports reverse-mode differentiation (``jax.grad``, ``jax.vjp``) but not
      ``jax.jvp``. Padding rows read zero inputs and are never combined.
    * ``impl="ragged_dot"``: :func:`jax.lax.ragged_dot` over exactly ``T k`` rows; the fast
      path on GPU/TPU, slow on CPU.
    * ``impl="auto"``: ``"ragged_dot"`` on GPU/TPU, ``"blocks"`` otherwise.

    Args:
      x, expert_index, gates, w_in, w_out, act: as in :func:`capacity_dispatch`.
      impl: ``"auto"``, ``"blocks"`` or ``"ragged_dot"``.
      block_size: rows per block for ``impl="blocks"``.

    Returns:
      :class:`DispatchOutput` whose ``dropped`` is all False.
    """
    x, expert_index, gates, w_in, w_out = _as_arrays(x, expert_index, gates, w_in, w_out)
    num_tokens, top_k = expert_index.shape
    num_experts = w_in.shape[0]
    num_assignments = num_tokens * top_k
    impl = _default_impl() if impl == "auto" else impl
    if impl == "blocks":
        group_multiple = block_size
    elif impl == "ragged_dot":
        group_multiple = 1
    else:
        raise ValueError(f"impl must be 'auto', 'blocks' or 'ragged_dot'; got {impl!r}")

    flat_index = expert_index.reshape(num_assignments)
    rank, sizes = _rank_within_expert(flat_index, num_experts)
    padded_sizes = -(-sizes // group_multiple) * group_multiple
    padded_ends = jnp.cumsum(padded_sizes)
    row = (padded_ends - padded_sizes)[flat_index] + rank
    row = row.reshape(num_tokens, top_k)

    if impl == "blocks":
        num_blocks = (num_assignments + num_experts * (block_size - 1)) // block_size
        num_rows = num_blocks * block_size
        xs = _gather_rows(x, _rows_to_tokens(row, num_rows))
        block_start = jnp.arange(num_blocks) * block_size
        # E for the unused blocks past the last expert's group: skipped.
        block_expert = jnp.searchsorted(padded_ends, block_start, side="right")
        h = act(_block_matmul(xs.reshape(num_blocks, block_size, -1), w_in, block_expert))
        out = _block_matmul(h, w_out, block_expert).reshape(num_rows, -1)
    else:
        xs = _gather_rows(x, _rows_to_tokens(row, num_assignments))
        h = jax.lax.ragged_dot(xs, w_in, sizes, preferred_element_type=jnp.float32)
        h = act(h.astype(x.dtype))
        out = jax.lax.ragged_dot(h, w_out, sizes, preferred_element_type=jnp.float32)
        out = out.astype(x.dtype)
    y = _combine(out, row, gates)
    return DispatchOutput(y, jnp.zeros(expert_index.shape, dtype=bool))


def expert_choice_dispatch(
    x: jax.Array,
    token_index: jax.Array,
    gates: jax.Array,
    w_in: jax.Array,
    w_out: jax.Array,
    *,
    act: Activation = jax.nn.gelu,
) -> jax.Array:
    """Expert-choice dispatch (Zhou et al. 2022): each expert processes the tokens it picked.

    ``y[t] = sum_{(e, c) : token_index[e, c] == t} gates[e, c] * FFN_e(x[t])``. A token may
    be picked by several experts or by none (then ``y[t] = 0``). Entries of ``token_index``
    outside ``[0, T)`` mark unused slots: they read zeros and are not combined.

    Args:
      x: ``[T, d]`` tokens.
      token_index: ``[E, C]`` int token ids chosen by each expert.
      gates: ``[E, C]`` combine weights.
      w_in: ``[E, d, f]``; w_out: ``[E, f, d]``.
      act: FFN activation.

    Returns:
      ``y [T, d]`` in the dtype of ``x``.
    """
    if token_index.shape != gates.shape or token_index.shape[0] != w_in.shape[0]:
        raise ValueError(
            f"expected token_index and gates [E, C] with E = {w_in.shape[0]}; got "
            f"{token_index.shape}, {gates.shape}"
        )
    num_experts, capacity = token_index.shape
    index = token_index.reshape(num_experts * capacity)
    xs = x.at[index].get(mode="fill", fill_value=0, wrap_negative_indices=False)
    out = expert_ffn(xs.reshape(num_experts, capacity, -1), w_in, w_out, act)
    weighted = (gates[:, :, None] * out.astype(jnp.float32)).reshape(num_experts * capacity, -1)
    y = jnp.zeros(x.shape, jnp.float32).at[index].add(
        weighted, mode="drop", wrap_negative_indices=False
    )
    return y.astype(x.dtype)
