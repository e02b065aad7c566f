"""`routerlab reproduce --jobs N`: experiments without a complete run start as child processes, up
to N at once and in plan order; each one's wall and CPU time is recorded; a failure is one line
naming it and keeps the rest from starting. Children are stand-ins here (sleep, or exit 3)."""

import json
import sys
from pathlib import Path

import pytest

from routerlab import cli
from routerlab.rundir import RunDirError

PLAN = [("bandit_zoo", "smoke"), ("planted_experts", "smoke"), ("lambda_sweep", "smoke")]


def _stand_in(log: Path, fail: str | None = None):
    def command(name, scale, out):
        code = 3 if name == fail else 0
        body = (f"import time, sys; t0 = time.time(); time.sleep(1.0); "
                f"open({str(log)!r}, 'a').write('{name} %f %f\\n' % (t0, time.time())); sys.exit({code})")
        return [sys.executable, "-c", body]
    return command


def _intervals(log: Path) -> dict[str, tuple[float, float]]:
    return {n: (float(a), float(b)) for n, a, b in (line.split() for line in log.read_text().splitlines())}


@pytest.mark.parametrize("jobs", [1, 2])
def test_children_run_up_to_jobs_at_once_and_are_timed(tmp_path, monkeypatch, jobs):
    log = tmp_path / "log"
    monkeypatch.setattr(cli, "_child_command", _stand_in(log))
    timing = tmp_path / "runs" / "t.json"
    cli._run_in_processes(PLAN, tmp_path / "runs", jobs, timing)
    spans = _intervals(log)
    assert sorted(spans) == sorted(n for n, _ in PLAN)
    # Two children overlap in time only when two may run at once.
    (a0, a1), (b0, b1) = spans["bandit_zoo"], spans["planted_experts"]
    assert (a0 < b1 and b0 < a1) == (jobs == 2)
    record = json.loads(timing.read_text())
    assert record["jobs"] == jobs and sorted(record["ran"]) == sorted(n for n, _ in PLAN)
    assert all(r["exit"] == 0 and r["wall_s"] >= 1.0 for r in record["ran"].values())
    assert record["reused"] == [] and record["wall_s"] >= 1.0


def test_children_exiting_together_are_each_reaped_and_timed(tmp_path, monkeypatch):
    # Two quick children end while a third waits: each is reaped once and recorded (a Popen
    # dropped after reading its pid let the next Popen reap it behind wait4's back).
    def quick(name, scale, out):
        return [sys.executable, "-c", "import sys; sys.exit(0)"]

    monkeypatch.setattr(cli, "_child_command", quick)
    cli._run_in_processes(PLAN, tmp_path / "runs", 2, tmp_path / "runs" / "t.json")
    record = json.loads((tmp_path / "runs" / "t.json").read_text())
    assert {n: r["exit"] for n, r in record["ran"].items()} == {n: 0 for n, _ in PLAN}


def test_a_failed_child_is_named_and_stops_the_rest(tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setattr(cli, "_child_command", _stand_in(log, fail="bandit_zoo"))
    with pytest.raises(RunDirError, match="^reproduce: bandit_zoo failed \\(see above\\); its finished units"):
        cli._run_in_processes(PLAN, tmp_path / "runs", 1, tmp_path / "runs" / "t.json")
    assert sorted(_intervals(log)) == ["bandit_zoo"]  # the others never started
    assert json.loads((tmp_path / "runs" / "t.json").read_text())["ran"]["bandit_zoo"]["exit"] == 3


def test_jobs_below_one_is_refused_naming_the_flag(tmp_path, capsys):
    code = cli.main(["reproduce", "--scale", "smoke", "--only", "bandit_zoo", "--jobs", "0", "--out", str(tmp_path)])
    assert code != 0
    assert "--jobs: must be >= 1; got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
