"""Cross-field validation before anything is written (issue 17): a config that one of a
study's arms cannot take is refused with one line naming the field, exit 2, and no run
directory. Each case below used to pass ``get_config`` and fail only when the arms were built
inside the run (after the run directory existed); the experiments' ``check(cfg)``
(:meth:`routerlab.studies.lm.study.Study.check`) and ``LMStudyConfig.__post_init__`` now
refuse them first."""

import pytest

from routerlab.cli import main
from routerlab.registry import experiments_dir, load_experiment
from routerlab.studies.lm import STUDIES

CASES = [
    ("routers", "num_experts=1", "top_k: must be <= num_experts (1)"),  # top-2 arm: top_k 2 > E 1
    ("encoder_routers", "num_experts=1", "top_k: must be <= num_experts (1)"),
    ("moe_vs_dense", "n_heads=3", "n_heads: must divide d_model (16)"),
    ("expert_count", "d_model=6", "n_heads: rotary positions need an even head_dim"),  # 6 / 2 heads = 3
    ("granularity", "n_heads=16", "n_heads: rotary positions need an even head_dim"),  # 16 / 16 = 1
    ("capacity", "z_loss_weight=-1", "z_loss_weight: must be >= 0"),
    ("balancing", "bias_rate=-1", "bias_rate: must be >= 0"),
    ("scaling_fit", "ffn_mult=0", "ffn_mult: must be >= 1"),
    ("scaling_fit", "d_model=6", "n_heads: rotary positions need an even head_dim"),  # the controls' arms
]


@pytest.mark.parametrize("experiment, setting, fragment", CASES)
def test_a_bad_arm_is_refused_before_the_run_directory(tmp_path, capsys, monkeypatch, experiment, setting, fragment):
    from routerlab.rundir import RunDir

    def never(*args, **kwargs):  # the registry removes a refused run's directory; here none may be made
        raise AssertionError("a run directory was created before the config was refused")

    monkeypatch.setattr(RunDir, "create", never)
    out = tmp_path / "runs"
    assert main(["run", experiment, "--scale", "smoke", "--set", setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("routerlab: error: ") and fragment in err, err
    assert not out.exists()


# knowledge (added with its own study) is not listed: its experiment file is maintained with it.
@pytest.mark.parametrize("name", sorted(n for n in STUDIES if (experiments_dir() / f"{n}.py").is_file()
                                        and n != "knowledge") + ["planted_experts"])
def test_every_training_experiment_checks_its_arms_before_running(name):
    """A training experiment file without ``check`` would build its arms only inside the run."""
    exp = load_experiment(name)
    assert hasattr(exp.module, "check")
    exp.module.check(exp.config("smoke"))  # the shipped config passes
