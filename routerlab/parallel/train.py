"""Data-parallel and FSDP training of the toy LM with :class:`NamedSharding`\\ s on a mesh.

No custom collectives: the state and the batch get shardings, the (unchanged) train step of
:mod:`routerlab.train.step` is jitted with those as ``in_shardings``/``out_shardings``, and
XLA's SPMD partitioner inserts the all-gathers and reduce-scatters. Rules
(:func:`partition_spec`, by a leaf's dotted path and shape, so Adam's ``mu``/``nu`` get the
sharding of their parameter):

* MoE expert weights (``...ffn.w_in``/``w_out`` with 3 dims ``[E, ., .]``): dim 0 over
  ``expert``;
* every leaf with >= 2 dims: its largest remaining dim divisible by the ``fsdp`` size over
  ``fsdp`` (none when ``fsdp == 1``);
* everything else (norm scales, router biases, step counts): replicated.

The batch ``tokens [B, T+1]`` is split on ``B`` over ``(data, fsdp, expert)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from routerlab.parallel.mesh import AXES
from routerlab.train.checkpoint import flatten_state
from routerlab.train.config import LMRunConfig
from routerlab.train.state import init_state
from routerlab.train.step import TrainState

__all__ = ["partition_spec", "state_shardings", "batch_sharding", "shard_state", "init_sharded_state", "sharded_train_step"]


def _is_expert_weight(name: str, shape: tuple[int, ...]) -> bool:
    parts = name.split(".")
    return len(shape) == 3 and "ffn" in parts and ("w_in" in parts or "w_out" in parts)


def partition_spec(name: str, shape: tuple[int, ...], mesh: Mesh) -> P:
    """The :class:`PartitionSpec` of the state leaf at dotted path ``name`` (module docstring)."""
    spec: list[str | None] = [None] * len(shape)
    expert, fsdp = mesh.shape.get("expert", 1), mesh.shape.get("fsdp", 1)
    if expert > 1 and _is_expert_weight(name, shape):
        if shape[0] % expert:
            raise ValueError(f"{name}: {shape[0]} experts do not divide over the expert axis of size {expert}")
        spec[0] = "expert"
    if fsdp > 1 and len(shape) >= 2:
        free = [i for i in range(len(shape)) if spec[i] is None and shape[i] % fsdp == 0]
        if free:
            spec[max(free, key=lambda i: shape[i])] = "fsdp"
    return P(*spec)


def state_shardings(state: Any, mesh: Mesh) -> Any:
    """A pytree of :class:`NamedSharding` matching ``state`` (a TrainState or any pytree of
    arrays / ShapeDtypeStructs)."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    names = list(flatten_state(state))
    return jax.tree_util.tree_unflatten(
        treedef, [NamedSharding(mesh, partition_spec(n, tuple(leaf.shape), mesh)) for n, leaf in zip(names, leaves)]
    )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batch dim over every mesh axis (data-major)."""
    return NamedSharding(mesh, P(tuple(a for a in AXES if a in mesh.axis_names)))


def shard_state(state: Any, mesh: Mesh) -> Any:
    """A copy of ``state`` placed on ``mesh`` with :func:`state_shardings`.

    The copy never shares buffers with ``state``, so donating it to :func:`sharded_train_step`
    leaves ``state`` intact (``jax.device_put`` alone keeps the source device's buffer as a
    replica). For states too large for one device, use :func:`init_sharded_state`."""
    return jax.device_put(jax.tree.map(jnp.copy, state), state_shardings(state, mesh))


def init_sharded_state(cfg: LMRunConfig, mesh: Mesh) -> TrainState:
    """:func:`routerlab.train.init_state` computed directly in its shardings on ``mesh``: each
    device materialises only its own shards, and the values equal the unsharded init."""
    abstract = jax.eval_shape(lambda: init_state(cfg))
    return jax.jit(lambda: init_state(cfg), out_shardings=state_shardings(abstract, mesh))()


def sharded_train_step(step: Callable, state: TrainState, mesh: Mesh) -> Callable:
    """``step`` (from :func:`routerlab.train.make_train_step` or ``compiled_steps``) jitted with
    the state's shardings in and out, the batch split over the mesh, the keys replicated; the
    metrics are left to the partitioner. The input state is donated (its buffers are reused
    for the new state), as in any memory-bound training loop. Numerically the single-device step, up to the order
    of float reductions. Called as ``sharded(state, tokens, key, mask_key=None)``, like ``step``."""
    shardings = state_shardings(state, mesh)
    replicated = NamedSharding(mesh, P())
    jitted = jax.jit(
        step,
        in_shardings=(shardings, batch_sharding(mesh), replicated, replicated),  # state, tokens, key, mask_key
        out_shardings=(shardings, None, None),
        donate_argnums=(0,),
    )

    def sharded(state: TrainState, tokens: jax.Array, key: jax.Array | None, mask_key: jax.Array | None = None):
        return jitted(state, tokens, key, mask_key)

    return sharded
