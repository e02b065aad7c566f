"""The command line: validation exits 2 and writes nothing; experiment files all load and validate."""

import pytest

from routerlab import __version__
from routerlab.cli import main
from routerlab.config import to_dict
from routerlab.registry import SCALE_NAMES, list_experiments, load_experiment


def test_version_matches_citation(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"routerlab {__version__}"
    from pathlib import Path

    cff = (Path(__file__).resolve().parents[2] / "CITATION.cff").read_text()
    assert f"\nversion: {__version__}\n" in cff


@pytest.mark.parametrize("name", list_experiments())
def test_every_experiment_file_loads_and_validates(name):
    exp = load_experiment(name)
    doc = exp.doc
    for needed in ("Command:", "Runtime", "Expected result", "Feeds:"):
        assert needed in doc, f"{name}: docstring lacks {needed!r}"
    assert set(exp.scales) <= set(SCALE_NAMES) and "smoke" in exp.scales
    for scale in exp.scales:
        cfg = exp.config(scale)
        assert to_dict(cfg)  # a typed dataclass that serializes


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "planted_experts", "--set", "num_seeds=0"], "num_seeds: must be >= 1"),
        (["run", "planted_experts", "--set", "nonsense=1"], "nonsense: unknown key; allowed:"),
        (["run", "planted_experts", "--set", "lr=fast"], "lr: expected float"),
        (["run", "planted_experts", "--set", "load_balance_weight=-1"], "load_balance_weight: must be >= 0"),
        (["run", "planted_experts", "--set", "capacity_factor=0"], "capacity_factor: must be > 0"),
        (["run", "planted_experts", "--set", "variants=[\"switch\",\"nope\"]"], "variants: 'nope' is neither a variant"),
        (["run", "no_such_experiment"], "unknown experiment 'no_such_experiment'"),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, argv, fragment):
    out = tmp_path / "runs"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and err.count("\n") == 0
    assert not out.exists()


def test_list_shows_experiments(capsys):
    assert main(["list"]) == 0
    assert "planted_experts" in capsys.readouterr().out


def test_resume_of_complete_run_is_refused(tmp_path, capsys):
    from dataclasses import dataclass

    from routerlab.rundir import RunDir

    @dataclass(frozen=True)
    class Cfg:
        seed: int = 0

    run = RunDir.create(tmp_path, "planted_experts", Cfg())
    run.finish({})
    assert main(["run", "--resume", str(run.path)]) == 2  # a run that cannot be used as asked
    assert "already complete" in capsys.readouterr().err
