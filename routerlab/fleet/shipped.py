"""Routing logs of this project's own fleet, shipped with the package, so a demo can route over a
real quick-scale fleet without the ~21 CPU-minutes of training it.

A shipped log is a folder ``routerlab/data/shipped/<name>_fleet/`` holding one Parquet file per
fleet seed (the routing-log schema of :mod:`routerlab.data.schema`, with the cost under both
units as ``cost_usd`` and ``cost_flops``) and ``manifest.json``: the command and git commit that
made it, the date, the fleet's models and config, the latency and chance rows recorded by the
run it came from, the fleet's size control as the specialists study recorded it, and the
sha256 and size of every file. :func:`load_shipped` checks every checksum before anything is
read: a file that does not match is a one-line :class:`~routerlab.config.ConfigError`.

Regenerate (after ``routerlab run fleet_routing --scale quick`` and ``routerlab run
specialists_vs_generalists --scale quick``, which build and use the same cached fleet)::

    python -m routerlab.fleet.shipped --fleet runs/_fleets/<hash> --routing-run runs/fleet_routing/<run> \\
        --control-run runs/specialists_vs_generalists/<run> --out routerlab/data/shipped/quick_fleet
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routerlab.config import ConfigError, check

__all__ = ["SHIPPED_LOGS", "ShippedFleet", "load_shipped", "shipped_dir", "write_shipped", "sha256_file"]

#: Names of the shipped logs (``fleet_routing``'s ``fleet_log = "shipped:<name>"``).
SHIPPED_LOGS = ("quick",)
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "data" / "shipped"
UNITS = ("usd", "flops")
REGENERATE = ("routerlab run fleet_routing --scale quick && routerlab run specialists_vs_generalists --scale quick "
              "&& python -m routerlab.fleet.shipped --fleet runs/_fleets/<hash> --routing-run runs/fleet_routing/<run> "
              "--control-run runs/specialists_vs_generalists/<run> --out routerlab/data/shipped/quick_fleet")


def shipped_dir(name: str) -> Path:
    check(name in SHIPPED_LOGS, "fleet_log", f"unknown shipped log {name!r}; shipped: {', '.join(SHIPPED_LOGS)}")
    return SHIPPED_ROOT / f"{name}_fleet"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class ShippedFleet:
    """A shipped log, checksums verified; the fleet interface ``fleet_routing`` routes over."""

    path: Path
    manifest: dict[str, Any]

    @property
    def label(self) -> str:
        return f"shipped:{self.manifest['name']}"

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest["seeds"]]

    @property
    def models(self) -> list[dict[str, Any]]:
        return self.manifest["models"]

    @property
    def latency(self) -> dict[str, Any]:
        """Per-forward latency of each model, as measured by the run the log came from."""
        return self.manifest["latency"]

    @property
    def provenance(self) -> dict[str, Any]:
        """What a run records about the log: name, how it was made, its size control, checksums."""
        keep = ("name", "made", "size_control", "files", "source_runs")
        return {k: self.manifest[k] for k in keep if k in self.manifest}

    def chance(self, seed: int) -> dict[str, float]:
        """The no-model rows (majority answer, uniform guess) and ceiling on ``seed``'s test queries."""
        return self.manifest["chance"][str(seed)]

    def log(self, seed: int, unit: str = "usd"):
        """The routing log of ``seed`` with cost in ``usd`` or ``flops``, as a ``datasets.Dataset``."""
        import datasets
        import pyarrow as pa
        import pyarrow.parquet as pq

        from routerlab.data.schema import FEATURES, validate_log

        check(unit in UNITS, "unit", f"must be usd or flops; got {unit!r}")
        check(seed in self.seeds, "seed", f"the shipped log has seeds {self.seeds}; got {seed}")
        table = pq.read_table(self.path / f"log_seed{seed}.parquet")
        columns = {c: table.column(c) for c in table.column_names if not c.startswith("cost_")}
        columns["cost"] = table.column(f"cost_{unit}")
        columns["latency_s"] = pa.nulls(len(table), pa.float64())  # not recorded per call by the fleet
        ds = datasets.Dataset(pa.table({c: columns[c] for c in FEATURES}).cast(FEATURES.arrow_schema))
        validate_log(ds, f"{self.label} seed {seed}")
        return ds


def load_shipped(name: str = "quick", folder: Path | str | None = None) -> ShippedFleet:
    """The shipped log ``name`` (or the one in ``folder``), after checking every file's sha256
    against its manifest: a missing or altered file is a one-line ``fleet_log`` error."""
    path = Path(folder) if folder is not None else shipped_dir(name)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError("fleet_log", f"no shipped log at {path} (manifest.json missing); regenerate: {REGENERATE}")
    manifest = json.loads(manifest_path.read_text())
    if not manifest.get("files"):
        raise ConfigError("fleet_log", f"shipped log {path.name}: its manifest lists no files to check")
    for file, meta in manifest["files"].items():
        f = path / file
        if not f.is_file():
            raise ConfigError("fleet_log", f"shipped log {path.name}: {file} is missing; regenerate: {REGENERATE}")
        got = sha256_file(f)
        if got != meta["sha256"]:
            raise ConfigError("fleet_log", f"shipped log {path.name}: {file} fails its checksum (sha256 {got[:12]}..., "
                                           f"manifest {meta['sha256'][:12]}...): the file was altered; reinstall "
                                           f"routerlab or regenerate: {REGENERATE}")
    return ShippedFleet(path, manifest)


def _control(control_run: Path) -> dict[str, Any]:
    """The size control of a recorded specialists_vs_generalists run, and its verdict."""
    from routerlab.report.paper import claim_verdict

    summary = json.loads((control_run / "summary.json").read_text())
    size = summary["controls"]["size"]
    return {"verdict_word": "underpowered" if not size["resolved"] else claim_verdict(summary)[0],
            "verdict": summary.get("verdict"), "families_resolved": size["families_resolved"],
            "families": len(size["per_family"]), "needed": size.get("needed"), "resolved": size["resolved"],
            "run": f"{control_run.parent.name}/{control_run.name}"}


def write_shipped(fleet_dir: Path, routing_run: Path, control_run: Path, out: Path, name: str = "quick") -> Path:
    """Write a shipped log into ``out`` from a built fleet, the fleet_routing run that routed it
    (for the latency it measured and its chance rows) and the specialists_vs_generalists run
    of the same fleet (for its size control). Returns the manifest's path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from routerlab.fleet.fleet import load_fleet

    fleet = load_fleet(fleet_dir)
    records = [json.loads(line) for line in (routing_run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seeds = {r["seed"]: r for r in records if "routers" in r}
    check(sorted(seeds) == fleet.seeds, "routing_run", f"{routing_run} routed seeds {sorted(seeds)}, the fleet has "
                                                       f"{fleet.seeds}")
    check(all(r["fleet"] == f"_fleets/{fleet.path.name}" for r in seeds.values()), "routing_run",
          f"{routing_run} did not route the fleet {fleet.path.name}")
    from routerlab.config import from_dict
    from routerlab.fleet.fleet import FleetConfig, fleet_key

    control_fleet = json.loads((control_run / "config.json").read_text())["config"]["fleet"]
    check(fleet_key(from_dict(FleetConfig, control_fleet)) == fleet.path.name, "control_run",
          f"{control_run} trained another fleet than {fleet.path.name}")
    env = json.loads((routing_run / "env.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for seed in fleet.seeds:
        tables = {u: fleet.log(seed, u).data.table for u in UNITS}
        base = tables["usd"].drop_columns(["cost", "latency_s"])
        check(tables["flops"].column("query_id").equals(tables["usd"].column("query_id")), "fleet", "logs out of order")
        for u in UNITS:
            base = base.append_column(f"cost_{u}", tables[u].column("cost"))
        file = f"log_seed{seed}.parquet"
        pq.write_table(pa.table(base), out / file, compression="zstd", compression_level=19)
        files[file] = {"sha256": sha256_file(out / file), "bytes": (out / file).stat().st_size}
    mtime = (fleet.path / "fleet.json").stat().st_mtime
    manifest = {
        "name": name,
        "made": {"command": REGENERATE,
                 "invocation": (f"python -m routerlab.fleet.shipped --fleet {fleet_dir} --routing-run {routing_run} "
                                f"--control-run {control_run} --out {out} --name {name}"),
                 "git": f"{env.get('git_sha')}{'-dirty' if env.get('git_dirty') else ''}",
                 "date": datetime.datetime.fromtimestamp(mtime, datetime.UTC).strftime("%Y-%m-%d"),
                 "fleet_hash": fleet.path.name, "versions": env.get("versions")},
        "source_runs": {"fleet_routing": f"{routing_run.parent.name}/{routing_run.name}",
                        "specialists_vs_generalists": f"{control_run.parent.name}/{control_run.name}"},
        "size_control": _control(control_run),
        "seeds": fleet.seeds, "models": fleet.models, "fleet_config": fleet.meta["config"],
        "timings_s": fleet.meta.get("timings_s"),
        "latency": seeds[fleet.seeds[0]]["latency"],
        "chance": {str(s): r["chance"] for s, r in seeds.items()},
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return out / "manifest.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m routerlab.fleet.shipped", description="Write a shipped fleet log.")
    p.add_argument("--fleet", type=Path, required=True, help="a built fleet, runs/_fleets/<hash>")
    p.add_argument("--routing-run", type=Path, required=True, help="the fleet_routing run that routed it")
    p.add_argument("--control-run", type=Path, required=True, help="the specialists_vs_generalists run of it")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="quick", choices=SHIPPED_LOGS)
    args = p.parse_args(argv)
    print(write_shipped(args.fleet, args.routing_run, args.control_run, args.out, args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
