"""Run directories: layout, atomicity, torn-line repair, determinism of metrics.jsonl."""

import json
import os
from dataclasses import dataclass

import pytest

from routerlab.rundir import RunDir, RunDirError, dumps, find_runs


@dataclass(frozen=True)
class Cfg:
    seed: int = 3
    lr: float = 0.1


def test_layout_and_done_last(tmp_path):
    run = RunDir.create(tmp_path, "exp", Cfg(), scale="smoke")
    assert run.path.parent == tmp_path / "exp"
    assert run.path.name.endswith("-" + run.header["config_hash"])
    assert run.config == {"seed": 3, "lr": 0.1} and run.header["scale"] == "smoke"
    env = json.loads((run.path / "env.json").read_text())
    assert {"git_sha", "git_dirty", "versions", "devices", "cpu_threads", "cpu", "XLA_FLAGS", "seed"} <= env.keys()
    assert env["seed"] == 3 and env["versions"]["jax"]
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere the CPU count
    assert env["cpu_threads"] == (len(affinity(0)) if affinity else os.cpu_count())  # XLA:CPU's results depend on it
    assert not run.done and find_runs(tmp_path) == [] and len(find_runs(tmp_path, done_only=False)) == 1
    with pytest.raises(RunDirError, match="incomplete run"):
        run.require_done()
    run.log({"unit": "a", "loss": 0.5})
    run.finish({"best": 1})
    assert run.done and run.summary == {"best": 1}
    assert [r.path for r in find_runs(tmp_path, "exp")] == [run.path]
    assert not list(run.path.glob(".*.tmp"))  # no temp files left behind


def test_torn_metrics_line_is_cut_on_reopen(tmp_path):
    run = RunDir.create(tmp_path, "exp", Cfg())
    run.log({"unit": "a", "x": 1})
    with open(run.metrics_path, "a") as f:
        f.write('{"unit": "b", "x"')  # killed mid-write
    reopened = RunDir.open(run.path)
    assert reopened.completed_units() == {"a"}
    assert reopened.metrics_path.read_text() == '{"unit":"a","x":1}\n'


def test_log_refuses_non_finite(tmp_path):
    run = RunDir.create(tmp_path, "exp", Cfg())
    with pytest.raises(ValueError, match="'loss' is nan"):
        run.log({"loss": float("nan")})


def test_dumps_is_deterministic():
    import numpy as np

    assert dumps({"b": 1, "a": np.float32(0.5), "c": np.arange(2)}) == '{"a":0.5,"b":1,"c":[0,1]}'


def test_open_rejects_non_run(tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        RunDir.open(tmp_path)


def test_cpu_isa_reads_the_model_and_the_vector_flags(tmp_path):
    """env.json's ``cpu``: the first processor's model name and its vector instruction sets, the
    rest of the flags (not numerics-relevant) left out; no cpuinfo file gives no flags."""
    from routerlab.runtime import cpu_isa

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 sse4_1 avx fma avx2 "
                    "avx512f avx512bw amx_tile f16c lm nx\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14\n")
    assert cpu_isa(info) == {"model": "AMD EPYC 9R14",
                             "flags": ["amx_tile", "avx", "avx2", "avx512bw", "avx512f", "f16c", "fma", "sse4_1"]}
    assert cpu_isa(tmp_path / "absent")["flags"] == []
