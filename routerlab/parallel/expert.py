"""Expert parallelism: experts sharded over a mesh axis, tokens moved by ``all_to_all``.

:func:`ep_dispatch` is the sharded counterpart of :func:`routerlab.moe.dispatch.capacity_dispatch`
and :func:`~routerlab.moe.dispatch.dropless_dispatch`. Inside one :func:`jax.shard_map`:

1. every device holds ``T / P`` tokens (``P`` = product of all mesh axes; tokens are sharded
   over every axis, data-major) and ``E / n`` experts (``n`` = size of the expert axis;
   experts are replicated over the other axes);
2. it packs its kept assignments into a send buffer ``[E, S, d]`` (``S`` rows per
   destination expert), exchanges it with ``all_to_all`` over the expert axis, runs its
   local experts on the ``[E/n, n S, d]`` rows it received, and returns the outputs by a
   second ``all_to_all``;
3. it combines its tokens' outputs with their gates.

Which assignments are kept, and ``S``:

* ``capacity_factor=None`` (dropless): every assignment. A device sends at most ``T/P`` rows
  to one expert (a token picks an expert at most once), so ``S = T/P``: the static worst case.
  Each device then holds ``E T/P`` received rows where ``k T/P`` carry work, an ``E/k``
  overhead in memory and (padded) expert FLOPs, in exchange for never dropping and for
  static shapes. Sort-and-pad by destination *device* (``T/P * min(k, E/n)`` rows) would be
  smaller when ``E/n > k``; it is not implemented.
* ``capacity_scope="global"`` (default with a capacity): exactly the single-device
  :func:`capacity_dispatch` on all ``T`` tokens with ``priority="sequence"``: ``C`` is computed
  from the global ``T``, and an assignment's rank among all earlier (slot-major, token-order)
  assignments to its expert is found from an ``all_gather`` of per-device ``[k, E]`` counts.
  ``S = min(C, T/P)``; with many devices ``C`` exceeds ``T/P`` and the buffers are as large
  as dropless ones.
* ``capacity_scope="local"``: GShard's per-group capacity, ``C = expert_capacity(T/P, ...)``
  decided on each device's own tokens; equal to ``capacity_dispatch`` applied to each
  device's token group, and ``S = C`` (``cf k T/P`` rows per device, the efficient choice).

Routing is not inside the ``shard_map``: :func:`ep_moe` computes the router and the auxiliary
losses with :class:`routerlab.moe.MoELayer`'s own code under ``jit`` (per-token ops, so GSPMD
keeps them sharded; the balance loss is a global mean, as on one device) and only the dispatch
is manual. Outputs and gradients (x, gates/router, expert weights) equal the single-device
layer up to float rounding; ``tests/parallel/test_expert.py`` checks this on 8 CPU devices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from routerlab.moe.dispatch import DispatchOutput, expert_capacity, expert_ffn
from routerlab.moe.layer import ACTIVATIONS, MoEAux, MoELayer, _summarize
from routerlab.moe.losses import load_balance_loss
from routerlab.moe.metrics import dropped_fraction, expert_load
from routerlab.moe.registry import ROUTERS


def expert_parallel_routers() -> tuple[str, ...]:
    """Registered routers :func:`ep_moe` can shard (``RouterSpec.expert_parallel``: token choice)."""
    return tuple(name for name, spec in ROUTERS.items() if spec.expert_parallel)

__all__ = ["ep_dispatch", "ep_moe", "ep_buffer_rows", "expert_parallel_routers"]
Scope = Literal["global", "local"]


def _token_axes(mesh: Mesh) -> tuple[str, ...]:
    return tuple(mesh.axis_names)


def ep_buffer_rows(
    num_tokens: int, num_experts: int, top_k: int, num_shards: int,
    capacity_factor: float | None, capacity_scope: Scope = "global",
) -> int:
    """``S``: rows each device sends to each expert (see the module docstring)."""
    local_tokens = num_tokens // num_shards
    if capacity_factor is None:
        return local_tokens
    if capacity_scope == "local":
        return expert_capacity(local_tokens, num_experts, top_k, capacity_factor)
    return min(expert_capacity(num_tokens, num_experts, top_k, capacity_factor), local_tokens)


def _ranks(expert_index: jax.Array, num_experts: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Slot-major arrival ranks of one device's assignments.

    Returns ``(rank [k, T], rank_within [k, T], counts [k, E], one_hot [k, T, E])``:
    ``rank[j, t]`` counts the assignments before ``(t, j)`` in slot-major order (``j' < j``,
    or ``j' == j`` and ``t' < t``) that go to the same expert; ``rank_within`` counts only
    those with ``j' == j``; ``counts[j, e]`` is the number of ``j``-th choices of expert ``e``.
    """
    one_hot = jax.nn.one_hot(expert_index.T, num_experts, dtype=jnp.int32)  # [k, T, E]
    within = jnp.cumsum(one_hot, axis=1)  # arrivals within choice j
    counts = within[:, -1]
    earlier_choices = jnp.cumsum(counts, axis=0) - counts
    rank_within = jnp.sum(within * one_hot, axis=-1) - 1
    rank = rank_within + jnp.sum(earlier_choices[:, None, :] * one_hot, axis=-1)
    return rank, rank_within, counts, one_hot


def ep_dispatch(
    x: jax.Array,
    expert_index: jax.Array,
    gates: jax.Array,
    w_in: jax.Array,
    w_out: jax.Array,
    *,
    mesh: Mesh,
    expert_axis: str = "expert",
    capacity_factor: float | None = None,
    capacity_scope: Scope = "global",
    act: Callable[[jax.Array], jax.Array] = jax.nn.gelu,
    collectives: bool = True,
) -> DispatchOutput:
    """Expert-parallel token-choice dispatch over ``mesh`` (call under ``jax.jit``).

    Args:
      x: ``[T, d]`` tokens; ``T`` must divide by the number of devices of ``mesh``.
      expert_index: ``[T, k]`` int expert ids, distinct within each row (every router's are).
      gates: ``[T, k]`` combine weights.
      w_in: ``[E, d, f]``; w_out: ``[E, f, d]``; ``E`` must divide by the expert-axis size.
      mesh: device mesh; tokens are sharded over all its axes, experts over ``expert_axis``.
      capacity_factor: ``None`` for dropless, else as in ``capacity_dispatch``.
      capacity_scope: ``"global"`` (same drops as one device) or ``"local"`` (per device).
      act: FFN activation.
      collectives: benchmarking only. ``False`` replaces both ``all_to_all`` calls by the
        identity (same shapes and local work, wrong results) to measure what they cost.

    Returns:
      :class:`DispatchOutput` with ``y [T, d]`` in the dtype of ``x`` and ``dropped [T, k]``.
    """
    num_tokens, top_k = expert_index.shape
    num_experts = w_in.shape[0]
    token_axes = _token_axes(mesh)
    num_shards = math.prod(mesh.shape[a] for a in token_axes)
    num_ep = mesh.shape[expert_axis]
    if num_experts % num_ep:
        raise ValueError(f"num_experts={num_experts} must divide by the '{expert_axis}' axis size {num_ep}")
    if num_tokens % num_shards:
        raise ValueError(f"T={num_tokens} tokens must divide by the {num_shards} devices of the mesh")
    if capacity_scope not in ("global", "local"):
        raise ValueError(f"capacity_scope must be 'global' or 'local'; got {capacity_scope!r}")
    local_tokens = num_tokens // num_shards
    rows = ep_buffer_rows(num_tokens, num_experts, top_k, num_shards, capacity_factor, capacity_scope)
    experts_per_device = num_experts // num_ep

    def exchange(buffer):  # [n, E/n S, d]: block i goes to expert-axis device i; returns block i from device i
        return jax.lax.all_to_all(buffer, expert_axis, 0, 0, tiled=True) if collectives else buffer

    def local(x, expert_index, gates, w_in, w_out):
        rank, rank_within, counts, one_hot = _ranks(expert_index, num_experts)
        if capacity_factor is None:
            kept = jnp.ones(rank.shape, bool)
        elif capacity_scope == "local":
            kept = rank < rows
        else:
            capacity = expert_capacity(num_tokens, num_experts, top_k, capacity_factor)
            every = jax.lax.all_gather(counts, token_axes)  # [P, k, E], data-major device order
            me = jax.lax.axis_index(token_axes)
            earlier_devices = jnp.sum(jnp.where((jnp.arange(num_shards) < me)[:, None, None], every, 0), axis=0)
            totals = jnp.sum(every, axis=0)
            earlier_choices = jnp.cumsum(totals, axis=0) - totals
            offset = earlier_devices + earlier_choices  # [k, E]
            global_rank = rank_within + jnp.sum(offset[:, None, :] * one_hot, axis=-1)
            kept = global_rank < capacity  # kept ones are a prefix of this device's queue: rank < rows
        row = jnp.where(kept, expert_index.T * rows + rank, num_experts * rows).T  # [T, k]
        tokens = jnp.broadcast_to(jnp.arange(local_tokens, dtype=jnp.int32)[:, None], row.shape)
        source = jnp.full((num_experts * rows,), local_tokens, jnp.int32).at[row.reshape(-1)].set(
            tokens.reshape(-1), mode="drop")
        send = x.at[source].get(mode="fill", fill_value=0)  # [E S, d], expert-major
        d = x.shape[-1]
        recv = exchange(send.reshape(num_ep, experts_per_device * rows, d))  # [n (source), E/n S, d]
        recv = recv.reshape(num_ep, experts_per_device, rows, d).transpose(1, 0, 2, 3)
        out = expert_ffn(recv.reshape(experts_per_device, num_ep * rows, d), w_in, w_out, act)
        out = out.reshape(experts_per_device, num_ep, rows, d).transpose(1, 0, 2, 3)
        back = exchange(out.reshape(num_ep, experts_per_device * rows, d)).reshape(num_experts * rows, d)
        picked = back.at[row].get(mode="fill", fill_value=0)  # [T, k, d]
        y = jnp.einsum("tk,tkd->td", gates, picked, preferred_element_type=jnp.float32)
        return y.astype(x.dtype), ~kept.T

    tok = P(token_axes)
    experts = P(expert_axis)
    fn = jax.shard_map(local, mesh=mesh, in_specs=(tok, tok, tok, experts, experts), out_specs=(tok, tok))
    y, dropped = fn(x, expert_index, gates, w_in, w_out)
    return DispatchOutput(y, dropped)


def ep_moe(
    layer: MoELayer,
    x: jax.Array,
    *,
    mesh: Mesh,
    expert_axis: str = "expert",
    capacity_scope: Scope = "global",
    key: jax.Array | None = None,
    token_ids: jax.Array | None = None,
) -> tuple[jax.Array, MoEAux]:
    """``layer(x, key=key, token_ids=token_ids)`` with expert-parallel dispatch over ``mesh``.

    Routers whose spec allows it only (:func:`expert_parallel_routers`: the token-choice
    ones, built-in ``top_k``, ``deepseek``, ``sinkhorn``, ``hash``); capacity dispatch needs
    ``priority="sequence"``. The router runs in float32 whatever the dtype of
    ``x`` (experts compute in the dtype of ``x``), and the aux losses and metrics are the
    layer's own.
    """
    cfg = layer.cfg
    if not cfg.spec.expert_parallel:
        raise ValueError(f"expert parallelism supports the token-choice routers {expert_parallel_routers()}; "
                         f"got {cfg.router!r}")
    if cfg.capacity_factor is not None and cfg.priority != "sequence":
        raise ValueError("expert-parallel capacity dispatch supports priority='sequence' only")
    if x.shape[-1] != cfg.d_model:
        raise ValueError(f"expected x [..., {cfg.d_model}]; got {x.shape}")
    tokens = x.reshape(-1, cfg.d_model)
    routing = layer.route(tokens, key=key, token_ids=None if token_ids is None else token_ids.reshape(-1))
    out = ep_dispatch(
        tokens, routing.expert_index, routing.gates,
        layer.w_in[...].astype(x.dtype), layer.w_out[...].astype(x.dtype),
        mesh=mesh, expert_axis=expert_axis, capacity_factor=cfg.capacity_factor,
        capacity_scope=capacity_scope, act=ACTIVATIONS[cfg.activation],
    )
    balance = None if routing.logits is None else load_balance_loss(routing.probs, routing.expert_index)
    load = expert_load(routing.expert_index, cfg.num_experts)
    aux = _summarize(cfg, load, dropped_fraction(out.dropped), routing.probs, routing.logits, balance)
    y = out.y.reshape(x.shape)
    if layer.shared is not None:
        y = y + layer.shared.apply(x)
    return y, aux
