"""TensorBoard event files mirrored from ``metrics.jsonl``.

Every record a run logs (:meth:`routerlab.rundir.RunDir.log`) is also written, as TensorBoard
scalars, to event files under ``<run>/tb/``, so ``tensorboard --logdir runs/`` shows every run.
``metrics.jsonl`` stays the canonical record: the mirror is derived from it and never read.

What is written, per record:

* every finite number (``int`` or ``float``, not ``bool``) at any depth; nested dicts are
  flattened with ``/`` (``routing/0/load_cv``); strings, lists and ``None`` are skipped;
* under the tag ``<unit>/<split>/<key>``, each part present only if the record has it as a
  string (a record without ``unit`` uses its ``variant`` in that place): a train step of unit
  ``moe-8`` gives ``moe-8/train/loss``, a unit-level record ``dense/lr0.01/seed0/final_val_loss``;
* at the record's integer ``step``, else at the record's index in ``metrics.jsonl`` (0-based);
  ``step`` itself is not written as a scalar.

Resuming: a mirror opened on a run that already holds records counts them (for the index)
and never writes them again; it appends to a new event file (TensorBoard reads every event
file of a directory). Records a resume truncates and logs again (:func:`routerlab.train.loop.train`
drops those after its checkpoint) reach the new file a second time, with the same values.

Cost and failure: ``tensorboardX`` (pure Python, needs only numpy and protobuf; a dependency
of routerlab) is imported on the first record. Events go to a buffered file, flushed (and
fsynced) at most every :data:`FLUSH_EVERY_S` seconds and when the run closes
(:meth:`RunDir.close`, which :meth:`RunDir.finish` and the end of :meth:`RunDir.lock` call)
or the process exits. A mirror that cannot import its writer or fails to write warns once
and stops; it never fails a run.
"""

from __future__ import annotations

import atexit
import math
import os
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["TensorBoardMirror", "scalars", "tag_prefix", "FLUSH_EVERY_S", "TB_DIR"]

TB_DIR = "tb"
FLUSH_EVERY_S = 30.0
_OPEN: weakref.WeakSet[TensorBoardMirror] = weakref.WeakSet()


def tag_prefix(record: dict[str, Any]) -> str:
    """``<unit>/<split>`` of a record (``variant`` standing in for a missing ``unit``), parts absent when not strings."""
    head = record.get("unit") if isinstance(record.get("unit"), str) else record.get("variant")
    parts = [p for p in (head, record.get("split")) if isinstance(p, str) and p]
    return "/".join(parts)


def _numbers(value: Any, name: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _numbers(sub, f"{name}/{key}" if name else str(key))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        yield name, float(value)


def scalars(record: dict[str, Any]) -> list[tuple[str, float]]:
    """The ``(tag, value)`` pairs a record is mirrored as (see the module docstring)."""
    prefix = tag_prefix(record)
    body = {k: v for k, v in record.items() if k != "step"}
    return [(f"{prefix}/{tag}" if prefix else tag, value) for tag, value in _numbers(body, "")]


def _existing_records(metrics: Path) -> int:
    try:
        return metrics.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class TensorBoardMirror:
    """Writes the records of one run to a new event file in ``<run>/tb/``; see the module docstring."""

    def __init__(self, run_path: Path, metrics: Path):
        self.logdir = Path(run_path) / TB_DIR
        self._metrics = metrics
        self._writer: Any = None
        self._index: int | None = None
        self._broken = False
        self._last_flush = 0.0

    def _open(self) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        self._event, self._summary = Event, Summary
        # The record being mirrored is already appended: it is the file's last line.
        self._index = _existing_records(self._metrics) - 1
        self.logdir.mkdir(exist_ok=True)
        # pid + a clock suffix: two processes, or two mirrors of one run in one second, never share a file.
        suffix = f".{os.getpid()}.{time.monotonic_ns()}"
        self._writer = EventsWriter(str(self.logdir / "events"), suffix)
        self._last_flush = time.monotonic()
        _OPEN.add(self)

    def write(self, record: dict[str, Any]) -> None:
        """Mirror one record that was just appended to metrics.jsonl (never raises)."""
        if self._broken:
            return
        try:
            if self._writer is None:
                self._open()
            else:
                self._index += 1
            step = record.get("step")
            step = step if isinstance(step, int) and not isinstance(step, bool) else self._index
            values = [self._summary.Value(tag=tag, simple_value=value) for tag, value in scalars(record)]
            if values:
                self._writer.write_event(self._event(wall_time=time.time(), step=step,
                                                     summary=self._summary(value=values)))
            if time.monotonic() - self._last_flush > FLUSH_EVERY_S:
                self.flush()
        except Exception as err:  # noqa: BLE001 -- the mirror must never fail a run
            self._broken = True
            warnings.warn(f"TensorBoard mirror of {self.logdir.parent} stopped ({type(err).__name__}: {err}); "
                          "metrics.jsonl is complete and canonical", RuntimeWarning, stacklevel=3)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close the event file; a later record opens a new one."""
        writer, self._writer = self._writer, None
        _OPEN.discard(self)
        if writer is not None:
            try:
                writer.close()
            except Exception as err:  # noqa: BLE001
                warnings.warn(f"TensorBoard mirror of {self.logdir.parent}: closing failed ({err})", RuntimeWarning, stacklevel=2)


@atexit.register
def _close_all() -> None:
    for mirror in list(_OPEN):
        mirror.close()
