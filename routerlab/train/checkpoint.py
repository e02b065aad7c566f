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

Resuming (:meth:`Checkpoints.restore_latest`) is careful about two kinds of damage:

* a checkpoint that cannot be read (a truncated array file, say) is skipped, with a
  one-line note on stderr, in favour of the newest readable one; the unreadable ones are
  deleted only after the fallback is accepted, so their steps can be saved again;
* records of ``metrics.jsonl`` that the restored step had already written must all be
  there (:func:`check_resume_records`): a resume that would silently leave a gap is
  refused with one line (:class:`~routerlab.rundir.RunDirInvalid`), nothing changed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from routerlab.rundir import RunDir, RunDirInvalid
from routerlab.train.step import TrainState

__all__ = ["Checkpoints", "flatten_state", "unflatten_state", "expected_records", "check_resume_records"]


def expected_records(upto: int, *, steps: int, log_every: int, eval_every: int) -> set[tuple[str, int]]:
    """``(split, step)`` of every record a training loop has written once step ``upto`` is done.

    The loop's schedule: ``train`` every ``log_every`` steps and at the last step, ``val``
    every ``eval_every`` steps and at the last step, ``test`` at the last step.
    """
    wanted = set()
    for step in range(1, upto + 1):
        last = step == steps
        if step % log_every == 0 or last:
            wanted.add(("train", step))
        if step % eval_every == 0 or last:
            wanted.add(("val", step))
        if last:
            wanted.add(("test", step))
    return wanted


def _ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def check_resume_records(run: RunDir, unit: str | None, step: int, expected: set[tuple[str, int]]) -> None:
    """Refuse (:class:`RunDirInvalid`) to resume ``unit`` from checkpoint ``step`` when some
    record that step had written (``expected``, see :func:`expected_records`) is missing
    from ``metrics.jsonl``; resuming would otherwise finish with a silent gap."""
    have = {(r.get("split"), r.get("step")) for r in run.records() if r.get("unit") == unit}
    missing = expected - have
    if missing:
        by_split = {}
        for split, s in missing:
            by_split.setdefault(split, []).append(s)
        what = "; ".join(f"{split} steps {_ranges(v)}" for split, v in sorted(by_split.items()))
        who = f"unit {unit!r}" if unit is not None else "the run"
        raise RunDirInvalid(f"{run.metrics_path}: {len(missing)} records of {who} up to its checkpoint step {step} "
                            f"are missing ({what}); resuming would lose them, so nothing was changed")


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

    def save(self, step: int, state: Any, meta: dict[str, Any] | None = None) -> None:
        """Write ``state`` (any pytree of arrays; a :class:`TrainState` for :func:`routerlab.train.train`)
        as step ``step``, with the JSON-able ``meta`` (logs so far, say) beside it in the same
        committed step directory, and wait until it is committed."""
        items = {"state": ocp.args.StandardSave(flatten_state(state))}
        if meta is not None:
            items["meta"] = ocp.args.JsonSave(meta)
        self._manager.save(step, args=ocp.args.Composite(**items), force=True)
        self._manager.wait_until_finished()

    def restore_meta(self, step: int) -> dict[str, Any]:
        """The ``meta`` saved with step ``step`` (:meth:`save`)."""
        return dict(self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])

    def restore(self, step: int, template: Any) -> Any:
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

    def restore_latest(
        self, template: Any, *, accept: Callable[[int], None] | None = None
    ) -> tuple[int | None, Any]:
        """``(step, state)`` of the newest checkpoint that reads back, or ``(None, template)``
        when there is none.

        An unreadable checkpoint is passed over for the one before it, saying so on stderr.
        ``accept(step)`` is called with the chosen step before anything is deleted (it may
        refuse by raising); then the unreadable newer checkpoints are deleted, so their steps
        can be saved again. With checkpoints present but none readable,
        :class:`~routerlab.rundir.RunDirInvalid` is raised, nothing deleted.
        """
        step, state = self._newest_readable(lambda s: self.restore(s, template), accept)
        return step, (template if step is None else state)

    def restore_latest_with_meta(self, template: Any) -> tuple[int | None, Any, dict[str, Any] | None]:
        """``(step, state, meta)`` of the newest checkpoint whose state *and* meta read back
        (as :meth:`restore_latest`, without ``accept``); ``(None, template, None)`` when there is none."""
        step, got = self._newest_readable(lambda s: (self.restore(s, template), self.restore_meta(s)), None)
        return (None, template, None) if step is None else (step, *got)

    def _newest_readable(self, read: Callable[[int], Any], accept: Callable[[int], None] | None) -> tuple[int | None, Any]:
        steps = self.steps()
        damaged: list[tuple[int, str]] = []
        for step in reversed(steps):
            try:
                got = read(step)
            except Exception as err:  # noqa: BLE001 -- orbax/tensorstore raise many types for a damaged file
                reason = " ".join(f"{type(err).__name__}: {err}".split())[:200]
                damaged.append((step, reason))
                continue
            if accept is not None:
                accept(step)
            for bad, reason in damaged:
                print(f"routerlab: checkpoint step {bad} in {self.directory} is damaged ({reason}); "
                      f"falling back to step {step}", file=sys.stderr)
                self._manager.delete(bad)
            return step, got
        if damaged:
            bad, reason = damaged[0]
            raise RunDirInvalid(f"{self.directory}: no readable checkpoint (newest, step {bad}: {reason})")
        if accept is not None:
            accept(0)
        return None, None

    def delete(self, step: int) -> None:
        self._manager.delete(step)

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
