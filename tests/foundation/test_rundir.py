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
    from routerlab.runtime import cpu_isa

    assert env["cpu"] == cpu_isa()  # and may depend on the instruction sets it compiles for
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


def test_cpu_isa_reads_the_first_processor_and_its_vector_flags(tmp_path):
    """env.json's ``cpu``: the first processor's identity and vector instruction sets, the rest
    of the flags (not numerics-relevant, e.g. x86's ``smep``) left out."""
    from routerlab.runtime import cpu_isa

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                    "model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 sse4_1 avx fma avx2 avx512f avx512bw "
                    "amx_tile f16c smep lm nx\nbugs\t\t: sysret_ss_attrs\n\n"
                    "processor\t: 1\nmodel name\t: Other\nflags\t\t: avx sse4_2\n")
    assert cpu_isa(info) == {"model": "AMD EPYC 9R14",
                             "id": {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17"},
                             "flags": ["amx_tile", "avx", "avx2", "avx512bw", "avx512f", "f16c", "fma", "sse4_1"]}


def test_cpu_isa_on_arm_reads_features_and_a_blank_field_stays_blank(tmp_path):
    """aarch64's cpuinfo has no ``model name`` or ``flags``: its ``Features`` and the implementer
    and part identify the CPU (an SVE machine differs from a NEON-only one). A blank field does
    not swallow the next line; no file gives no flags."""
    import platform

    from routerlab.runtime import cpu_isa

    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes sve sve2 bf16 i8mm "
                   "asimddp cpuid\nCPU implementer\t: 0x41\nCPU part\t: 0xd40\n\nprocessor\t: 1\n")
    got = cpu_isa(arm)
    assert got["model"] == platform.machine() and got["id"] == {"CPU implementer": "0x41", "CPU part": "0xd40"}
    assert got["flags"] == ["asimd", "asimddp", "bf16", "i8mm", "sve", "sve2"]
    blank = tmp_path / "blank"
    blank.write_text("processor\t: 0\nmodel name\t: \nflags\t\t:\nbugs\t\t: avx_bug\n")
    assert cpu_isa(blank)["flags"] == [] and cpu_isa(blank)["model"] == platform.machine()
    assert cpu_isa(tmp_path / "absent")["flags"] == []
