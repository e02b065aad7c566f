"""The TensorBoard mirror of metrics.jsonl (routerlab.tracking), read back from the event files."""

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.proto.event_pb2 import Event

from routerlab import tracking
from routerlab.models import CorpusConfig, LMConfig
from routerlab.rundir import RunDir
from routerlab.train import LMRunConfig, TrainConfig, train

TINY = LMRunConfig(
    model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32),
    data=CorpusConfig(bytes_per_domain=20_000),
    train=TrainConfig(steps=4, batch_size=4, lr=3e-3, warmup_steps=1, log_every=2, eval_every=4,
                      eval_batches=1, ckpt_every=4, ckpt_keep=1),
    seed=0,
)


def read_events(path: Path) -> list[Event]:
    """Parse one TFRecord event file by hand: [len u64][crc(len)][data][crc(data)], checking both CRCs."""
    data, events, at = path.read_bytes(), [], 0
    while at < len(data):
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(header)
        body = data[at + 12:at + 12 + length]
        assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == masked_crc32c(body)
        events.append(Event.FromString(body))
        at += 16 + length
    return events


def scalar_points(run: RunDir) -> list[tuple[str, int, float]]:
    """Every (tag, step, value) in every event file of the run's tb/."""
    points = []
    for path in sorted((run.path / "tb").iterdir()):
        for event in read_events(path):
            points += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return points


def reference_points(records: list[dict]) -> list[tuple[str, int, float]]:
    """The slow, obvious mapping: walk each record, join unit/split and the key path with '/'."""
    out = []
    for index, record in enumerate(records):
        head = record.get("unit", record.get("variant"))
        prefix = "/".join(str(p) for p in (head, record.get("split")) if p is not None)
        step = record.get("step", index)

        def walk(value, name):
            if isinstance(value, dict):
                for key, sub in value.items():
                    walk(sub, f"{name}/{key}" if name else key)
            elif type(value) in (int, float):
                out.append((f"{prefix}/{name}" if prefix else name, step, float(np.float32(value))))

        walk({k: v for k, v in record.items() if k != "step"}, "")
    return out


def test_tags_of_a_hand_made_record():
    record = {"step": 7, "unit": "moe-8", "split": "val", "loss": 1.5, "ok": True, "name": "x",
              "curve": [1.0, 2.0], "none": None, "routing": {"1": {"load_cv": 0.25, "load": [0.5, 0.5]}}}
    # bool, string, list and None are not scalars; "step" is the x axis, not a tag
    assert tracking.scalars(record) == [("moe-8/val/loss", 1.5), ("moe-8/val/routing/1/load_cv", 0.25)]
    assert tracking.tag_prefix({"variant": "dense", "seed": 0}) == "dense"
    assert tracking.scalars({"seed": 2, "lr": 0.01}) == [("seed", 2.0), ("lr", 0.01)]


def test_a_training_run_writes_event_files_equal_to_metrics(tmp_path):
    run = RunDir.create(tmp_path, "tiny", TINY)
    with run.lock():
        train(TINY, run)
    records = list(run.records())
    assert [r["split"] for r in records] == ["train", "train", "val", "test"]
    points = scalar_points(run)
    assert sorted(points) == sorted(reference_points(records))
    by_tag = {(tag, step): value for tag, step, value in points}
    assert by_tag[("train/loss", 2)] == np.float32(records[0]["loss"])
    assert by_tag[("test/loss", 4)] == np.float32(records[3]["loss"])
    assert ("train/grad_norm", 4) in by_tag and ("val/loss_by_domain/code", 4) in by_tag


def test_resume_appends_a_new_file_and_never_rewrites_old_records(tmp_path):
    run = RunDir.create(tmp_path, "units", TINY)
    run.log({"unit": "a", "seed": 0, "final": 1.0})
    run.log({"unit": "b", "seed": 1, "final": 2.0, "stats": {"mean": 3.0}})
    run.close()
    again = RunDir.open(run.path)  # a resumed process: two records are already there
    again.log({"unit": "c", "seed": 2, "final": 4.0})
    again.close()
    files = sorted((run.path / "tb").iterdir())
    assert len(files) == 2
    assert [p for f in files for p in [(v.tag, e.step) for e in read_events(f) for v in e.summary.value]] == [
        ("a/seed", 0), ("a/final", 0), ("b/seed", 1), ("b/final", 1), ("b/stats/mean", 1),
        ("c/seed", 2), ("c/final", 2)]  # no record twice; indices continue across processes
    assert sorted(scalar_points(run)) == sorted(reference_points(list(run.records())))


def test_a_failing_writer_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    def broken(self):
        raise ImportError("No module named 'tensorboardX'")

    monkeypatch.setattr(tracking.TensorBoardMirror, "_open", broken)
    run = RunDir.create(tmp_path, "nowriter", TINY)
    with pytest.warns(RuntimeWarning, match="metrics.jsonl is complete") as caught:
        run.log({"x": 1.0})
        run.log({"x": 2.0})
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert [r["x"] for r in run.records()] == [1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.finish()
    assert run.done
