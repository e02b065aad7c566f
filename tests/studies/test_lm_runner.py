"""The LM study runner: learning rate chosen on validation only, finished units reused across
studies, controls gating the verdict. Training is replaced by a fake so these run in milliseconds."""

from dataclasses import replace

from routerlab.rundir import RunDir
from routerlab.studies.lm import STUDIES, MoEVsDenseConfig
from routerlab.studies.lm import runner as runner_mod
from routerlab.studies.lm.runner import by_variant, choose_lr, run_variants, unit_key


def _row(seed, val, test, **kw):
    return {"seed": seed, "final_val_loss": val, "test_loss": test, **kw}


def test_lr_is_chosen_on_validation_never_on_test():
    # Rate 1e-2 has the lower mean validation loss (1.0 vs 1.1) but the higher test loss
    # (2.0 vs 1.5): the choice must be 1e-2, whatever the test split says.
    rows = {3e-3: [_row(0, 1.1, 1.5), _row(1, 1.1, 1.5)], 1e-2: [_row(0, 1.0, 2.0), _row(1, 1.0, 2.0)]}
    assert choose_lr(rows) == 1e-2
    # Means, not single seeds: 3e-3 has (0.9, 1.5) -> 1.2, 1e-2 has (1.0, 1.0) -> 1.0.
    assert choose_lr({3e-3: [_row(0, 0.9, 0), _row(1, 1.5, 0)], 1e-2: [_row(0, 1.0, 0), _row(1, 1.0, 0)]}) == 1e-2
    assert choose_lr({3e-2: [_row(0, 1.0, 0)], 1e-2: [_row(0, 1.0, 0)]}) == 1e-2  # tie: the smaller rate


def _fake_train(calls):
    """Test loss = 2 - 10 * lr - 0.01 * d_ff / 32 + 0.001 * seed; val loss the same + 0.5 (so the largest rate wins)."""

    def fake(run_cfg, seeds, pg, checkpoint_dir=None):
        calls.append((run_cfg.model.d_ff, run_cfg.model.ffn, run_cfg.train.lr))
        lr, width = run_cfg.train.lr, run_cfg.model.d_ff / 32
        moe = 0.05 if run_cfg.model.ffn == "moe" else 0.0
        return [{"seed": s, "steps": run_cfg.train.steps, "tokens": 1, "params": {"total": 1, "active": 1},
                 "flops_per_token": {"total": 1.0, "active": 100.0 * width if not moe else 101.0},
                 "train_flops_per_step": 1.0, "eval_steps": [run_cfg.train.steps],
                 "val_loss": [2.5 - 10 * lr - 0.01 * width - moe + 0.001 * s],
                 "final_val_loss": 2.5 - 10 * lr - 0.01 * width - moe + 0.001 * s, "final_train_ce": 0.0,
                 "test_loss": 2.0 - 10 * lr - 0.01 * width - moe + 0.001 * s * (1 + width)} for s in seeds]

    return fake


def test_units_are_trained_once_and_reused_across_studies(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner_mod, "_train", _fake_train(calls))
    cfg = replace(STUDIES["moe_vs_dense"].config(), d_model=16, d_ff=32, num_seeds=3, lr_grid=(1e-3, 2e-3))
    study = STUDIES["moe_vs_dense"]
    first = RunDir.create(tmp_path, "moe_vs_dense", cfg)
    summary = study.run(cfg, first)
    # 5 distinct configs (moe, dense x1, x2, x4, x8) x 2 rates; the 3 control arms are copies.
    assert len(calls) == 5 * 2
    records = list(first.records())
    assert len(records) == 8 * 2 * 3
    keys = {r["variant"]: r["cache_key"] for r in records if r["lr"] == 1e-3}
    assert keys["control:dense"] == keys["dense(ffn x1)"] and keys["control:switch(E=8)"] == keys["moe"]
    # Another study under the same runs root reuses every matching unit: only its own arms train.
    calls.clear()
    rcfg = replace(STUDIES["routers"].config(), d_model=16, d_ff=32, num_seeds=3, lr_grid=(1e-3, 2e-3))
    other = RunDir.create(tmp_path, "routers", rcfg)
    run_variants(rcfg, other, rcfg.control_variants(), "routers")
    assert len(list(other.records())) == 3 * 2 * 3
    assert calls == []
    # The chosen rate is the val-best one (2e-3 here), recorded per arm.
    assert summary["tuning"]["moe"]["lr"] == 2e-3 and summary["variants"]["moe"]["lr"] == 2e-3
    # Holm over the study, and the output contract.
    assert summary["analysis"]["moe_minus_dense_loss"]["p_holm"] >= summary["analysis"]["moe_minus_dense_loss"]["p"]
    assert set(summary["controls"]) == {"capacity", "switch_vs_dense"}


def test_failed_control_makes_the_verdict_underpowered(tmp_path, monkeypatch):
    # Fake test losses at lr 1e-3: dense (width 1) 1.98 - 0.01 + 0.002 s, dense x4 1.98 - 0.04 + 0.005 s,
    # so dense - wide = 0.03 - 0.003 s = 0.030, 0.027, 0.024 for seeds 0, 1, 2: resolved. Every MoE is
    # made 0.2 worse: Switch - dense = 0.2 - 0.05 - 0.01 + ... > 0 on every seed, so the literature
    # control fails and the verdict must read "underpowered".
    calls = []
    fake = _fake_train(calls)

    def worse_moe(run_cfg, seeds, pg, checkpoint_dir=None):
        rows = fake(run_cfg, seeds, pg)
        if run_cfg.model.ffn == "moe":
            for r in rows:
                r["test_loss"] += 0.2
        return rows

    monkeypatch.setattr(runner_mod, "_train", worse_moe)
    cfg = replace(MoEVsDenseConfig(), d_model=16, d_ff=32, num_seeds=3, lr_grid=(1e-3,))
    run = RunDir.create(tmp_path, "moe_vs_dense", cfg)
    summary = STUDIES["moe_vs_dense"].run(cfg, run)
    assert summary["controls"]["capacity"]["resolved"] is True
    assert summary["controls"]["switch_vs_dense"]["resolved"] is False
    assert summary["verdict"].startswith("underpowered: switch_vs_dense control not resolved")


def test_unit_key_depends_on_config_seeds_and_rate_not_on_the_seed_field():
    cfg = STUDIES["moe_vs_dense"].config()
    rc = cfg.run_config()
    assert unit_key(rc, [0, 1], None) == unit_key(replace(rc, seed=7), [0, 1], None)
    assert unit_key(rc, [0, 1], None) != unit_key(rc, [0, 2], None)
    assert unit_key(rc, [0, 1], None) != unit_key(rc, [0, 1], 0.1)
    assert unit_key(rc, [0, 1], None) != unit_key(replace(rc, train=replace(rc.train, lr=1e-2)), [0, 1], None)


def test_by_variant_groups_at_the_chosen_rate(tmp_path):
    run = RunDir.create(tmp_path, "x", {"a": 1})
    for lr, val in ((1e-3, 1.5), (1e-2, 1.2)):
        for s in (1, 0):
            run.log({"unit": f"v/lr{lr:g}/seed{s}", "variant": "v", "lr": lr, **_row(s, val, 9.0)})
    groups, tuning = by_variant(run)
    assert tuning["v"] == {"lr": 1e-2, "val_loss_by_lr": {"0.001": 1.5, "0.01": 1.2}, "at_grid_edge": True}
    assert [r["seed"] for r in groups["v"]] == [0, 1] and all(r["lr"] == 1e-2 for r in groups["v"])


def test_two_processes_needing_one_unit_train_it_once(tmp_path, monkeypatch, capsys):
    # Two studies run in parallel under one runs root (two threads here: flock is per open file,
    # so they exclude each other as two processes do). The first holds the unit's lock while it
    # trains; the second waits, saying so, then reads the cached unit instead of training it.
    import threading
    import time

    calls, started = [], threading.Event()
    fake = _fake_train(calls)

    def slow(run_cfg, seeds, pg, checkpoint_dir=None):
        started.set()
        time.sleep(0.5)
        return fake(run_cfg, seeds, pg, checkpoint_dir)

    monkeypatch.setattr(runner_mod, "_train", slow)
    cfg = replace(STUDIES["routers"].config(), d_model=16, d_ff=32, num_seeds=2, lr_grid=(1e-3,))
    arms = cfg.control_variants()[:1]
    first, second = (RunDir.create(tmp_path, name, cfg) for name in ("routers", "capacity"))
    worker = threading.Thread(target=run_variants, args=(cfg, first, arms, "first"))
    worker.start()
    started.wait(10)
    run_variants(cfg, second, arms, "second")
    worker.join()
    assert len(calls) == 1  # trained once
    assert [r["test_loss"] for r in first.records()] == [r["test_loss"] for r in second.records()]
    assert "waiting for another process training unit control:dense lr=0.001" in capsys.readouterr().err
    assert not list((tmp_path / "_cache" / "lm_units").glob("*.lock"))  # no lock file left
