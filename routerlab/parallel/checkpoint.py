"""Sharded checkpoints: save a sharded :class:`TrainState`, restore it onto any mesh.

The on-disk layout is :class:`routerlab.train.Checkpoints`' (one ``state`` item, a flat
``{dotted path: array}`` dict), so a run can be saved on one mesh and resumed on another,
or on a single device. Saving is :meth:`Checkpoints.save` unchanged: orbax writes each
array's shards from the devices that hold them (on several hosts, each host writes its
own). Restoring reads straight into the target shardings: every abstract leaf carries its
:class:`NamedSharding` on the new mesh, so orbax reads only each device's slice, never a
full host copy of the state.
"""

from __future__ import annotations

from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.sharding import Mesh

from routerlab.parallel.train import state_shardings
from routerlab.train.checkpoint import Checkpoints, flatten_state, unflatten_state

__all__ = ["ShardedCheckpoints"]


class ShardedCheckpoints(Checkpoints):
    """:class:`Checkpoints` plus :meth:`restore_sharded`."""

    def restore_sharded(self, step: int, template: Any, mesh: Mesh, shardings: Any = None) -> Any:
        """The state saved at ``step``, laid out on ``mesh``.

        Args:
          template: a pytree of arrays or ``jax.ShapeDtypeStruct`` with the state's structure
            (e.g. ``jax.eval_shape(init_state, cfg)``); shapes and dtypes are checked.
          mesh: the target mesh (any shape: the saving mesh does not matter).
          shardings: target shardings (pytree like ``template``); default
            :func:`routerlab.parallel.train.state_shardings` on ``mesh``.
        """
        shardings = state_shardings(template, mesh) if shardings is None else shardings
        flat_t, flat_s = flatten_state(template), flatten_state(shardings)
        abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=flat_s[k]) for k, v in flat_t.items()}
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        flat = dict(restored["state"])
        for name, value in flat.items():
            want = abstract[name]
            if value.shape != want.shape or value.dtype != want.dtype:
                raise ValueError(f"checkpoint step {step}: {name} is {value.dtype}{list(value.shape)}, "
                                 f"the model expects {want.dtype}{list(want.shape)}")
        return unflatten_state(template, flat)
