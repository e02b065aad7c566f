"""MoE FFN training step against a dense FFN with the same active FLOPs per token.

One case times a jitted training step (forward, backward and an Adam update, a pure function
of the parameters) of a single FFN layer, round-robin against the dense step:

* MoE: router (``[d, E]`` linear, softmax, top-k, gates renormalised over the top k), then a
  dispatch backend from :mod:`routerlab.moe.dispatch` with ``E`` experts of width ``f``;
* dense: one FFN of width ``k * f``, so each token sees the same matmul FLOPs.

``ratio = moe_ms / dense_ms`` is the price of routing at equal compute. Everything runs in
float32 on the default backend, in one process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from routerlab.bench.common import environment, interleaved_median_ms
from routerlab.moe.dispatch import (
    DispatchOutput,
    capacity_dispatch,
    dropless_dispatch,
    expert_capacity,
)

__all__ = ["bench_moe"]

Params = dict[str, jax.Array]
Dispatch = Callable[..., DispatchOutput]


def _route(x: jax.Array, w_router: jax.Array, top_k: int) -> tuple[jax.Array, jax.Array]:
    """Softmax router: returns ``expert_index [T, k]`` and top-k gates renormalised to sum 1."""
    probs = jax.nn.softmax(x @ w_router, axis=-1)
    top_probs, expert_index = jax.lax.top_k(probs, top_k)
    return expert_index, top_probs / jnp.sum(top_probs, axis=-1, keepdims=True)


def _moe_ffn(
    params: Params, x: jax.Array, *, dispatch: Dispatch, top_k: int
) -> tuple[jax.Array, jax.Array]:
    """MoE FFN output and the fraction of dropped assignments."""
    expert_index, gates = _route(x, params["router"], top_k)
    out = dispatch(x, expert_index, gates, params["w_in"], params["w_out"])
    return out.y, jnp.mean(out.dropped)


def _dense_ffn(params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jax.nn.gelu(x @ params["w_in"]) @ params["w_out"], jnp.zeros(())


def _train_step(
    forward: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]],
    optimizer: optax.GradientTransformation,
):
    """Jitted ``(params, opt_state, x, target) -> (params, opt_state, loss, dropped)`` on MSE."""

    def loss_fn(params, x, target):
        y, dropped = forward(params, x)
        return jnp.mean(jnp.square(y - target)), dropped

    @jax.jit
    def step(params, opt_state, x, target):
        (loss, dropped), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, target)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, dropped

    return step


def _normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    return jax.random.normal(key, shape, jnp.float32) / jnp.sqrt(jnp.float32(fan_in))


class _Case(NamedTuple):
    dispatch: Dispatch
    buffer_rows: int  # rows of the static expert buffers (upper bound for blocks)
    capacity_factor: float | None = None
    block_size: int | None = None


def _cases(t: int, e: int, k: int, block_size: int) -> dict[str, _Case]:
    def capacity(factor: float) -> _Case:
        dispatch = functools.partial(capacity_dispatch, capacity_factor=factor)
        return _Case(dispatch, e * expert_capacity(t, e, k, factor), capacity_factor=factor)

    num_blocks = (t * k + e * (block_size - 1)) // block_size
    blocks = functools.partial(dropless_dispatch, impl="blocks", block_size=block_size)
    ragged = functools.partial(dropless_dispatch, impl="ragged_dot")
    return {
        "capacity_1.0": capacity(1.0),
        "capacity_1.25": capacity(1.25),
        "dropless_blocks": _Case(blocks, num_blocks * block_size, block_size=block_size),
        "dropless_ragged_dot": _Case(ragged, t * k),
    }


def bench_moe(
    *,
    repeats: int = 7,
    warmup: int = 2,
    d_model: int = 256,
    d_ff: int = 1024,
    num_experts: int = 8,
    top_k: int = 2,
    num_tokens: int = 4096,
    seed: int = 0,
    block_size: int = 128,
) -> list[dict[str, Any]]:
    """Time one MoE FFN training step per dispatch backend against a FLOP-matched dense FFN.

    Cases: ``capacity_1.0`` and ``capacity_1.25`` (sequence priority), ``dropless_blocks``
    (``block_size`` rows per block) and, for reference, ``dropless_ragged_dot``. For each
    case, dense and MoE steps alternate for ``warmup`` untimed and ``repeats`` timed rounds;
    the medians are reported.

    FLOPs are analytic matmul FLOPs of a training step (forward + backward = 3x forward):
    ``dense_flops`` and ``moe_flops`` count useful work (``T k`` expert rows plus the router);
    ``moe_buffer_flops`` counts the rows of the static expert buffers instead: ``E C`` for
    capacity, the block bound for blocks (an upper bound, unused blocks are skipped) and
    ``T k`` for ragged_dot.

    Returns:
      One dict per case with ``case``, ``moe_ms``, ``dense_ms``, ``ratio``
      (``moe_ms / dense_ms``), the FLOP counts, ``dropped_fraction`` of assignments at
      initialisation, the shapes, ``repeats``, ``warmup`` and :func:`environment`.
    """
    d, f, e, k, t = d_model, d_ff, num_experts, top_k, num_tokens
    keys = jax.random.split(jax.random.key(seed), 7)
    x = jax.random.normal(keys[0], (t, d), jnp.float32)
    target = jax.random.normal(keys[1], (t, d), jnp.float32)
    moe_params = {
        "router": _normal(keys[2], (d, e), d),
        "w_in": _normal(keys[3], (e, d, f), d),
        "w_out": _normal(keys[4], (e, f, d), f),
    }
    dense_params = {
        "w_in": _normal(keys[5], (d, k * f), d),
        "w_out": _normal(keys[6], (k * f, d), k * f),
    }
    optimizer = optax.adam(1e-3)
    dense_step = _train_step(_dense_ffn, optimizer)
    dense_state = optimizer.init(dense_params)
    moe_state = optimizer.init(moe_params)

    dense_flops = 3 * 2 * t * 2 * d * k * f
    router_flops = 3 * 2 * t * d * e
    env = environment()
    records = []
    for name, case in _cases(t, e, k, block_size).items():
        forward = functools.partial(_moe_ffn, dispatch=case.dispatch, top_k=k)
        moe_step = _train_step(forward, optimizer)
        ms = interleaved_median_ms(
            {
                "dense": lambda: dense_step(dense_params, dense_state, x, target),
                "moe": lambda: moe_step(moe_params, moe_state, x, target),
            },
            repeats=repeats,
            warmup=warmup,
        )
        dropped = moe_step(moe_params, moe_state, x, target)[3]
        records.append(
            {
                "case": name,
                "moe_ms": ms["moe"],
                "dense_ms": ms["dense"],
                "ratio": ms["moe"] / ms["dense"],
                "dense_flops": dense_flops,
                "moe_flops": dense_flops + router_flops,
                "moe_buffer_flops": 3 * 2 * case.buffer_rows * 2 * d * f + router_flops,
                "dropped_fraction": float(dropped),
                "capacity_factor": case.capacity_factor,
                "block_size": case.block_size,
                "num_tokens": t,
                "d_model": d,
                "d_ff": f,
                "dense_d_ff": k * f,
                "num_experts": e,
                "top_k": k,
                "dtype": "float32",
                "repeats": repeats,
                "warmup": warmup,
                **env,
            }
        )
    return records
