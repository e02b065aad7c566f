"""``lr_policy="transfer"``: which (arm, rate) units train, the sentinel check both ways, and a resume
between the control phase and the arm phase. Training is replaced by a fake (made-up losses)."""

import math
from dataclasses import replace

import pytest

from routerlab.config import ConfigError
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm import STUDIES, CapacityConfig, ExpertCountConfig, MoEVsDenseConfig, ScalingFitConfig
from routerlab.studies.lm import runner as runner_mod
from routerlab.studies.lm.lr_transfer import (LIMITS, checking_sentinels, plan, transfer_note, transfer_source,
                                              transfer_summary, transferred_arms)
from routerlab.studies.lm.runner import NO_CACHE_ENV

GRID = (1e-3, 2e-3, 4e-3)


class Interrupted(Exception):
    pass


def _fake(calls, sentinel_opt=2e-3, stop_at=None, opt=2e-3):
    """Validation loss 1 + ln(lr / opt)^2 + 0.01 seed: every arm's optimum is ``opt``, except the
    cf=0.5 MoE's, ``sentinel_opt``. ``stop_at``: raise on that call (an interruption)."""

    def fake(run_cfg, seeds, pg, checkpoint_dir=None):
        moe = run_cfg.model.moe
        key = (run_cfg.model.ffn, run_cfg.model.d_ff, moe.capacity_factor if moe else None, run_cfg.train.lr)
        if stop_at is not None and key == stop_at:
            raise Interrupted
        calls.append(key)
        best = sentinel_opt if moe is not None and moe.capacity_factor == 0.5 else opt
        val = [1 + math.log(run_cfg.train.lr / best) ** 2 + 0.01 * s for s in seeds]
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
        "lr_policy=per_arm. " + LIMITS)


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


# --- What counts as a check (issue 12's review) ---


def test_a_sentinel_with_a_controls_config_is_tuned_but_is_no_check():
    cfg = _cfg("transfer")
    # dropless (cf=0) is the Switch control's own config: its records are the control's.
    the_plan = plan(cfg, STUDIES["capacity"].variants(cfg), ("dropless", "cf=0.5"))
    assert the_plan["dropless"]["tuned"] and not the_plan["dropless"]["sentinel"]
    assert checking_sentinels(the_plan) == ["cf=0.5"] and transferred_arms(the_plan) == ["cf=1"]
    tuning = {n: {"lr": 2e-3} for n in ("dropless", "cf=0.5", "control:switch(E=8)")}
    assert transfer_summary(the_plan, tuning)["sentinels"] == {
        "cf=0.5": {"chosen": 2e-3, "transferred": 2e-3, "agrees": True}}


def test_encoder_routers_and_routers_sentinels_are_real_checks():
    enc = load_experiment("encoder_routers").config("quick")
    enc = replace(enc, lr_policy="transfer")
    # Its old default, the first arm `dense`, is control:dense's config; sinkhorn(BASE) is not.
    assert checking_sentinels(STUDIES["encoder_routers"].transfer_plan(enc)) == ["sinkhorn(BASE)"]
    STUDIES["encoder_routers"].check(enc)
    routers = load_experiment("routers").config("quick")  # lr_policy="transfer" already
    # rl-r has Switch's run config but trains as RL-R (a pg weight): not the control's units, a check.
    assert checking_sentinels(STUDIES["routers"].transfer_plan(routers)) == ["rl-r"]


@pytest.mark.parametrize("study, cfg", [
    # E=8 (the most experts) is the Switch control's config, E=1 dense's; E=4 is transferred.
    (STUDIES["expert_count"], ExpertCountConfig(expert_counts=(1, 4, 8), lr_policy="transfer")),
    # dense x4 (the widest) is control:dense(ffn x4); the E=4 MoE is transferred.
    (STUDIES["moe_vs_dense"], MoEVsDenseConfig(dense_widths=(1, 4), num_experts=4, lr_policy="transfer")),
    # a study that declares no sentinel here at all
    (replace(STUDIES["capacity"], sentinels=lambda cfg: ()), CapacityConfig(lr_policy="transfer")),
])
def test_transfer_with_no_real_sentinel_is_refused_naming_lr_policy(study, cfg):
    assert transferred_arms(study.transfer_plan(cfg))
    with pytest.raises(ConfigError) as err:
        study.check(cfg)
    assert err.value.field == "lr_policy" and "\n" not in str(err.value)
    study.check(replace(cfg, lr_policy="per_arm"))  # the same arms are fine when each is tuned


def test_a_declared_sentinel_that_is_no_arm_is_a_programming_error():
    broken = replace(STUDIES["routers"], sentinels=lambda cfg: ("hash", "rl_r"))
    with pytest.raises(ValueError, match="study routers: sentinel arm\\(s\\) 'rl_r' are not among its arms"):
        broken.sentinel_arms(load_experiment("routers").config("quick"))


@pytest.mark.parametrize("name", ["moe_vs_dense", "capacity", "routers", "balancing", "expert_count", "granularity",
                                  "encoder_routers", "knowledge", "scaling_fit"])
@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_every_shipped_study_declares_only_sentinels_it_has(name, scale):
    cfg = load_experiment(name).config(scale)
    assert set(STUDIES[name].sentinel_arms(cfg)) <= set(STUDIES[name].order(cfg))
    STUDIES[name].check(cfg)


def test_transfer_needs_two_rates():
    with pytest.raises(ConfigError) as err:
        CapacityConfig(lr_grid=(1e-3,), lr_policy="transfer")
    assert err.value.field == "lr_grid" and "\n" not in str(err.value)
    CapacityConfig(lr_grid=(1e-3, 2e-3), lr_policy="transfer")


def test_a_run_with_no_check_says_transfer_not_checked(tmp_path, monkeypatch):
    # Study.run does not call check (the registry does): a config that check refuses (a study with no
    # sentinel) reaches the summary with no check at all, which must not read as "transfer held".
    monkeypatch.setattr(runner_mod, "_train", _fake([]))
    study = replace(STUDIES["capacity"], sentinels=lambda cfg: ())
    cfg = _cfg("transfer")
    summary = study.run(cfg, RunDir.create(tmp_path, "capacity", cfg))
    assert summary["lr_transfer"]["sentinels"] == {}
    assert "learning-rate transfer not checked" in summary["verdict"]
    assert "learning-rate transfer not checked" in study.findings(cfg, summary)


def test_transferred_arms_carry_their_controls_grid_edge(tmp_path, monkeypatch):
    # Every optimum at 4e-3, the grid's top: the controls choose 4e-3 at the edge; cf=1 is trained
    # at 4e-3 only, and is flagged with its source control (control:switch(E=8)).
    monkeypatch.setattr(runner_mod, "_train", _fake([], sentinel_opt=4e-3, opt=4e-3))
    cfg = _cfg("transfer")
    summary = STUDIES["capacity"].run(cfg, RunDir.create(tmp_path, "capacity", cfg))
    assert summary["tuning"]["control:switch(E=8)"]["at_grid_edge"]
    assert summary["tuning"]["cf=1"]["val_loss_by_lr"].keys() == {"0.004"}
    assert summary["tuning"]["cf=1"]["at_grid_edge"] is True
    assert "(agrees" not in summary["verdict"] and summary["lr_transfer"]["sentinels"]["cf=0.5"]["agrees"]
    findings = STUDIES["capacity"].findings(cfg, summary)
    assert "for an arm trained at a transferred rate, its control's lies at an end of the grid for: " in findings
    assert "cf=1" in findings.split("end of the grid for: ")[1].split("(")[0]


def test_the_note_says_what_agreement_does_not_show():
    held = {"source": {"cf=1": "transferred from control:switch(E=8)"},
            "sentinels": {"cf=0.5": {"chosen": 2e-3, "transferred": 2e-3, "agrees": True}}}
    note = transfer_note(held)
    assert "no uncertainty" in note and "nothing certain about the other transferred arms" in note
    assert "tilts comparisons against the transferred arms" in note


def test_scaling_fit_refuses_transfer():
    with pytest.raises(ConfigError) as err:
        ScalingFitConfig(lr_policy="transfer")
    assert err.value.field == "lr_policy" and "d_model" in str(err.value) and "\n" not in str(err.value)
