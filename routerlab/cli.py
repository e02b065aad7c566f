"""The ``routerlab`` command line.

    routerlab run EXPERIMENT|PATH.py [--scale smoke|quick|paper] [--set KEY=VALUE ...] [--out DIR]
    routerlab run --resume RUN_DIR [--experiment-file PATH.py]
    routerlab list [--runs DIR]
    routerlab config EXPERIMENT|PATH.py [--scale S] [--set KEY=VALUE ...] [--json]
    routerlab demo [--out DIR]
    routerlab reproduce --scale quick|paper [--out DIR]
    routerlab report RUN_DIR [--experiment-file PATH.py]
    routerlab paper [--runs DIR] [--out paper/] [--scale quick] [--run-missing]
    routerlab bench NAME [--out FILE] [--set KEY=VALUE ...] [--devices N]
    routerlab route-eval TRAIN [--test TEST] [--out DIR] [--router MODULE:ATTR ...] (see --help)
    routerlab data get NAME [--mirror DIR_OR_URL]

Errors in what the user typed or pointed at (configs, names, paths, malformed data rows)
print one line and exit 2, before anything is written. Failures while running (a non-finite loss, a bad data row) print one
line and exit 1; the run directory keeps everything written so far, without DONE.

An experiment is a registered name (``routerlab list``) or, for your own file, its path
ending in ``.py``. A run directory never names code to import: a run of your own file records
its name and sha256, and resuming or reporting it needs ``--experiment-file`` with that file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# Light imports only: `routerlab --version` and usage errors must answer without importing
# jax or datasets (the commands import what they need).
from routerlab import __version__
from routerlab.config import ConfigError, parse_assignment
from routerlab.registry import SCALE_NAMES, execute, list_experiments, load_experiment, recorded_run
from routerlab.runtime import enable_compilation_cache, quiet_progress_bars
from routerlab.rundir import RunDir, RunDirError, RunDirInvalid, atomic_write_text, dumps, find_runs

# The headline experiments `routerlab demo` runs, sized to finish in under 10 minutes on 2 CPU
# cores from a fresh clone: routing inside a layer (planted experts, trained here) and routing
# across a fleet. The calibrated quick fleet takes ~21 CPU-minutes to train, too long for the
# demo, so the fleet section routes over that fleet's routing logs shipped with routerlab
# (routerlab/data/shipped/quick_fleet, checksums verified; routerlab.fleet.shipped says how
# to regenerate them): routers trained and scored at quick scale, no fleet training, and a
# report that leads with the log's provenance and its underpowered size control. MoE against
# dense (`routerlab run moe_vs_dense --scale quick`) left the demo when its quick scale moved
# to the calibrated knowledge regime: ~15 CPU-minutes (873 CPU s, 2026-12-01), over the budget.
DEMO = (("planted_experts", "quick"), ("fleet_routing_shipped", "quick"))
BENCHES = {
    "moe": "routerlab.bench.moe:bench_moe",
    "bandits": "routerlab.bench.bandits:bench_bandits",
    "metrics": "routerlab.bench.metrics:bench_metrics",
    "lm": "routerlab.bench.lm:bench_lm",
}
EXIT_USAGE, EXIT_FAILURE = 2, 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerlab", description="Learned routing research: MoE layers and model fleets.")
    p.add_argument("--version", action="version", version=f"routerlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run one experiment into a new run directory")
    r.add_argument("experiment", nargs="?",
                   help="experiment name (see `routerlab list`), or the path of your own experiment file (*.py)")
    r.add_argument("--scale", choices=SCALE_NAMES, help="default: smoke")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    r.add_argument("--out", type=Path, help="root of run directories (default: runs)")
    r.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run in place")
    r.add_argument("--experiment-file", type=Path, metavar="PATH.py",
                   help="with --resume: the user experiment file the run was made from (checked against its hash)")

    c = sub.add_parser("config", help="print every field of an experiment's config: type, value at a scale, doc")
    c.add_argument("experiment", help="experiment name (see `routerlab list`), or the path of your own experiment file (*.py)")
    c.add_argument("--scale", choices=SCALE_NAMES, default="smoke", help="whose values to show (default: smoke)")
    c.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="apply overrides first (validated as `run` would)")
    c.add_argument("--json", action="store_true", help="one JSON object per field instead of a table")

    ls = sub.add_parser("list", help="list experiments, or the runs under a directory")
    ls.add_argument("--runs", type=Path, help="list run directories under this root instead")

    d = sub.add_parser("demo", help="the headline experiments at demo size, one report")
    d.add_argument("--out", default="runs", type=Path)

    rep = sub.add_parser("reproduce", help="run every experiment at a scale and write one summary report")
    rep.add_argument("--scale", required=True, choices=SCALE_NAMES)
    rep.add_argument("--out", default="runs", type=Path)
    rep.add_argument("--only", action="append", default=[], metavar="EXPERIMENT", help="restrict to these experiments")
    rep.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="N > 1: run up to N experiments at once, each in its own process (LM studies "
                          "share trained units through the unit cache, each trained once); the wall and CPU "
                          "time of each and of the whole go to OUT/reproduce-SCALE-timing.json")

    rp = sub.add_parser("report", help="(re)write a run's Markdown report and figures")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--experiment-file", type=Path, metavar="PATH.py",
                    help="for a run of your own experiment file: that file (checked against the recorded hash)")

    pp = sub.add_parser("paper", help="regenerate paper/tables and paper/figures from complete runs")
    pp.add_argument("--runs", default="runs", type=Path, help="root of run directories (default: runs)")
    pp.add_argument("--out", default="paper", type=Path)
    pp.add_argument("--scale", choices=SCALE_NAMES, help="use only runs made at this scale")
    pp.add_argument("--run-missing", action="store_true",
                    help="first run, at --scale, every paper experiment that has no complete run of its current "
                         "config under --runs (reusing those that do), then build from exactly those runs")

    from routerlab.fleet.cli import register as register_fleet

    register_fleet(sub)  # route-eval, data get

    b = sub.add_parser("bench", help="measure ratios against baselines; prints one JSON object per case")
    b.add_argument("name", choices=sorted(BENCHES))
    b.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    b.add_argument("--devices", type=int, help="moe only: expert-parallel all-to-all share and weak scaling on N devices")
    b.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="keyword argument of the benchmark")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from routerlab.registry import is_experiment_path, load_experiment_file, resume

    if args.resume:
        given = [flag for flag, on in (("EXPERIMENT", args.experiment), ("--set", args.sets), ("--scale", args.scale),
                                       ("--out", args.out)) if on]
        if given:
            raise ConfigError("--resume", f"a resumed run keeps its recorded config; drop {', '.join(given)} "
                                          "(or start a new run with them)")
        exp, run = resume(args.resume, args.experiment_file)
    else:
        if not args.experiment:
            raise ConfigError("experiment", "name an experiment (see `routerlab list`) or pass --resume RUN_DIR")
        if args.experiment_file is not None:
            raise ConfigError("--experiment-file", "only with --resume; to run your own file, give its path as EXPERIMENT")
        scale = args.scale or "smoke"
        exp = load_experiment_file(args.experiment) if is_experiment_path(args.experiment) else load_experiment(args.experiment)
        cfg = exp.config(scale, args.sets)  # validated before anything is written
        run = execute(exp, cfg, args.out or Path("runs"), scale=scale)
    print(f"{exp.name}: done -> {run.path}")
    print(f"report: {run.artifacts / 'report.md'}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    """The fields `--set` can change, each with its type, its value at ``--scale`` and its doc."""
    import json

    from routerlab.config import describe
    from routerlab.registry import is_experiment_path, load_experiment_file

    exp = load_experiment_file(args.experiment) if is_experiment_path(args.experiment) else load_experiment(args.experiment)
    rows = describe(exp.config(args.scale, args.sets))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{exp.name} at scale {args.scale} ({type(exp.config(args.scale)).__name__}); change a field with --set FIELD=VALUE")
    width = max(len(r["field"]) for r in rows)
    for r in rows:
        value = json.dumps(r["value"])
        print(f"  {r['field']:{width}s}  {value:18s}  {r['type']}" + (f"\n  {'':{width}s}  {r['doc']}" if r["doc"] else ""))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    if args.runs:
        for run in find_runs(args.runs, done_only=False):
            print(f"{'done      ' if run.done else 'incomplete'}  {run.path}")
        return 0
    for name in list_experiments():
        exp = load_experiment(name)
        print(f"{name:24s} [{', '.join(exp.scales)}]  {exp.title}")
    return 0


def _summary_report(runs: Sequence[tuple[str, RunDir]], out: Path, title: str) -> Path:
    """One Markdown file linking each run's report section and figures."""
    lines = [f"# {title}", ""]
    for name, run in runs:
        section = (run.artifacts / "report.md").read_text()
        rel = os.path.relpath(run.artifacts, out.parent)
        lines += [f"## {name} ({run.header.get('scale')} scale)", "", f"Run directory: `{run.path}`", ""]
        lines += [section.replace("](", f"]({rel}/") if "](" in section else section, ""]
    atomic_write_text(out, "\n".join(lines))
    return out


def _ensure_runs(plan: Sequence[tuple[str, str]], out: Path) -> list[tuple[str, RunDir]]:
    """A complete run for each ``(experiment, scale)``: the newest one of exactly the current
    config when there is one (never a partial run), else a new run."""
    runs = []
    for name, scale in plan:
        exp = load_experiment(name)
        if scale not in exp.scales:
            print(f"{name}: no {scale} scale; skipped")
            continue
        cfg = exp.config(scale)
        run = recorded_run(name, cfg, out)
        if run is not None:
            print(f"{name} ({scale}): reusing {run.path}")
        else:
            start = time.perf_counter()
            run = execute(exp, cfg, out, scale=scale)
            print(f"{name} ({scale}): {time.perf_counter() - start:.0f} s -> {run.path}")
        runs.append((name, run))
    return runs


def _run_many(plan: Sequence[tuple[str, str]], out: Path, title: str, report_name: str) -> int:
    report = _summary_report(_ensure_runs(plan, out), out / report_name, title)
    print(f"report: {report.resolve()}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run_many(DEMO, args.out, "routerlab demo", "demo-report.md")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    names = args.only or list_experiments()
    if args.jobs < 1:
        raise ConfigError("--jobs", f"must be >= 1; got {args.jobs}")
    for name in names:
        load_experiment(name)  # fail on a bad name before running anything
    plan = [(name, args.scale) for name in names]
    if args.jobs > 1:  # else in this process, as before (routers registered before main() stay visible)
        _run_in_processes(plan, args.out, args.jobs, args.out / f"reproduce-{args.scale}-timing.json")
    return _run_many(plan, args.out, f"routerlab reproduce --scale {args.scale}", f"reproduce-{args.scale}.md")


def _child_command(name: str, scale: str, out: Path) -> list[str]:
    """``routerlab run NAME --scale SCALE --out OUT`` with this interpreter (``-P``: the working
    directory does not shadow the installed routerlab)."""
    return [sys.executable, "-P", "-c", "import sys; from routerlab.cli import main; sys.exit(main())",
            "run", name, "--scale", scale, "--out", str(out)]


def _run_in_processes(plan: Sequence[tuple[str, str]], out: Path, jobs: int, timing_path: Path) -> None:
    """Run each experiment of ``plan`` that has no complete run of its current config as
    ``routerlab run NAME --scale S`` in a child process, up to ``jobs`` at once (in plan order),
    and write each one's wall and CPU seconds (the child's and its reaped descendants', from
    ``wait4``) and the whole's wall time to ``timing_path``. Children get an equal share of an
    accelerator's memory (``XLA_PYTHON_CLIENT_MEM_FRACTION``, unless set). A failed child stops
    the rest from starting and is a one-line error naming it."""
    import datetime
    import json
    import subprocess

    from routerlab.rundir import git_sha

    todo, reused = [], []
    for name, scale in plan:
        exp = load_experiment(name)
        if scale not in exp.scales:
            continue
        (reused if recorded_run(name, exp.config(scale), out) is not None else todo).append((name, scale))
    env = {**os.environ}
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / jobs:.2f}")
    start = time.perf_counter()
    timing: dict[str, dict[str, float | int]] = {}
    running: dict[int, tuple[subprocess.Popen, str, float]] = {}
    failed: list[str] = []
    queue = list(todo)
    while queue or running:
        while queue and len(running) < jobs and not failed:
            name, scale = queue.pop(0)
            child = subprocess.Popen(_child_command(name, scale, out), env=env)
            running[child.pid] = (child, name, time.perf_counter())
            print(f"{name} ({scale}): started", flush=True)
        if not running:
            break
        for pid in list(running):  # only our own children, each reaped once, here
            got, status, usage = os.wait4(pid, os.WNOHANG)
            if got == 0:
                continue
            child, name, began = running.pop(pid)
            code = child.returncode = os.waitstatus_to_exitcode(status)
            timing[name] = {"wall_s": round(time.perf_counter() - began, 1),
                            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "exit": code}
            print(f"{name}: exit {code}, {timing[name]['wall_s']:.0f} s wall, {timing[name]['cpu_s']:.0f} CPU s",
                  flush=True)
            if code != 0:
                failed.append(name)
        time.sleep(0.05)
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git": git_sha(), "jobs": jobs, "cpu_count": os.cpu_count(),
              "wall_s": round(time.perf_counter() - start, 1),
              "cpu_s": round(sum(t["cpu_s"] for t in timing.values()), 1),
              "ran": timing, "reused": [name for name, _ in reused]}
    if todo:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(timing_path, json.dumps(record, indent=1) + "\n")
    if failed:
        raise RunDirError(f"reproduce: {', '.join(failed)} failed (see above); its finished units and fleet "
                          f"groups are cached, so a rerun does not train them again")


def _cmd_report(args: argparse.Namespace) -> int:
    from routerlab.registry import load_recorded_experiment

    run = RunDir.open(args.run_dir, repair=False).require_done()  # never rewrite a run it only reads
    exp = load_recorded_experiment(run, args.experiment_file)
    path = run.artifacts / "report.md"
    atomic_write_text(path, exp.report(run))
    print(f"report: {path}")
    return 0


def _cmd_paper(args: argparse.Namespace) -> int:
    from routerlab.paper_cli import build_paper, paper_experiments
    from routerlab.report.paper import missing_inputs

    runs = None
    if args.run_missing:
        if args.scale is None:
            raise ConfigError("--scale", "--run-missing needs the scale to run at (e.g. --scale quick)")
        runs = dict(_ensure_runs([(name, args.scale) for name in paper_experiments()], args.runs))
    for path in build_paper(args.runs, args.out, scale=args.scale, runs=runs):
        print(path)
    main_tex = args.out / "main.tex"
    if main_tex.is_file() and (missing := missing_inputs(main_tex)):
        raise RunDirError(f"{main_tex} inputs files that were not generated: {', '.join(missing)}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    target = BENCHES[args.name]
    if args.devices is not None:
        if args.name != "moe":
            raise ConfigError("--devices", f"only `routerlab bench moe` takes --devices; got bench {args.name}")
        target = "routerlab.bench.moe_parallel:bench_moe_parallel"
    module, func = target.split(":")
    bench = getattr(importlib.import_module(module), func)
    kwargs = {}
    for text in args.sets:
        parts, value = parse_assignment(text)
        kwargs[".".join(parts)] = value
    if args.devices is not None:
        kwargs["devices"] = args.devices
    try:
        records = bench(**kwargs)
    except TypeError as err:
        raise ConfigError("bench", str(err)) from None
    lines = [dumps(r) for r in records]
    print("\n".join(lines))
    if args.out:
        atomic_write_text(args.out, "\n".join(lines) + "\n")
    return 0


COMMANDS = {
    "run": _cmd_run,
    "list": _cmd_list,
    "config": _cmd_config,
    "demo": _cmd_demo,
    "reproduce": _cmd_reproduce,
    "report": _cmd_report,
    "paper": _cmd_paper,
    "bench": _cmd_bench,
}


def _bad_input() -> tuple[type[BaseException], ...]:
    """What the user typed or pointed at is wrong (including a run directory that is locked,
    damaged or would lose records on resume): one line, exit 2, nothing written."""
    try:
        from routerlab.data import RoutingLogError
    except ImportError:  # `datasets` absent (an accelerator image, say): no routing log can have been read
        return ConfigError, RunDirInvalid
    return ConfigError, RoutingLogError, RunDirInvalid


def _known_failures() -> tuple[type[BaseException], ...]:
    """Run-time failures: one line, exit 1; the run directory keeps what was written."""
    from routerlab.data.get import DownloadError
    from routerlab.train import NonFiniteError

    return RunDirError, NonFiniteError, DownloadError


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # answered before the parser imports the fleet/data commands
        print(f"routerlab {__version__}")
        raise SystemExit(0)
    quiet_progress_bars()
    args = _parser().parse_args(argv)
    enable_compilation_cache()
    try:
        handler = COMMANDS.get(args.command) or args.func
        return handler(args)
    except _bad_input() as err:
        print(f"routerlab: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except _known_failures() as err:
        print(f"routerlab: error: {err}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
