"""Adversarial inputs to the command line (issue 17): no code runs from a name or a run
directory, one writer per run, no silent loss on resume, refused input writes nothing."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from routerlab.cli import main
from routerlab.rundir import RunDir

# A user experiment that runs in milliseconds: one record per unit, no JAX.
USER_EXPERIMENT = textwrap.dedent('''
    """A user's own experiment (test fixture)."""
    from dataclasses import dataclass

    SCALES = ("smoke",)


    @dataclass(frozen=True)
    class Cfg:
        seed: int = 0
        units: int = 3


    def get_config(scale):
        return Cfg()


    def run(cfg, run):
        done = run.completed_units()
        for i in range(cfg.units):
            if f"u{i}" not in done:
                run.log({"unit": f"u{i}", "value": cfg.seed + i})
        return {"n": len(list(run.records()))}


    def report(run):
        return "# user report\\n"
''')


def _evil(folder: Path) -> Path:
    """A file that proves it ran by creating ``PWNED`` beside itself."""
    path = folder / "evil.py"
    path.write_text(f"import pathlib\npathlib.Path({str(folder / 'PWNED')!r}).write_text('ran')\n")
    return path


def _one_line_error(capsys, fragment: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("routerlab: error: ") and fragment in err, err
    return err


@pytest.mark.parametrize("name", ["{T}/evil", "../../evil", "{T}/../{T_name}/evil", "evil/", "./evil"])
def test_an_experiment_name_never_imports_a_path(tmp_path, monkeypatch, capsys, name):
    evil = _evil(tmp_path)
    monkeypatch.chdir(tmp_path / "..")
    name = name.format(T=tmp_path, T_name=tmp_path.name)
    assert main(["run", name, "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "experiment")
    assert not (evil.parent / "PWNED").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value", [("experiment", "../../../{T}/evil"), ("experiment", "{T}/evil"),
                                          ("experiment", "os"), ("experiment", None)])
@pytest.mark.parametrize("command", ["resume", "report"])
def test_a_run_directory_never_names_code_to_import(tmp_path, capsys, field, value, command):
    _evil(tmp_path)
    run_dir = tmp_path / "runs" / "x" / "run"
    run_dir.mkdir(parents=True)
    header = {"experiment": value.format(T=tmp_path) if value else value, "scale": "smoke", "config": {"seed": 0}}
    (run_dir / "config.json").write_text(json.dumps(header))
    if command == "report":
        (run_dir / "DONE").write_text("x\n")
    before = sorted(p.name for p in run_dir.iterdir())
    argv = ["run", "--resume", str(run_dir)] if command == "resume" else ["report", str(run_dir)]
    assert main(argv) == 2
    _one_line_error(capsys, "unknown experiment")
    assert not (tmp_path / "PWNED").exists()
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written, not even a lock


def test_user_file_runs_only_when_given_and_is_recorded_by_hash(tmp_path, capsys):
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    out = tmp_path / "runs"
    assert main(["run", str(mine), "--out", str(out)]) == 0
    (run_dir,) = (out / "my_exp").iterdir()
    header = json.loads((run_dir / "config.json").read_text())
    import hashlib

    assert header["experiment"] == "my_exp"
    assert header["experiment_file"] == {"file": "my_exp.py", "sha256": hashlib.sha256(mine.read_bytes()).hexdigest()}
    assert str(tmp_path) not in (run_dir / "config.json").read_text()  # no path to import
    capsys.readouterr()

    # report needs the file, and the same file.
    assert main(["report", str(run_dir)]) == 2
    _one_line_error(capsys, "--experiment-file")
    assert main(["report", str(run_dir), "--experiment-file", str(mine)]) == 0
    capsys.readouterr()
    changed = tmp_path / "other" / "my_exp.py"
    changed.parent.mkdir()
    changed.write_text(USER_EXPERIMENT + "\n# edited\n")
    assert main(["report", str(run_dir), "--experiment-file", str(changed)]) == 2
    _one_line_error(capsys, "differs from the run's recorded")


def test_resume_of_a_user_file_run_checks_the_hash(tmp_path, capsys):
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    out = tmp_path / "runs"
    assert main(["run", str(mine), "--out", str(out)]) == 0
    (run_dir,) = (out / "my_exp").iterdir()
    lines = (run_dir / "metrics.jsonl").read_text()
    (run_dir / "DONE").unlink()
    (run_dir / "metrics.jsonl").write_text(lines.splitlines(keepends=True)[0])
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir)]) == 2
    _one_line_error(capsys, "pass it with --experiment-file")
    (tmp_path / "other").mkdir()
    renamed = _evil(tmp_path / "other").rename(tmp_path / "other" / "my_exp.py")
    assert main(["run", "--resume", str(run_dir), "--experiment-file", str(renamed)]) == 2
    _one_line_error(capsys, "differs from the run's recorded")
    assert not (renamed.parent / "PWNED").exists()  # refused before importing
    assert main(["run", "--resume", str(run_dir), "--experiment-file", str(mine)]) == 0
    assert (run_dir / "metrics.jsonl").read_text() == lines


def test_run_directories_stay_under_out(tmp_path, capsys):
    from routerlab.rundir import RunDirInvalid

    with pytest.raises(RunDirInvalid, match="not an identifier"):
        RunDir.create(tmp_path / "out", "../escape", {"seed": 0})
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirInvalid, match="outside"):
        RunDir.create(tmp_path / "out", "linked", {"seed": 0})
    assert not any((tmp_path / "elsewhere").iterdir())


@pytest.mark.parametrize("extra, fragment", [
    (["--set", "seed=3"], "drop --set"),
    (["--scale", "quick"], "drop --scale"),
    (["--set", "seed=3", "--scale", "smoke"], "drop --set, --scale"),
    (["planted_experts"], "drop EXPERIMENT"),
    (["--out", "elsewhere"], "drop --out"),
])
def test_resume_refuses_overrides_instead_of_ignoring_them(tmp_path, capsys, extra, fragment):
    run = RunDir.create(tmp_path, "planted_experts", {"seed": 0})
    assert main(["run", "--resume", str(run.path), *extra]) == 2
    _one_line_error(capsys, fragment)


@pytest.mark.parametrize("planted", ["artifacts", "metrics.jsonl", ".lock"])
@pytest.mark.parametrize("command", ["report", "resume"])
def test_a_symlink_inside_a_run_directory_is_refused_before_any_write(tmp_path, capsys, planted, command):
    """A downloaded run whose artifacts/, metrics.jsonl or lock file is a link elsewhere must not
    write through it (report would write report.md and figures there; resume would append records)."""
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    assert main(["run", str(mine), "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs" / "my_exp").iterdir()
    if command == "resume":
        (run_dir / "DONE").unlink()
    escape = tmp_path / "escape"
    escape.mkdir()
    target = run_dir / planted
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
        target.symlink_to(escape, target_is_directory=True)
    else:
        target.unlink(missing_ok=True)
        target.symlink_to(escape / "appended.txt")
    capsys.readouterr()
    argv = (["report", str(run_dir)] if command == "report" else ["run", "--resume", str(run_dir)])
    assert main([*argv, "--experiment-file", str(mine)]) == 2
    _one_line_error(capsys, "symbolic link inside a run directory")
    assert not any(escape.iterdir())


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    for out in (afile, afile / "sub"):
        assert main(["run", str(mine), "--out", str(out)]) == 2
        _one_line_error(capsys, "cannot create a run directory")


def test_resume_of_a_non_run_or_a_finished_run_is_exit_2(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    _one_line_error(capsys, "not a run directory")
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    assert main(["run", str(mine), "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs" / "my_exp").iterdir()
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--experiment-file", str(mine)]) == 2
    _one_line_error(capsys, "already complete")


def test_run_files_are_as_readable_as_the_umask_allows(tmp_path):
    run = RunDir.create(tmp_path, "x", {"seed": 0})
    mode = (run.path / "config.json").stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


# -- one writer per run -----------------------------------------------------------------------

def test_a_second_writer_is_refused_in_process(tmp_path):
    from routerlab.rundir import RunDirInvalid

    run = RunDir.create(tmp_path, "x", {"seed": 0})
    with run.lock():
        with pytest.raises(RunDirInvalid, match="another routerlab process is writing"):
            with RunDir(run.path).lock():
                pass
    with run.lock():  # released on exit
        pass


def test_a_second_writer_process_gets_one_line_and_exit_2(tmp_path):
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    out = tmp_path / "runs"
    assert main(["run", str(mine), "--out", str(out)]) == 0
    (run_dir,) = (out / "my_exp").iterdir()
    (run_dir / "DONE").unlink()
    before = (run_dir / "metrics.jsonl").read_bytes()
    # This process holds the lock while a second process tries to resume the run.
    with RunDir(run_dir).lock():
        proc = subprocess.run(
            [sys.executable, "-m", "routerlab.cli", "run", "--resume", str(run_dir), "--experiment-file", str(mine)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "ROUTERLAB_JAX_CACHE": ""},
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "another routerlab process is writing" in proc.stderr
    assert (run_dir / "metrics.jsonl").read_bytes() == before
    assert not (run_dir / "DONE").exists()


def test_a_garbage_metrics_line_is_one_line_naming_file_and_line(tmp_path, capsys):
    mine = tmp_path / "my_exp.py"
    mine.write_text(USER_EXPERIMENT)
    out = tmp_path / "runs"
    assert main(["run", str(mine), "--out", str(out)]) == 0
    (run_dir,) = (out / "my_exp").iterdir()
    (run_dir / "DONE").unlink()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "metrics.jsonl").write_text(lines[0] + "{not json\n" + lines[1])
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--experiment-file", str(mine)]) == 2
    _one_line_error(capsys, f"{run_dir / 'metrics.jsonl'}:2: not a JSON record")


# -- validation before anything is written ------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["planted_experts", "--set", "seed=100000000000000000000"], "seed: a seed must be in [0, 2**32)"),
    (["planted_experts", "--set", "seed=-1"], "seed: a seed must be in [0, 2**32)"),
    (["moe_vs_dense", "--set", "steps=1000000000000"], "steps: must be an integer of magnitude below 2**31"),
    (["moe_vs_dense", "--set", "lr_grid=[Infinity]"], "lr_grid[0]: must be a finite number"),
    (["planted_experts", "--set", "lr=Infinity"], "lr: must be a finite number"),
    (["planted_experts", "--set", "lr=NaN"], "lr: must be a finite number"),
    (["planted_experts", "--set", "task.spread=1e309"], "task.spread: must be a finite number"),
    (["planted_experts", "--set", "lr=-1"], "lr: must be > 0"),
    (["planted_experts", "--set", "load_balance_weight=-1"], "load_balance_weight: must be >= 0"),
    (["bandit_zoo", "--set", "lams=[0,Infinity]"], "lams[1]: must be a finite number"),
    (["routers", "--set", "num_experts=1"], "top_k: must be <= num_experts (1)"),
    (["routers", "--set", "load_balance_weight=-1"], "load_balance_weight: must be >= 0"),
    (["fleet_routing", "--set", "fleet.specialist.n_heads=3"], "fleet.specialist.n_heads: must divide d_model (16)"),
    (["fleet_routing", "--set", "fleet.generalists=[{\"name\":\"g\",\"n_heads\":5}]"],
     "fleet.generalists[0].n_heads: must divide d_model (32)"),
])
def test_refused_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, fragment):
    out = tmp_path / "runs"
    assert main(["run", *argv, "--out", str(out)]) == 2
    _one_line_error(capsys, fragment)
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))


def test_a_pickle_is_refused_by_a_message(tmp_path, capsys):
    table = tmp_path / "log.pkl"
    table.write_bytes(b"\x80\x04K\x01.")  # a valid pickle of the int 1
    assert main(["route-eval", str(table)]) == 2
    _one_line_error(capsys, "log.pkl")
    out = tmp_path / "runs"
    argv = ["run", "real_benchmarks", "--set", f"routerbench_path={table}", "--set", 'datasets=["routerbench"]',
            "--out", str(out)]
    assert main(argv) == 2
    _one_line_error(capsys, "routerbench_path: a pickle can run arbitrary code")
    assert not out.exists()


def test_a_refusal_inside_a_run_removes_only_what_it_created(tmp_path, capsys):
    """The safety net behind experiments whose checks need derived configs: a ConfigError
    raised before the run wrote anything removes the new run directory, not the --out folder
    that was already there."""
    mine = tmp_path / "late_check.py"
    mine.write_text(USER_EXPERIMENT.replace("def run(cfg, run):\n", "def run(cfg, run):\n"
                                            "    from routerlab.config import ConfigError\n"
                                            "    if cfg.units > 2:\n"
                                            "        raise ConfigError('units', 'too many for the derived model')\n"))
    out = tmp_path / "runs"
    (out / "other").mkdir(parents=True)
    assert main(["run", str(mine), "--out", str(out)]) == 2
    _one_line_error(capsys, "units: too many for the derived model")
    assert sorted(p.name for p in out.iterdir()) == ["other"]


def test_stale_fleet_builds_of_dead_processes_are_removed(tmp_path):
    from routerlab.fleet.fleet import clean_stale_builds

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "_fleets"
    for name in (f"abc.tmp-{dead.pid}", f"abc.tmp-{os.getppid()}", f"abc.tmp-{os.getpid()}", "abc", "abc.tmp-x"):
        (folder / name).mkdir(parents=True)
    assert clean_stale_builds(folder) == [folder / f"abc.tmp-{dead.pid}"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["abc", "abc.tmp-x", f"abc.tmp-{os.getppid()}", f"abc.tmp-{os.getpid()}"])


# -- fast answers, quiet logs ------------------------------------------------------------------

def test_version_answers_without_importing_jax_or_datasets():
    code = ("import sys\nfrom routerlab.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nheavy = sorted(m for m in ('jax', 'datasets', 'flax', 'pandas') if m in sys.modules)\n"
            "print('heavy:', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "heavy: []"


def test_datasets_progress_bars_off_without_a_tty(monkeypatch):
    import io

    from routerlab.runtime import quiet_progress_bars

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    assert quiet_progress_bars(Tty()) is False and "HF_DATASETS_DISABLE_PROGRESS_BARS" not in os.environ
    assert quiet_progress_bars(io.StringIO()) is True
    assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
    import datasets

    assert not datasets.is_progress_bar_enabled()
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "0")  # the user's choice wins
    assert quiet_progress_bars(io.StringIO()) is False


def test_progress_prints_one_line_per_unit_without_a_tty(monkeypatch):
    """A redirected log gets one line per unit of work (no bar, no carriage returns)."""
    import io

    from routerlab.runtime import progress

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    log = io.StringIO()
    assert list(progress(["a", "b", "c"], "study", "arm", stream=log, label=str.upper)) == ["a", "b", "c"]
    lines = log.getvalue().splitlines()
    assert [ln.split(" (")[0] for ln in lines[:3]] == ["[study] arm 1/3 A", "[study] arm 2/3 B", "[study] arm 3/3 C"]
    assert lines[3].startswith("[study] 3 arms done in ") and "\r" not in log.getvalue()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    quiet = io.StringIO()
    assert list(progress([1, 2], "study", stream=quiet)) == [1, 2] and quiet.getvalue() == ""
