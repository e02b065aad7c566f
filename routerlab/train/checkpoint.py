"""Orbax checkpoints of a :class:`TrainState` under ``<run dir>/ckpt/<step>/``.

Uses ``orbax.checkpoint.CheckpointManager`` (the step-series API of orbax-checkpoint
0.12, with a ``LatestN`` preservation policy) with one ``StandardSave`` item, ``state``: a flat ``{dotted path: array}`` dict of
the whole train state (parameters, other variables such as router biases, and the
optimiser state). Flattening to plain string keys keeps the on-disk layout independent of
how flax and optax spell their pytree nodes; restoring unflattens into the structure of a
freshly built state, so a checkpoint whose shapes, dtypes or entries differ from the
config's model is refused rather than half-loaded.

Saves are synchronous: when :meth:`Checkpoints.save` returns, the step directory has
been committed (orbax writes to a temporary directory and renames it), so a process killed
at any moment leaves either the previous checkpoints or the new one, never a torn one;
leftover temporary directories are removed when the manager is next opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from routerlab.train.step import TrainState

__all__ = ["Checkpoints", "flatten_state", "unflatten_state"]


def _entry_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    raise TypeError(f"unsupported pytree path entry {entry!r}")


def flatten_state(state: Any) -> dict[str, Any]:
    """``{dotted path: leaf}`` of a pytree (``params.layers.0.attn.wq.value``)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(state)
    flat = {".".join(_entry_name(e) for e in path): leaf for path, leaf in leaves}
    if len(flat) != len(leaves):
        raise ValueError("two leaves of the train state share a dotted path")
    return flat


def unflatten_state(template: Any, flat: dict[str, Any]) -> Any:
    """Put the leaves of ``flat`` back into the structure of ``template``."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [".".join(_entry_name(e) for e in path) for path, _ in leaves]
    missing = sorted(set(names) - set(flat))
    extra = sorted(set(flat) - set(names))
    if missing or extra:
        raise ValueError(f"checkpoint does not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
    return jax.tree_util.tree_unflatten(treedef, [flat[n] for n in names])


class Checkpoints:
    """The checkpoints of one run: save every few steps, keep the newest ``keep``."""

    def __init__(self, directory: Path | str, keep: int):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(n=keep),
            create=True,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        self._manager.reload()  # the directory may have changed behind this manager
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: TrainState) -> None:
        """Write ``state`` as step ``step`` and wait until it is committed."""
        flat = flatten_state(state)
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(flat)), force=True)
        self._manager.wait_until_finished()

    def restore(self, step: int, template: TrainState) -> TrainState:
        """The state saved at ``step``, in the structure (and checked against the shapes) of ``template``."""
        flat_template = flatten_state(template)
        abstract = {k: jax.ShapeDtypeStruct(np.shape(v), np.asarray(v).dtype if not hasattr(v, "dtype") else v.dtype)
                    for k, v in flat_template.items()}
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        flat = dict(restored["state"])
        for name, value in flat.items():
            if np.shape(value) != abstract[name].shape or value.dtype != abstract[name].dtype:
                raise ValueError(
                    f"checkpoint step {step}: {name} is {value.dtype}{list(np.shape(value))}, "
                    f"the model expects {abstract[name].dtype}{list(abstract[name].shape)}"
                )
        return unflatten_state(template, flat)

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
