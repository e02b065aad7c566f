"""The unit cache keys a unit by the code that trains it (the runner's static import closure), not
by the whole library: a change there gives a new key, a change elsewhere (the fleet) keeps it."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from routerlab.studies.lm import runner
from routerlab.studies.lm.runner import code_version_at, training_modules

ROOT = Path(runner.__file__).resolve().parents[3]


def test_the_closure_holds_what_importing_the_runner_loads_and_no_fleet_code():
    out = subprocess.run([sys.executable, "-c", "import sys, routerlab.studies.lm.runner; "
                          "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'routerlab'))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(out.stdout.split())
    closure = set(training_modules())
    assert "routerlab.studies.lm.runner" in loaded and loaded <= closure, sorted(loaded - closure)
    # what training imports inside functions is in the closure too (static), e.g. RL-R's module
    assert "routerlab.moe.reinforce" in closure
    assert not any(m.startswith(("routerlab.fleet", "routerlab.bandits", "routerlab.cli")) for m in closure)


def test_no_module_of_the_closure_imports_by_computed_name():
    # A computed-name import would escape the static closure (and so the cache key).
    for name, path in training_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                assert called not in ("import_module", "__import__"), f"{name} imports by computed name"


def _repo(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "routerlab", repo / "routerlab", ignore=shutil.ignore_patterns("__pycache__", "data"))
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def test_a_change_to_training_code_changes_the_key_and_a_fleet_change_does_not(tmp_path):
    repo = _repo(tmp_path)
    base = code_version_at(repo)
    assert base != "nogit" and code_version_at(repo) == base
    fleet = repo / "routerlab" / "fleet" / "fleet_config.py"
    fleet.write_text(fleet.read_text() + "\n# a docstring's worth of change\n")
    assert code_version_at(repo) == base  # uncommitted, outside the closure
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fleet"], cwd=repo, check=True)
    assert code_version_at(repo) == base  # committed, outside the closure
    layer = repo / "routerlab" / "moe" / "layer.py"
    layer.write_text(layer.read_text() + "\n# changed\n")
    dirty = code_version_at(repo)
    assert dirty != base  # uncommitted change inside the closure
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "moe"], cwd=repo, check=True)
    assert code_version_at(repo) not in (base, dirty)  # committed: the blob, no diff


def test_outside_git_the_key_says_so(tmp_path):
    shutil.copytree(ROOT / "routerlab", tmp_path / "routerlab", ignore=shutil.ignore_patterns("__pycache__", "data"))
    assert code_version_at(tmp_path) == "nogit"
