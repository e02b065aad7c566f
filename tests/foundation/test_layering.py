"""Layering: lower packages never import higher ones at import time (checked in a fresh interpreter)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_after(*modules: str) -> set[str]:
    """The routerlab modules in ``sys.modules`` after importing ``modules`` in a new interpreter."""
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('routerlab'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def under(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


@pytest.fixture(scope="module")
def report_and_train():
    train = [f"routerlab.train.{p.stem}" for p in (REPO / "routerlab" / "train").glob("*.py") if p.stem != "__init__"]
    return imported_after("routerlab.report", "routerlab.report.paper", *train)


def test_report_does_not_import_the_registry_or_the_studies(report_and_train):
    assert "routerlab.report.paper" in report_and_train  # the import really happened
    assert not under(report_and_train, "routerlab.registry")
    assert not under(report_and_train, "routerlab.studies")
    assert not under(report_and_train, "routerlab.paper_cli")


def test_train_does_not_import_parallel_training(report_and_train):
    assert {"routerlab.train.loop", "routerlab.train.state", "routerlab.train.step"} <= report_and_train
    # Only the mesh *config* (a leaf: jax and routerlab.config) sits below train; the sharded
    # training, expert parallelism and sweeps build on routerlab.train, never the reverse.
    assert under(report_and_train, "routerlab.parallel") <= {"routerlab.parallel", "routerlab.parallel.mesh"}
    mesh = (REPO / "routerlab" / "parallel" / "mesh.py").read_text()
    assert "import" in mesh and "routerlab.train" not in mesh and "routerlab.moe" not in mesh


def test_parallel_train_builds_state_without_the_loop():
    # routerlab.train's __init__ re-exports the loop, so importing the package pulls it in; what
    # matters is that parallel.train itself imports the state module, not the loop (no circle)
    source = (REPO / "routerlab" / "parallel" / "train.py").read_text()
    assert "routerlab.train.loop" not in source and "from routerlab.train.state import init_state" in source
