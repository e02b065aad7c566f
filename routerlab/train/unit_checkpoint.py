"""Mid-unit checkpoints of a training that runs in segments (a study's unit: all its seeds at once).

A study's *unit* (one LM config at one learning rate for all its seeds,
:func:`routerlab.studies.lm_sweep.train_seeds`; one planted-experts variant for all its seeds,
:func:`routerlab.studies.planted.run`) trains in segments of scanned steps. After every segment
but the last, :meth:`UnitCheckpoints.save` writes the stacked state of all seeds and the logs so
far (JSON: per-step training curves and the evaluations done) as one orbax step named by the
steps done (:class:`routerlab.train.Checkpoints`, committed atomically, newest ``keep`` kept).
A resumed unit (:meth:`UnitCheckpoints.resume`) restores the newest readable one (a damaged
one falls back to the one before, saying so; with none readable the unit starts over, which
loses nothing, since a unit's records are logged only when it ends) and runs only the
remaining segments.

Why the result is byte-identical to an uninterrupted run: the segments are the evaluation
cadence itself, so checkpointing adds no step boundary and changes no compiled program; the
restored arrays are the saved bits; the logs go through JSON, which round-trips every float
exactly (``repr`` is the shortest exact decimal; float32 values pass through float64 exactly).

The directory is the caller's (``<run>/checkpoints/<unit key>/``): it deletes it once the
unit's records are logged (:meth:`UnitCheckpoints.remove`), so a finished run holds none. A
checkpoint whose ``fingerprint`` (the seeds and the segment boundaries, say) differs from the
resuming unit's is not used: the unit restarts from its first step, saying so on stderr.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from routerlab.rundir import RunDirInvalid
from routerlab.train.checkpoint import Checkpoints

__all__ = ["UnitCheckpoints"]


class UnitCheckpoints:
    """The mid-unit checkpoints of one unit in ``directory``; ``None`` turns them off (every
    method is then a no-op and :meth:`resume` starts from step 0)."""

    def __init__(self, directory: Path | str | None, *, keep: int = 2):
        self.directory = None if directory is None else Path(directory)
        self._keep = keep
        # Opened when there is something to read or write, so a unit that fails before its
        # first checkpoint leaves no empty directory behind.
        self._ckpts = None
        if self.directory is not None and self.directory.is_dir():
            self._ckpts = Checkpoints(self.directory, keep=keep)

    def resume(self, template: Any, fingerprint: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
        """``(steps done, state, logs)`` of the newest readable checkpoint saved with this
        ``fingerprint``, or ``(0, template, {})``. ``template``: the freshly initialised state,
        whose structure, shapes and dtypes the saved one must match."""
        if self._ckpts is None or not self._ckpts.steps():
            return 0, template, {}
        try:
            step, state, meta = self._ckpts.restore_latest_with_meta(template)
        except RunDirInvalid as err:  # every checkpoint damaged: the unit's start is its last good state
            return self._restart(f"{err}; restarting the unit from step 0", template)
        if step is None:
            return 0, template, {}
        if meta.get("fingerprint") != fingerprint:
            return self._restart(f"{self.directory}: checkpoint step {step} is of another schedule "
                                 f"({meta.get('fingerprint')} != {fingerprint}); restarting the unit from step 0",
                                 template)
        return step, state, meta["logs"]

    def _restart(self, note: str, template: Any) -> tuple[int, Any, dict[str, Any]]:
        print(f"routerlab: {note}", file=sys.stderr)
        for old in self._ckpts.steps():
            self._ckpts.delete(old)
        return 0, template, {}

    def save(self, steps_done: int, state: Any, logs: dict[str, Any], fingerprint: dict[str, Any]) -> None:
        """Commit ``state`` and the JSON-able ``logs`` after ``steps_done`` steps."""
        if self.directory is None:
            return
        if self._ckpts is None:
            self._ckpts = Checkpoints(self.directory, keep=self._keep)
        self._ckpts.save(steps_done, state, {"fingerprint": fingerprint, "logs": logs})

    def steps(self) -> list[int]:
        return [] if self._ckpts is None else self._ckpts.steps()

    def close(self) -> None:
        if self._ckpts is not None:
            self._ckpts.close()
            self._ckpts = None

    def remove(self) -> None:
        """Close and delete the directory (the unit's records are logged: nothing here is needed)."""
        self.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> UnitCheckpoints:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
