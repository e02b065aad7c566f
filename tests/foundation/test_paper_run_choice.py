"""`routerlab paper --scale S` reads each experiment's run of its current config at S: a newer run
made at that scale with `--set` overrides (another config) is not that scale's run."""

import time
from dataclasses import replace

from routerlab.paper_cli import _paper_run
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir


def _finished(root, cfg):
    run = RunDir.create(root, "bandit_zoo", cfg, scale="smoke")
    run.finish({})
    time.sleep(1.1)  # run directories are named by the second
    return run


def test_the_current_configs_run_wins_over_a_newer_overridden_one(tmp_path, capsys):
    cfg = load_experiment("bandit_zoo").config("smoke")
    current = _finished(tmp_path, cfg)
    _finished(tmp_path, replace(cfg, num_seeds=cfg.num_seeds + 1))  # newer, like `--set num_seeds=...`
    assert _paper_run(tmp_path, "bandit_zoo", "smoke").path == current.path
    assert capsys.readouterr().err == ""


def test_without_a_run_of_the_current_config_the_newest_is_used_and_said(tmp_path, capsys):
    cfg = load_experiment("bandit_zoo").config("smoke")
    other = _finished(tmp_path, replace(cfg, num_seeds=cfg.num_seeds + 1))
    assert _paper_run(tmp_path, "bandit_zoo", "smoke").path == other.path
    assert "no complete run of its current smoke config" in capsys.readouterr().err
