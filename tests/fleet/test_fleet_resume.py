"""A killed fleet build resumes: finished model groups are reused, a group's training continues
from its newest mid-group checkpoint (a damaged one falls back to the one before), and the
finished fleet (routing logs, fleet.json but for its CPU timings) is the one an uninterrupted
build writes, bit for bit. Segmenting a group's training changes no number."""

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.fleet import fleet as fleet_mod
from routerlab.fleet import fleet_train
from routerlab.fleet.fleet import ControlSpec, ModelSpec, ensure_fleet, fleet_key, lm_config, scaled_fleet
from routerlab.fleet.fleet_train import pools, segment_bounds, train_group
from routerlab.fleet.tasks import FAMILIES, TaskConfig, make_suite
from routerlab.train.unit_checkpoint import UnitCheckpoints

BOUNDS = [10, 20, 30]  # the smoke fleet's 30 steps in three checkpointed segments


class Killed(Exception):
    """Stands for kill -9 right after a checkpoint was committed."""


def killing_checkpoints(after_saves: int):
    """A :class:`UnitCheckpoints` whose ``after_saves``-th save (counted over the whole build)
    commits and then raises :class:`Killed`."""
    count = {"saves": 0, "resumed": []}

    class Killing(UnitCheckpoints):
        def save(self, *a, **k):
            super().save(*a, **k)
            count["saves"] += 1
            if count["saves"] == after_saves:
                raise Killed(f"killed after checkpoint {a[0]}")

        def resume(self, *a, **k):
            got = super().resume(*a, **k)
            count["resumed"].append(got[0])
            return got

    return Killing, count


def fleet_files(path: Path) -> dict[str, object]:
    """What a fleet is: its routing logs (as frames) and fleet.json without the CPU timings."""
    meta = json.loads((path / "fleet.json").read_text())
    meta.pop("timings_s")
    logs = {p.name: fleet_mod.load_log(p).to_pandas() for p in sorted(path.glob("log_*"))}
    return {"meta": meta, "logs": logs}


def test_segment_bounds():
    assert segment_bounds(30) == [30]  # the smoke fleet: seconds of training, one segment
    assert segment_bounds(4000) == list(range(500, 4001, 500))  # quick: 8 x 500
    assert segment_bounds(6000) == list(range(750, 6001, 750))  # paper: 8 x 750
    assert segment_bounds(401) == list(range(51, 401, 51)) + [401]  # prime: ceil(401 / 8) = 51, last 44
    assert segment_bounds(500) == list(range(50, 501, 50))  # not by 8, by 10


def small_fleet():
    """Two groups of two models of one architecture (16 wide, one layer), so they share compiled
    programs: the specialists on logic and math; the generalist gen-s and a control on logic."""
    smoke = scaled_fleet("smoke")
    gen = smoke.generalists[0]
    assert lm_config(gen, 24) == lm_config(smoke.specialist, 24)
    return replace(smoke, specialist_families=("logic", "math"), generalists=(gen,),
                   controls=(ControlSpec("ctl-logic", gen, "logic"),), train_size=100, eval_size=5)


def specialist_group():
    """train_group's arguments for :func:`small_fleet`'s specialists as its build trains them
    (same programs: the fleet test below reuses what this one compiles)."""
    cfg = small_fleet()
    suite = make_suite(cfg.tasks, FAMILIES, train_size=cfg.train_size, eval_size=cfg.eval_size, seed=0)
    weights = np.eye(len(FAMILIES))[[FAMILIES.index("logic"), FAMILIES.index("math")]]
    keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    return lm_config(cfg.specialist, cfg.tasks.seq_len), cfg.train_config, weights, keys, keys, pools(suite, FAMILIES)


def test_segmented_training_is_bit_identical_and_a_damaged_checkpoint_restarts(tmp_path, capsys):
    args = specialist_group()
    _, ref_params, _, ref_losses = train_group(*args, bounds=[30])
    _, params, _, losses = train_group(*args, bounds=[15, 30])
    # past warmup (5 steps) too: the step count enters each segment as a constant, as in one scan
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # Killed after the checkpoint at step 15, which is then damaged: the group starts over and
    # still finishes bit-identical.
    ckpt = tmp_path / "ckpt"
    killing, count = killing_checkpoints(after_saves=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fleet_train, "UnitCheckpoints", killing)
        with pytest.raises(Killed, match="checkpoint 15"):
            train_group(*args, bounds=[15, 30], checkpoint_dir=ckpt, fingerprint={"seed": 0})
        truncate_step(ckpt, 15)
        _, params, _, losses = train_group(*args, bounds=[15, 30], checkpoint_dir=ckpt, fingerprint={"seed": 0})
    assert count["resumed"] == [0, 0] and "restarting the unit from step 0" in capsys.readouterr().err
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def truncate_step(ckpt: Path, step: int) -> None:
    for f in (ckpt / str(step)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


@pytest.mark.slow  # ~20 CPU s: four more compiled programs
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    suite = make_suite(TaskConfig(), ("logic",), train_size=300, eval_size=10, seed=0)
    model_cfg = lm_config(ModelSpec("t", 8, 1, 1, 16), 24)
    tc = replace(scaled_fleet("smoke"), steps=30, batch_size=8, lr=1e-2).train_config
    keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    args = (model_cfg, tc, np.ones((2, 1)), keys, keys, pools(suite, ("logic",)))
    _, ref_params, _, ref_losses = train_group(*args, bounds=[30])
    ckpt = tmp_path / "ckpt"
    killing, count = killing_checkpoints(after_saves=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fleet_train, "UnitCheckpoints", killing)
        with pytest.raises(Killed, match="checkpoint 20"):
            train_group(*args, bounds=BOUNDS, checkpoint_dir=ckpt, fingerprint={"seed": 0})
        assert sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) == [10, 20]
        truncate_step(ckpt, 20)
        _, params, _, losses = train_group(*args, bounds=BOUNDS, checkpoint_dir=ckpt, fingerprint={"seed": 0})
    assert count["resumed"] == [0, 10] and "falling back to step 10" in capsys.readouterr().err
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _kill_and_resume_build(cfg, bounds, tmp_path, monkeypatch, *, after_saves, step):
    """Build ``cfg`` whole; build it again, killed in its second group after the checkpoint at
    ``step`` (the ``after_saves``-th save), then resume. Checks the dead build's state and that
    the resumed fleet equals the whole one; returns ``(groups trained on resume, saves count)``."""
    whole = ensure_fleet(cfg, tmp_path / "a", progress=False, bounds=bounds)
    killing, count = killing_checkpoints(after_saves=after_saves)
    monkeypatch.setattr(fleet_train, "UnitCheckpoints", killing)
    root = tmp_path / "b"
    with pytest.raises(Killed, match=f"checkpoint {step}"):
        ensure_fleet(cfg, root, progress=False, bounds=bounds)
    build = root / "_fleets" / f"{fleet_key(cfg)}.build"
    assert sorted(p.name for p in (build / "groups").iterdir()) == ["seed0-0.npz"]
    assert (build / "checkpoints" / "seed0-1" / str(step)).is_dir()
    assert not (root / "_fleets" / fleet_key(cfg)).exists()
    trained = []
    monkeypatch.setattr(fleet_mod, "train_group", lambda *a, **k: trained.append(k["fingerprint"]["names"])
                        or train_group(*a, **k))
    resumed = ensure_fleet(cfg, root, progress=False, bounds=bounds)
    assert sorted(p.name for p in (root / "_fleets").iterdir()) == [fleet_key(cfg)]  # no build, no lock left
    a, b = fleet_files(whole.path), fleet_files(resumed.path)
    assert a["meta"] == b["meta"] and list(a["logs"]) == list(b["logs"]) == ["log_flops_seed0", "log_usd_seed0"]
    for name in a["logs"]:
        assert a["logs"][name].equals(b["logs"][name])
    return whole, trained, count


def test_a_killed_small_fleet_build_resumes_to_the_uninterrupted_fleet(tmp_path, monkeypatch):
    # Killed in the second group after its first checkpoint (saves: group 0 at 15, group 1 at 15).
    _, trained, count = _kill_and_resume_build(small_fleet(), [15, 30], tmp_path, monkeypatch, after_saves=2, step=15)
    assert trained == [["gen-s", "ctl-logic"]] and count["resumed"][-1] == 15  # specialists reused; the rest from 15


@pytest.mark.slow  # ~50 CPU s: three builds of the smoke fleet's three groups in three segments
def test_a_killed_fleet_build_resumes_to_the_uninterrupted_fleet(tmp_path, monkeypatch):
    cfg = scaled_fleet("smoke")  # groups: spec (5 specialists + a control), gen-s, gen-l (+ a control)
    # Killed in the second group after its first checkpoint (saves: group 0 at 10, 20; group 1 at 10).
    whole, trained, count = _kill_and_resume_build(cfg, BOUNDS, tmp_path, monkeypatch, after_saves=3, step=10)
    assert not list(whole.path.glob("groups")) and not list(whole.path.glob("checkpoints"))
    assert trained == [["gen-s"], ["gen-l", "ctl-know-l"]]  # group 0 (the specialists) reused, not retrained
    assert count["resumed"][-2:] == [10, 0]  # gen-s from its checkpoint at step 10, gen-l from the start


@pytest.mark.slow  # ~12 CPU s: two smoke builds
def test_a_damaged_finished_group_is_trained_again(tmp_path, monkeypatch, capsys):
    cfg = scaled_fleet("smoke")
    monkeypatch.setattr(fleet_mod, "decode", _raising_after(fleet_mod.decode, calls=2))
    with pytest.raises(Killed):
        ensure_fleet(cfg, tmp_path, progress=False)  # group 0 finished, killed decoding group 1
    done = tmp_path / "_fleets" / f"{fleet_key(cfg)}.build" / "groups" / "seed0-0.npz"
    done.write_bytes(done.read_bytes()[:100])
    monkeypatch.undo()
    trained = []
    monkeypatch.setattr(fleet_mod, "train_group", lambda *a, **k: trained.append(k["fingerprint"]["names"])
                        or train_group(*a, **k))
    ensure_fleet(cfg, tmp_path, progress=False)
    assert "seed0-0.npz is unreadable" in capsys.readouterr().err
    assert trained[0][0] == "spec-math" and len(trained) == 3  # all three groups trained


def _raising_after(fn, calls: int):
    seen = {"n": 0}

    def wrapped(*a, **k):
        seen["n"] += 1
        if seen["n"] == calls:
            raise Killed("killed while decoding")
        return fn(*a, **k)

    return wrapped


CHILD = """
import sys, time
from routerlab.fleet import fleet_train
from routerlab.fleet.fleet import ensure_fleet
sys.path.insert(0, {tests!r})
from test_fleet_resume import small_fleet
saves = []

class Stalling(fleet_train.UnitCheckpoints):
    def save(self, *a, **k):
        super().save(*a, **k)
        saves.append(a[0])
        if len(saves) == 2:  # group 1's checkpoint at step 15 is committed: wait here to be killed
            print("checkpointed", flush=True)
            time.sleep(600)

fleet_train.UnitCheckpoints = Stalling
ensure_fleet(small_fleet(), {root!r}, progress=False, bounds=[15, 30])
"""


@pytest.mark.slow  # a second process compiles the small fleet's programs (~15 CPU s)
def test_a_fleet_build_killed_by_sigkill_resumes_to_the_uninterrupted_fleet(tmp_path):
    import signal
    import subprocess
    import sys

    cfg, root = small_fleet(), tmp_path / "b"
    code = CHILD.format(tests=str(Path(__file__).parent), root=str(root))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "checkpointed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    build = root / "_fleets" / f"{fleet_key(cfg)}.build"
    assert (build / "groups" / "seed0-0.npz").is_file() and (build / "checkpoints" / "seed0-1" / "15").is_dir()
    resumed = ensure_fleet(cfg, root, progress=False, bounds=[15, 30])  # the dead child's lock is free
    whole = ensure_fleet(cfg, tmp_path / "a", progress=False, bounds=[15, 30])
    a, b = fleet_files(whole.path), fleet_files(resumed.path)
    assert a["meta"] == b["meta"]
    for name in a["logs"]:
        assert a["logs"][name].equals(b["logs"][name])


def test_a_second_builder_waits_for_the_first_and_finds_its_fleet(tmp_path, monkeypatch, capsys):
    import fcntl
    import os
    import threading

    cfg = small_fleet()
    final = tmp_path / "_fleets" / fleet_key(cfg)
    final.parent.mkdir()
    fd = os.open(final.with_name(final.name + ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "the first builder"

    def boom(*a, **k):
        raise AssertionError("built a fleet another process was building")

    monkeypatch.setattr(fleet_mod, "build_fleet", boom)
    got = {}
    second = threading.Thread(target=lambda: got.setdefault("fleet", ensure_fleet(cfg, tmp_path, progress=False)))
    second.start()
    second.join(timeout=1.0)
    assert second.is_alive()  # waiting on the lock, not building
    final.mkdir()
    (final / "fleet.json").write_text(json.dumps({"models": [], "seeds": {}}))  # the first builder finishes
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    second.join(timeout=30)
    assert got["fleet"].path == final and "waiting for another process building" in capsys.readouterr().err


@pytest.mark.slow  # four builds of the small fleet (~15 CPU s idle, 50 s wall on the loaded machine)
def test_seed_parts_built_apart_merge_into_the_whole_fleet(tmp_path):
    # Seeds train independently, so a fleet built as two one-seed parts (two processes, two
    # folders) and merged is the fleet one build of both seeds writes (timings aside).
    from routerlab.config import ConfigError
    from routerlab.fleet.fleet import build_fleet, merge_fleets

    cfg = replace(small_fleet(), seeds=(0, 1))
    whole = ensure_fleet(cfg, tmp_path / "whole", progress=False)
    for s in cfg.seeds:
        build_fleet(replace(cfg, seeds=(s,)), tmp_path / f"part{s}", progress=False)
    merged = merge_fleets(cfg, [tmp_path / "part1", tmp_path / "part0"], tmp_path / "merged")
    a, b = fleet_files(whole.path), fleet_files(merged.path)
    assert a["meta"] == b["meta"] and list(a["logs"]) == list(b["logs"])
    for name in a["logs"]:
        assert a["logs"][name].equals(b["logs"][name])
    assert merged.seeds == [0, 1]
    with pytest.raises(ConfigError, match="parts: the parts hold seeds \\[0\\], not \\[0, 1\\]"):
        merge_fleets(cfg, [tmp_path / "part0"], tmp_path / "m2")
    with pytest.raises(ConfigError, match="repeats seeds \\[0\\]"):
        merge_fleets(cfg, [tmp_path / "part0", tmp_path / "part0"], tmp_path / "m3")
    with pytest.raises(ConfigError, match="another config"):
        merge_fleets(replace(cfg, steps=cfg.steps + 1), [tmp_path / "part0", tmp_path / "part1"], tmp_path / "m4")
    with pytest.raises(ConfigError, match="exists"):
        merge_fleets(cfg, [tmp_path / "part0", tmp_path / "part1"], tmp_path / "merged")


@pytest.mark.slow  # two builds of the small fleet, one in two spawned processes (~40 s wall idle)
def test_a_fleet_built_by_two_worker_processes_is_the_fleet_one_process_builds(tmp_path, monkeypatch):
    cfg = replace(small_fleet(), seeds=(0, 1, 2))
    whole = ensure_fleet(cfg, tmp_path / "whole", progress=False)
    monkeypatch.setenv("ROUTERLAB_FLEET_WORKERS", "2")  # seeds (0, 2) and (1,) in two processes
    par = ensure_fleet(cfg, tmp_path / "par", progress=False)
    a, b = fleet_files(whole.path), fleet_files(par.path)
    assert a["meta"] == b["meta"] and list(a["logs"]) == list(b["logs"])
    for name in a["logs"]:
        assert a["logs"][name].equals(b["logs"][name])
    assert sorted(p.name for p in par.path.iterdir()) == sorted(p.name for p in whole.path.iterdir())  # no groups/ left


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_one_line_naming_the_variable_before_anything_is_built(tmp_path, monkeypatch, value):
    from routerlab.config import ConfigError

    monkeypatch.setenv("ROUTERLAB_FLEET_WORKERS", value)
    with pytest.raises(ConfigError, match=f"^ROUTERLAB_FLEET_WORKERS: must be an integer >= 1; got '{value}'$"):
        ensure_fleet(small_fleet(), tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_a_worker_rerunning_an_unguarded_script_fails_fast_instead_of_waiting_on_the_lock(tmp_path, monkeypatch):
    # A spawned worker re-imports its parent's __main__; an unguarded ensure_fleet there would wait
    # forever on the lock its parent holds. The builder marks its workers' environment with its pid.
    import os

    monkeypatch.setenv("ROUTERLAB_FLEET_WORKER_OF", str(os.getppid()))
    with pytest.raises(RuntimeError, match='under `if __name__ == "__main__":`'):
        ensure_fleet(small_fleet(), tmp_path, progress=False)


def test_workers_are_refused_off_the_cpu_backend(tmp_path, monkeypatch):
    from routerlab.config import ConfigError

    monkeypatch.setattr(fleet_mod.jax, "default_backend", lambda: "gpu")
    with pytest.raises(ConfigError, match="^workers: more than 1 needs the CPU backend"):
        fleet_mod._train_in_workers(replace(small_fleet(), seeds=(0, 1)), tmp_path, None, 2, False)
