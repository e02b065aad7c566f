"""Sharded sweeps: split the leading (vmapped) axis of a pure simulation over devices.

``sharded_vmap(fn, mesh)`` is ``jax.vmap(fn)`` compiled once with ``in_shardings`` and
``out_shardings`` that split the mapped axis over a 1-D mesh: each device runs its slice
of the grid (e.g. seeds x lambdas flattened into one axis) and no communication happens,
since grid points are independent. A grid whose size does not divide by the device count is
padded by repeating its last point, and the padding is sliced off the result, so any size
works and the answer equals the unsharded vmap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["sweep_mesh", "sharded_vmap"]


def sweep_mesh(devices: Sequence[jax.Device] | None = None, axis: str = "sweep") -> Mesh:
    """A 1-D mesh named ``axis`` over ``devices`` (default: all devices)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (axis,), axis_types=(AxisType.Auto,), devices=devices)


def sharded_vmap(fn: Callable, mesh: Mesh | None = None, *, in_axes: Sequence[int | None] | int = 0) -> Callable:
    """``jax.vmap(fn, in_axes)`` with the mapped axis split over the 1-D ``mesh``.

    Args:
      fn: a pure function of pytrees of arrays.
      mesh: 1-D mesh (default :func:`sweep_mesh`).
      in_axes: per positional argument, ``0`` (mapped over its leading axis) or ``None``
        (broadcast: replicated on every device). Only leading axes can be mapped.

    Returns:
      A function of the same arguments whose outputs have the mapped axis first.
    """
    mesh = sweep_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"need a 1-D mesh; got axes {mesh.axis_names}")
    (axis,) = mesh.axis_names
    devices = mesh.shape[axis]
    split, replicated = NamedSharding(mesh, P(axis)), NamedSharding(mesh, P())
    compiled: dict[int, Callable] = {}

    def run(*args: Any) -> Any:
        axes = (in_axes,) * len(args) if isinstance(in_axes, int) or in_axes is None else tuple(in_axes)
        if len(axes) != len(args) or any(a not in (0, None) for a in axes):
            raise ValueError(f"in_axes must be 0 or None per argument; got {in_axes} for {len(args)} arguments")
        sizes = {leaf.shape[0] for a, arg in zip(axes, args) if a == 0 for leaf in jax.tree.leaves(arg)}
        if len(sizes) != 1:
            raise ValueError(f"mapped arguments need one common leading size; got {sorted(sizes)}")
        (size,) = sizes
        pad = -size % devices

        def padded(leaf):
            leaf = jnp.asarray(leaf)
            if not pad:
                return leaf
            return jnp.concatenate([leaf, jnp.repeat(leaf[-1:], pad, axis=0)], axis=0)

        args = tuple(jax.tree.map(padded, arg) if a == 0 else arg for a, arg in zip(axes, args))
        if len(args) not in compiled:
            shardings = tuple(split if a == 0 else replicated for a in axes)
            compiled[len(args)] = jax.jit(jax.vmap(fn, in_axes=axes), in_shardings=shardings, out_shardings=split)
        out = compiled[len(args)](*args)
        return jax.tree.map(lambda leaf: leaf[:size], out) if pad else out

    return run
