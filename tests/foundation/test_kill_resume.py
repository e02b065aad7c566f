"""kill -9 at random points of a CLI run, resumed each time, ends byte-identical (issue 17).

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

    rng = random.Random(int(os.environ.get("ROUTERLAB_KILL_SEED", "17")))
    interrupted, log = 0, []
    for _ in range(5):
        dirs = [d for d in _run_dirs(out) if (d / "config.json").is_file()]
        for partial in set(_run_dirs(out)) - set(dirs):  # killed before its config.json existed
            shutil.rmtree(partial)
        if dirs and (dirs[0] / "DONE").exists():
            break
        argv = _cli("run", "--resume", str(dirs[0])) if dirs else _cli("run", *ARGS, "--out", str(out))
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        point = rng.uniform(0.1, 0.7) * duration
        try:
            child.wait(timeout=point)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            interrupted += 1
            lines = sum(f.read_bytes().count(b"\n") for f in out.glob("planted_experts/*/metrics.jsonl"))
            log.append(f"killed at {point:.1f} s with {lines} records")
        else:
            assert child.returncode == 0, child.stderr.read()
            log.append(f"finished before {point:.1f} s")
        finally:
            child.stderr.close()
    print(f"warm run {duration:.1f} s; " + "; ".join(log))
    assert interrupted >= 3, f"only {interrupted} of 5 kills landed before the run finished: {log}"

    (run_dir,) = [d for d in _run_dirs(out) if (d / "config.json").is_file()]
    if not (run_dir / "DONE").exists():
        final = subprocess.run(_cli("run", "--resume", str(run_dir)), env=env, capture_output=True, text=True, timeout=900)
        assert final.returncode == 0, final.stderr
    assert (run_dir / "DONE").exists()
    assert (run_dir / "metrics.jsonl").read_bytes() == reference
