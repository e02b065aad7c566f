"""Training: determinism, SIGKILL-and-resume, the non-finite guard, checkpoints, schedule."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from routerlab import cli
from routerlab.models import CorpusConfig, LMConfig
from routerlab.moe import MoEConfig
from routerlab.rundir import RunDir, RunDirError
from routerlab.train import (
    Checkpoints,
    LMRunConfig,
    TrainConfig,
    init_state,
    make_schedule,
    train,
)

DRIVER = Path(__file__).with_name("driver.py")
REPO = Path(__file__).resolve().parents[2]

# A dense block then a DeepSeek MoE block (router bias outside the optimiser), tiny enough
# that compiling dominates.
CFG = LMRunConfig(
    model=LMConfig(d_model=32, n_layers=2, n_heads=2, seq_len=32, d_ff=64, ffn="moe", moe_every=2,
                   moe=MoEConfig(d_model=32, d_ff=32, num_experts=4, top_k=2, router="deepseek",
                                 bias_update_rate=0.01)),
    data=CorpusConfig(bytes_per_domain=20_000),
    train=TrainConfig(steps=24, batch_size=8, lr=3e-3, warmup_steps=4, log_every=2, eval_every=12,
                      eval_batches=2, ckpt_every=8, ckpt_keep=2),
    seed=3,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of CFG: its run directory and summary."""
    run = RunDir.create(tmp_path_factory.mktemp("runs"), "ref", CFG)
    return run, train(CFG, run)


def test_records_routing_and_summary(reference):
    run, summary = reference
    records = list(run.records())
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    assert train_steps == list(range(2, 25, 2))
    assert [r["step"] for r in records if r["split"] == "val"] == [12, 24]
    assert [r["step"] for r in records if r["split"] == "test"] == [24]
    first = records[0]
    assert set(first) == {"step", "split", "loss", "ce", "aux_loss", "grad_norm", "lr", "routing"}
    assert list(first["routing"]) == ["1"]  # only block 1 is MoE
    layer = first["routing"]["1"]
    assert {"loss", "load", "max_vio", "dead", "dropped_frac", "entropy"} <= set(layer)
    assert len(layer["load"]) == 4 and abs(sum(layer["load"]) - 1) < 1e-6
    val = [r for r in records if r["split"] == "val"][-1]
    domains = {"arith", "code", "prose", "dyck", "recall"}
    assert set(val["loss_by_domain"]) == domains == set(val["routing_by_domain"])
    assert abs(val["loss"] - np.mean(list(val["loss_by_domain"].values()))) < 1e-9  # equal batches per domain
    loads = [val["routing_by_domain"][d]["1"]["load"] for d in sorted(domains)]
    assert all(len(x) == 4 and abs(sum(x) - 1) < 1e-6 for x in loads)
    np.testing.assert_allclose(np.mean(loads, axis=0), val["routing"]["1"]["load"], atol=1e-6)
    assert summary["final_val_loss"] == val["loss"] and summary["test_loss"] == records[-1]["loss"]
    assert summary["params"]["active"] < summary["params"]["total"]
    assert summary["final_val_loss"] < np.log(128)  # it learned something in 24 steps
    # Timings stay out of metrics.jsonl.
    assert not any("time" in k or k.endswith("_s") for r in records for k in r)


def test_checkpoints_hold_params_optimizer_and_router_bias(reference):
    run, _ = reference
    template = init_state(CFG)
    with Checkpoints(run.path / "ckpt", keep=2) as ckpts:
        assert ckpts.steps() == [16, 24]  # keep the newest two
        state = ckpts.restore(24, template)
    bias = state.rest["layers"][1]["ffn"]["router_bias"][...]
    assert bias.shape == (4,) and np.any(np.asarray(bias) != 0)  # updated after every step
    # DeepSeek updates move by +-rate (or 0) per step: multiples of 0.01 after 24 steps.
    np.testing.assert_allclose(np.asarray(bias) / 0.01, np.round(np.asarray(bias) / 0.01), atol=1e-3)
    count = jax.tree.leaves(state.opt_state)[0]
    assert int(count) == 24  # the optimiser's step count came back too
    assert not np.array_equal(state.params["embed"]["embedding"][...], template.params["embed"]["embedding"][...])


def test_same_config_and_seed_give_identical_metrics(reference, tmp_path):
    run, summary = reference
    again = RunDir.create(tmp_path, "again", CFG)
    summary2 = train(CFG, again)
    assert again.metrics_path.read_bytes() == run.metrics_path.read_bytes()
    assert summary2["final_val_loss"] == summary["final_val_loss"]


def test_sigkill_then_resume_matches_the_uninterrupted_run(reference, tmp_path):
    ref_run, _ = reference
    run = RunDir.create(tmp_path, "killed", CFG)
    env = os.environ | {"PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    # Pausing at step 11 (after checkpoint 8 and the record of step 10, before the first
    # evaluation) spares the child compiling the evaluation step.
    child = subprocess.Popen([sys.executable, str(DRIVER), str(run.path), "--pause-after", "11"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip() == "paused 11", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    killed = [json.loads(x) for x in run.metrics_path.read_text().splitlines()]
    assert max(r["step"] for r in killed) == 10  # a record past the checkpoint, to be dropped
    with Checkpoints(run.path / "ckpt", keep=2) as ckpts:
        assert ckpts.steps() == [8]

    # Resume here (this process has the steps compiled already): from checkpoint 8, with
    # the record of step 10 dropped, to the end.
    summary = train(CFG, RunDir.open(run.path), resume=True)
    assert summary["resumed_from"] == 8
    assert run.metrics_path.read_bytes() == ref_run.metrics_path.read_bytes()


def test_units_share_a_run_directory(reference, tmp_path):
    ref_run, _ = reference
    run = RunDir.create(tmp_path, "units", CFG)
    train(CFG, run, unit="a")
    train(CFG, run, unit="b")
    records = list(run.records())
    assert [r["unit"] for r in records] == ["a"] * (len(records) // 2) + ["b"] * (len(records) // 2)
    same = [{k: v for k, v in r.items() if k != "unit"} for r in records if r["unit"] == "b"]
    assert same == list(ref_run.records())  # a unit is the same training as a plain run
    assert sorted(p.name for p in (run.path / "ckpt").iterdir()) == ["a", "b"]
    with pytest.raises(RunDirError, match="unit 'a'"):
        train(CFG, run, unit="a")


def test_resume_false_refuses_a_started_run(reference):
    run, _ = reference
    with pytest.raises(RunDirError, match="pass resume=True"):
        train(CFG, run)


def test_resuming_a_finished_run_changes_nothing(reference):
    run, summary = reference
    before = run.metrics_path.read_bytes()
    again = train(CFG, run, resume=True)
    assert run.metrics_path.read_bytes() == before
    assert again["test_loss"] == summary["test_loss"] and again["resumed_from"] == 24


def test_nonfinite_loss_stops_the_cli_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "tinylm.py").write_text(
        '"""A tiny LM that diverges."""\n'
        "from routerlab.models import CorpusConfig, LMConfig\n"
        "from routerlab.train import LMRunConfig, TrainConfig, train\n"
        "SCALES = ('smoke',)\n"
        "def get_config(scale):\n"
        "    return LMRunConfig(model=LMConfig(d_model=32, n_layers=1, n_heads=2, seq_len=16, d_ff=32),\n"
        "                       data=CorpusConfig(bytes_per_domain=5_000),\n"
        "                       train=TrainConfig(steps=20, batch_size=4, warmup_steps=0, grad_clip=0.0,\n"
        "                                         log_every=1, eval_every=20, ckpt_every=1, eval_batches=1))\n"
        "def run(cfg, run):\n"
        "    return train(cfg, run, resume=True)\n"
        "def report(run):\n"
        "    return ''\n"
    )
    monkeypatch.setenv("ROUTERLAB_EXPERIMENTS", str(experiments))
    code = cli.main(["run", "tinylm", "--set", "train.lr=1e6", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "\n" not in err
    (step,) = [int(s) for s in err.split("step ")[1].split(":")[:1]]
    assert err.startswith(f"routerlab: error: step {step}: ") and err.endswith((" is nan", " is inf", "not finite after the update"))
    (run_dir,) = (tmp_path / "runs" / "tinylm").iterdir()
    run = RunDir.open(run_dir)
    assert not run.done
    assert [r["step"] for r in run.records()] == list(range(1, step))  # nothing of the bad step
    with Checkpoints(run.path / "ckpt", keep=3) as ckpts:
        last = ckpts.latest_step()
        assert last == step - 1  # every good step was saved; the bad one was not
        cfg = cli.load_experiment("tinylm").config("smoke", ["train.lr=1e6"])
        state = ckpts.restore(last, init_state(cfg))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state))


def test_schedule_warms_up_then_decays_to_the_floor():
    tc = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    lr = make_schedule(tc)
    assert float(lr(0)) == 0.0
    assert float(lr(5)) == pytest.approx(5e-4)
    assert float(lr(10)) == pytest.approx(1e-3)
    assert float(lr(55)) == pytest.approx(1e-4 + 0.5 * 9e-4, rel=1e-5)
    assert float(lr(100)) == pytest.approx(1e-4)
