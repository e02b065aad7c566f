"""The unit cache keys a unit by the code that trains it (the runner's static import closure), not
by the whole library: a change there gives a new key, a change elsewhere (the fleet) keeps it; the
numerics environment is keyed too, and units routed by user routers are never cached."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from routerlab.studies.lm import runner
from routerlab.studies.lm.runner import cacheable, code_version_at, training_modules, unit_key

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
                assert called not in ("import_module", "__import__", "spec_from_file_location", "run_module", "run_path",
                                      "exec"), f"{name} loads code by computed name ({called})"


def _copy(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "routerlab", root / "routerlab", ignore=shutil.ignore_patterns("__pycache__", "data"))
    return root


def test_a_change_to_training_code_changes_the_key_and_a_fleet_change_does_not(tmp_path):
    root = _copy(tmp_path)
    base = code_version_at(root)
    assert code_version_at(root) == base and base == code_version_at(ROOT)  # the bytes, not where they are
    fleet = root / "routerlab" / "fleet" / "fleet_config.py"
    fleet.write_text(fleet.read_text() + "\n# a docstring's worth of change\n")
    assert code_version_at(root) == base  # outside the closure
    layer = root / "routerlab" / "moe" / "layer.py"
    layer.write_text(layer.read_text() + "\n# changed\n")
    assert code_version_at(root) != base  # inside it


def test_the_key_holds_the_numerics_environment(monkeypatch):
    from routerlab.studies.lm.config import LMStudyConfig

    cfg = LMStudyConfig().run_config()
    base = unit_key(cfg, [0, 1], None)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert unit_key(cfg, [0, 1], None) != base


def test_the_key_holds_the_cpu_count(monkeypatch):
    """XLA:CPU splits work by its thread pool's size, so a unit trained with 2 CPUs and one
    pinned to 1 end at different losses (routerlab.runtime.cpu_threads): never serve one for the other."""
    import routerlab.studies.lm.runner as runner
    from routerlab.studies.lm.config import LMStudyConfig

    cfg = LMStudyConfig().run_config()
    monkeypatch.setattr(runner, "cpu_threads", lambda: 2)
    two = unit_key(cfg, [0, 1], None)
    monkeypatch.setattr(runner, "cpu_threads", lambda: 1)
    assert unit_key(cfg, [0, 1], None) != two


def test_the_key_holds_the_cpus_instruction_sets(monkeypatch):
    """XLA:CPU compiles for the host's instruction sets (routerlab.runtime.cpu_isa): a unit made
    on a CPU with AVX-512 is never served on one without, at the same CPU count."""
    import routerlab.studies.lm.runner as runner
    from routerlab.studies.lm.config import LMStudyConfig

    cfg = LMStudyConfig().run_config()
    monkeypatch.setattr(runner, "cpu_isa", lambda: {"model": "X", "flags": ["avx", "avx2", "avx512f", "fma"]})
    wide = unit_key(cfg, [0, 1], None)
    monkeypatch.setattr(runner, "cpu_isa", lambda: {"model": "X", "flags": ["avx", "avx2", "fma"]})
    assert unit_key(cfg, [0, 1], None) != wide
    monkeypatch.setattr(runner, "cpu_isa", lambda: {"model": "X", "flags": ["avx", "avx2", "avx512f", "fma"]})
    assert unit_key(cfg, [0, 1], None) == wide


def test_a_unit_routed_by_a_user_router_is_never_cached():
    from routerlab.moe.registry import ROUTERS, register_router, unregister_router
    from routerlab.studies.lm.config import LMStudyConfig

    study = LMStudyConfig()
    assert cacheable(study.run_config()) and cacheable(study.run_config(study.moe()))
    register_router("my_test_router", ROUTERS["top_k"])
    try:
        assert not cacheable(study.run_config(study.moe(router="my_test_router")))
    finally:
        unregister_router("my_test_router")
