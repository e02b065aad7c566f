"""Every registered experiment satisfies the one Study protocol; a file that does not is refused in one line."""

import dataclasses
import textwrap

import pytest

from routerlab.config import ConfigError
from routerlab.registry import list_experiments, load_experiment, load_experiment_file
from routerlab.studies.protocol import OPTIONAL, Study, check_study


@pytest.mark.parametrize("name", list_experiments())
def test_every_registered_experiment_is_a_study(name):
    exp = load_experiment(name)
    assert isinstance(exp.module, Study)
    check_study(exp.module, exp.path)  # what the registry ran while loading, stated here
    assert exp.doc, f"{name}: the module docstring is the lab-notebook entry"
    kind = exp.config_type
    assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen
    for scale in exp.scales:
        assert type(exp.get_config(scale)) is kind  # one config type at every scale
    hooks = [h for h in OPTIONAL if hasattr(exp.module, h)]
    assert set(hooks) <= set(OPTIONAL)


BODY = '''
"""A user's study."""
from dataclasses import dataclass

SCALES = ("smoke",)


@dataclass(frozen=True)
class Cfg:
    seed: int = 0


def get_config(scale):
    return Cfg()


def run(cfg, run):
    return {}


def report(run):
    return ""
'''


def _file(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_complete_user_file_loads(tmp_path):
    exp = load_experiment_file(_file(tmp_path, "mine", BODY))
    assert exp.config_type.__name__ == "Cfg" and isinstance(exp.module, Study)


@pytest.mark.parametrize(("edit", "message"), [
    (("def run(cfg, run):\n    return {}", ""), r"does not define run\(cfg, run\) \(the Study protocol"),
    (("def report(run):", "def report():"), r"report must be callable as report\(run\)"),
    (('SCALES = ("smoke",)', 'SCALES = ("huge",)'), r"SCALES must be a non-empty tuple of smoke, quick, paper"),
    (('SCALES = ("smoke",)', ""), r"does not define SCALES"),
    (("def report(run):", "def paper(run):\n    return []\n\n\ndef report(run):"),
     r"the optional hook paper must be callable as paper\(run, out, provenance\)"),
])
def test_a_file_that_breaks_the_protocol_is_named_in_one_line(tmp_path, edit, message):
    old, new = edit
    assert old in BODY
    with pytest.raises(ConfigError, match=message) as err:
        load_experiment_file(_file(tmp_path, "broken", BODY.replace(old, new)))
    assert "\n" not in str(err.value)
