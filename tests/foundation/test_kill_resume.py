"""kill -9 at random points of a CLI run, resumed each time, ends byte-identical (issue 17).

A fast test (default suite): a smoke-scale planted run killed with SIGKILL as soon as its
unit's first mid-unit checkpoint is committed, resumed, equals an uninterrupted run. Slow ones:
five random SIGKILLs of a smoke run, five of a quick-scale run (the issue's "done when"), and an
LM study (moe_vs_dense, smoke) killed inside a unit. planted_experts' records hold no wall-clock field (timings stay out of
metrics.jsonl by design), so whole files are compared byte for byte.

The run is planted_experts at smoke scale cut to three variants and two seeds (each variant
one compiled program; a few seconds each once the compilation cache is warm). A kill can
land anywhere: while Python imports, while creating the run directory, while a variant
trains, while a record or the report is written. After each kill the run is resumed with
``routerlab run --resume`` (or started again when the kill came before its config.json
existed); after the fifth it is resumed to the end. Its metrics.jsonl must equal an
uninterrupted run's byte for byte.

Set ``ROUTERLAB_KILL_SEED`` to draw other kill points (the default is fixed, so a failure
reproduces).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARGS = ["planted_experts", "--scale", "smoke", "--set", 'variants=["dense","switch","top2"]', "--set", "num_seeds=2"]


def _env(cache: Path) -> dict[str, str]:
    return os.environ | {"ROUTERLAB_JAX_CACHE": str(cache), "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "routerlab.cli", *argv]


def _run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "planted_experts").glob("*") if p.is_dir()) if (out / "planted_experts").is_dir() else []


def _checkpoints(out: Path) -> list[Path]:
    """Committed mid-unit checkpoint steps under ``out`` (orbax renames a finished step into a digits-only name)."""
    return [p for p in out.glob("planted_experts/*/checkpoints/*/*") if p.name.isdigit()]


def _kill_and_resume(out: Path, args: list[str], env: dict[str, str], duration: float, lo: float, hi: float,
                     timeout: float) -> tuple[int, int, list[str], Path]:
    """Start ``routerlab run *args`` under ``out``, SIGKILL it at 5 points drawn from
    ``[lo, hi] x duration`` (seeded), resuming after each (or starting again when a kill came
    before config.json existed), then resume to the end. Returns ``(kills that landed, kills
    that left a mid-unit checkpoint, a log line per attempt, the run directory)``."""
    rng = random.Random(int(os.environ.get("ROUTERLAB_KILL_SEED", "17")))
    interrupted, mid_unit, log = 0, 0, []
    for _ in range(5):
        dirs = [d for d in _run_dirs(out) if (d / "config.json").is_file()]
        for partial in set(_run_dirs(out)) - set(dirs):  # killed before its config.json existed
            shutil.rmtree(partial)
        if dirs and (dirs[0] / "DONE").exists():
            break
        argv = _cli("run", "--resume", str(dirs[0])) if dirs else _cli("run", *args, "--out", str(out))
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        point = rng.uniform(lo, hi) * duration
        try:
            child.wait(timeout=point)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            interrupted += 1
            steps = sorted(int(p.name) for p in _checkpoints(out))
            mid_unit += bool(steps)
            lines = sum(f.read_bytes().count(b"\n") for f in out.glob("planted_experts/*/metrics.jsonl"))
            log.append(f"killed at {point:.1f} s with {lines} records, mid-unit checkpoints {steps}")
        else:
            assert child.returncode == 0, child.stderr.read()
            log.append(f"finished before {point:.1f} s")
        finally:
            child.stderr.close()
    (run_dir,) = [d for d in _run_dirs(out) if (d / "config.json").is_file()]
    if not (run_dir / "DONE").exists():
        final = subprocess.run(_cli("run", "--resume", str(run_dir)), env=env, capture_output=True, text=True,
                               timeout=timeout)
        assert final.returncode == 0, final.stderr
    return interrupted, mid_unit, log, run_dir


# One variant (dense: the cheapest to compile) and seed, 3000 short steps in segments of 300
# (~0.1 s each): the kill lands inside the unit right after its first checkpoint.
MID_UNIT = ["planted_experts", "--scale", "smoke", "--set", 'variants=["dense"]', "--set", "num_seeds=1",
            "--set", "steps=3000", "--set", "log_every=300"]


@pytest.fixture
def cache_every_program():
    """Every program this process compiles goes to the session's compilation cache, so a child
    process loads it instead of compiling it again (jax skips programs under 1 s by default)."""
    import jax

    old = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    yield
    jax.config.update("jax_persistent_cache_min_compile_time_secs", old)


def test_sigkill_right_after_a_mid_unit_checkpoint_resumes_to_identical_metrics(tmp_path, cache_every_program):
    from routerlab.cli import main

    ref_out, out = tmp_path / "ref", tmp_path / "killed"
    assert main(["run", *MID_UNIT, "--out", str(ref_out)]) == 0  # compiles (shared with the child through the cache)
    (ref_dir,) = _run_dirs(ref_out)
    assert not (ref_dir / "checkpoints").exists()  # a finished run keeps no checkpoints

    env = os.environ | {"PYTHONPATH": str(REPO), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    child = subprocess.Popen(_cli("run", *MID_UNIT, "--out", str(out)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    try:
        while not _checkpoints(out) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert child.poll() is None, "the run ended before its first mid-unit checkpoint was seen"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    (run_dir,) = _run_dirs(out)
    assert _checkpoints(out), "no committed checkpoint"
    metrics = run_dir / "metrics.jsonl"
    assert not metrics.exists() or metrics.read_bytes() == b""  # killed inside the unit: nothing logged yet

    assert main(["run", "--resume", str(run_dir)]) == 0
    assert (run_dir / "DONE").exists() and not (run_dir / "checkpoints").exists()
    assert metrics.read_bytes() == (ref_dir / "metrics.jsonl").read_bytes()


@pytest.mark.slow
def test_kill_9_at_five_random_points_then_resume_is_byte_identical(tmp_path):
    cache, ref_out, out = tmp_path / "cache", tmp_path / "ref", tmp_path / "killed"
    env = _env(cache)

    # The first run compiles (and fills the cache); the second, timed, is what the killed
    # runs cost: kill points are drawn within it. Both must agree byte for byte.
    references = []
    for attempt in ("cold", "warm"):
        start = time.perf_counter()
        ref = subprocess.run(_cli("run", *ARGS, "--out", str(ref_out / attempt)), env=env, capture_output=True,
                             text=True, timeout=900)
        duration = time.perf_counter() - start
        assert ref.returncode == 0, ref.stderr
        (ref_dir,) = _run_dirs(ref_out / attempt)
        references.append((ref_dir / "metrics.jsonl").read_bytes())
    reference = references[0]
    assert references[1] == reference
    assert reference.count(b"\n") == 6  # 3 variants x 2 seeds

    interrupted, _, log, run_dir = _kill_and_resume(out, ARGS, env, duration, 0.1, 0.7, timeout=900)
    print(f"warm run {duration:.1f} s; " + "; ".join(log))
    assert interrupted >= 3, f"only {interrupted} of 5 kills landed before the run finished: {log}"
    assert (run_dir / "DONE").exists()
    assert (run_dir / "metrics.jsonl").read_bytes() == reference


@pytest.mark.slow
def test_kill_9_at_five_random_points_of_a_quick_run_then_resume_is_byte_identical(tmp_path):
    """The issue's "done when": planted_experts at quick scale (8 variants x 3 seeds x 1500
    steps; the cheapest training experiment at quick scale, mid-unit checkpoints every 150
    steps), killed at 5 random points, resumed after each, equals an uninterrupted run byte
    for byte. Minutes: the uninterrupted run, then 5 x 3-15% of it, then the rest."""
    cache, ref_out, out = tmp_path / "cache", tmp_path / "ref", tmp_path / "killed"
    env = _env(cache)
    args = ["planted_experts", "--scale", "quick"]
    start = time.perf_counter()
    ref = subprocess.run(_cli("run", *args, "--out", str(ref_out)), env=env, capture_output=True, text=True, timeout=3600)
    duration = time.perf_counter() - start
    assert ref.returncode == 0, ref.stderr
    (ref_dir,) = _run_dirs(ref_out)
    reference = (ref_dir / "metrics.jsonl").read_bytes()
    assert reference.count(b"\n") == 8 * 3

    # Early points: the uninterrupted run compiled every program, a resumed one loads them
    # from the cache, so 5 kills at 3-15% of its time each leave work for the final resume.
    interrupted, mid_unit, log, run_dir = _kill_and_resume(out, args, env, duration, 0.03, 0.15, timeout=3600)
    print(f"uninterrupted run {duration:.1f} s; " + "; ".join(log))
    assert interrupted == 5, f"only {interrupted} of 5 kills landed before the run finished: {log}"
    assert mid_unit >= 1, f"no kill landed inside a unit after a checkpoint: {log}"

    assert (run_dir / "DONE").exists() and not (run_dir / "checkpoints").exists()
    assert (run_dir / "metrics.jsonl").read_bytes() == reference


@pytest.mark.slow
def test_sigkill_inside_an_lm_study_unit_resumes_to_identical_metrics(tmp_path, monkeypatch, cache_every_program):
    """The LM studies' path (runner -> train_seeds): moe_vs_dense at smoke scale, killed right
    after the first mid-unit checkpoint of its first arm, resumed, equals an uninterrupted run.
    Records carry ``cache_key``, which hashes the library's code: both runs must see the same
    working tree (a concurrent edit of routerlab/ between them changes it). A few minutes."""
    from routerlab.cli import main

    monkeypatch.setenv("ROUTERLAB_NO_UNIT_CACHE", "1")  # train every unit: no reuse across the two runs
    args = ["moe_vs_dense", "--scale", "smoke", "--set", "num_seeds=2", "--set", "steps=40"]
    env = os.environ | {"PYTHONPATH": str(REPO), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    ref_out, out = tmp_path / "ref", tmp_path / "killed"
    assert main(["run", *args, "--out", str(ref_out)]) == 0
    (ref_dir,) = (ref_out / "moe_vs_dense").iterdir()
    child = subprocess.Popen(_cli("run", *args, "--out", str(out)), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    ckpts = lambda: [p for p in out.glob("moe_vs_dense/*/checkpoints/*/*") if p.name.isdigit()]  # noqa: E731
    deadline = time.monotonic() + 900
    try:
        while not ckpts() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert child.poll() is None, "the run ended before its first mid-unit checkpoint was seen"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert ckpts()
    (run_dir,) = (out / "moe_vs_dense").iterdir()
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert (run_dir / "DONE").exists() and not (run_dir / "checkpoints").exists()
    assert (run_dir / "metrics.jsonl").read_bytes() == (ref_dir / "metrics.jsonl").read_bytes()
