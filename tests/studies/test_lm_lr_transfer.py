"""``lr_policy="transfer"``: which (arm, rate) units train, the sentinel check both ways, and a resume
between the control phase and the arm phase. Training is replaced by a fake (made-up losses)."""

import math

import pytest

from routerlab.rundir import RunDir
from routerlab.studies.lm import STUDIES, CapacityConfig, MoEVsDenseConfig
from routerlab.studies.lm import runner as runner_mod
from routerlab.studies.lm.lr_transfer import transfer_source
from routerlab.studies.lm.runner import NO_CACHE_ENV

GRID = (1e-3, 2e-3, 4e-3)


class Interrupted(Exception):
    pass


def _fake(calls, sentinel_opt=2e-3, stop_at=None):
    """Validation loss 1 + ln(lr / opt)^2 + 0.01 seed: every arm's optimum is 2e-3, except the
    cf=0.5 MoE's, ``sentinel_opt``. ``stop_at``: raise on that call (an interruption)."""

    def fake(run_cfg, seeds, pg, checkpoint_dir=None):
        moe = run_cfg.model.moe
        key = (run_cfg.model.ffn, run_cfg.model.d_ff, moe.capacity_factor if moe else None, run_cfg.train.lr)
        if stop_at is not None and key == stop_at:
            raise Interrupted
        calls.append(key)
        opt = sentinel_opt if moe is not None and moe.capacity_factor == 0.5 else 2e-3
        val = [1 + math.log(run_cfg.train.lr / opt) ** 2 + 0.01 * s for s in seeds]
        return [{"seed": s, "steps": 10, "tokens": 1, "params": {"total": 1, "active": 1},
                 "flops_per_token": {"total": 1.0, "active": 1.0}, "train_flops_per_step": 1.0, "eval_steps": [10],
                 "val_loss": [v], "final_val_loss": v, "final_train_ce": 0.0, "test_loss": v + 0.1}
                for s, v in zip(seeds, val)]

    return fake


def _cfg(policy):
    return CapacityConfig(d_model=16, d_ff=32, num_seeds=2, lr_grid=GRID, capacity_factors=(0.5, 1.0, 0.0),
                          lr_policy=policy)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv(NO_CACHE_ENV, "1")  # units are reused only from the run's own records


def test_which_units_train_under_each_policy(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner_mod, "_train", _fake(calls))
    STUDIES["capacity"].run(_cfg("per_arm"), RunDir.create(tmp_path / "a", "capacity", _cfg("per_arm")))
    # per_arm: 5 distinct configs (cf=0.5, cf=1, dropless = the Switch control's config, dense,
    # dense x4) x 3 rates = 15 trained units.
    assert len(calls) == 15 and len(set(calls)) == 15
    calls.clear()
    cfg = _cfg("transfer")
    summary = STUDIES["capacity"].run(cfg, RunDir.create(tmp_path / "b", "capacity", cfg))
    controls = [(ffn, d, cf, lr) for ffn, d, cf in (("dense", 32, None), ("dense", 128, None), ("moe", 32, None))
                for lr in GRID]
    # transfer: the 3 controls x 3 rates, then the sentinel cf=0.5 x 3 rates, cf=1 at the Switch
    # control's chosen 2e-3 only; dropless is the Switch control's config: served from its records.
    assert calls == controls + [("moe", 32, 0.5, lr) for lr in GRID] + [("moe", 32, 1.0, 2e-3)]
    assert summary["tuning"]["cf=1"] == {"lr": 2e-3, "val_loss_by_lr": {"0.002": pytest.approx(1.005)},
                                         "at_grid_edge": False, "lr_source": "transferred from control:switch(E=8)"}
    assert summary["tuning"]["dropless"]["val_loss_by_lr"].keys() == {"0.001", "0.002", "0.004"}
    t = summary["lr_transfer"]
    assert t["policy"] == "transfer" and t["source"]["dropless"] == "tuned (same config as control:switch(E=8))"
    assert t["sentinels"] == {"cf=0.5": {"chosen": 2e-3, "transferred": 2e-3, "agrees": True}}
    assert "NOT supported" not in summary["verdict"]
    assert "every sentinel (cf=0.5) chose on validation the rate" in STUDIES["capacity"].findings(cfg, summary)


def test_a_sentinel_that_disagrees_is_said_in_the_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "_train", _fake([], sentinel_opt=4e-3))
    cfg = _cfg("transfer")
    summary = STUDIES["capacity"].run(cfg, RunDir.create(tmp_path, "capacity", cfg))
    assert summary["lr_transfer"]["sentinels"] == {"cf=0.5": {"chosen": 4e-3, "transferred": 2e-3, "agrees": False}}
    assert summary["verdict"].endswith(
        "Learning-rate transfer NOT supported: cf=0.5 chose 0.004, would have been given 0.002. The arms trained "
        "only at a transferred rate (cf=1) may sit off their optimum: distrust their comparisons, or rerun with "
        "lr_policy=per_arm.")


def test_resume_between_the_control_phase_and_the_arm_phase(tmp_path, monkeypatch):
    cfg = _cfg("transfer")
    run = RunDir.create(tmp_path / "cut", "capacity", cfg)
    monkeypatch.setattr(runner_mod, "_train", _fake([], stop_at=("moe", 32, 0.5, 1e-3)))
    with pytest.raises(Interrupted):
        STUDIES["capacity"].run(cfg, run)
    assert {r["variant"] for r in run.records()} == {"control:dense", "control:dense(ffn x4)", "control:switch(E=8)"}
    calls = []
    monkeypatch.setattr(runner_mod, "_train", _fake(calls))
    resumed = STUDIES["capacity"].run(cfg, RunDir.open(run.path))
    assert calls == [("moe", 32, 0.5, lr) for lr in GRID] + [("moe", 32, 1.0, 2e-3)]  # no control retrained
    whole = STUDIES["capacity"].run(cfg, RunDir.create(tmp_path / "whole", "capacity", cfg))
    assert resumed == whole


def test_dense_widths_transfer_from_the_nearest_control_width():
    cfg = MoEVsDenseConfig(d_ff=32)
    name = {m: transfer_source(cfg, cfg.run_config(d_ff=m * 32)) for m in (1, 2, 3, 4, 8)}
    # |ln 2 - ln 1| = |ln 2 - ln 4|: the tie goes to the narrower control; 3x is nearer 4x (ln 4/3 < ln 3).
    assert name == {1: "control:dense", 2: "control:dense", 3: "control:dense(ffn x4)", 4: "control:dense(ffn x4)",
                    8: "control:dense(ffn x4)"}
    assert transfer_source(cfg, cfg.run_config(cfg.moe(num_experts=64))) == "control:switch(E=8)"
