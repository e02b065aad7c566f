"""`routerlab config`: every field with its type, value and the doc its class gives it."""

import dataclasses
import json

import pytest

from routerlab.cli import main
from routerlab.config import describe
from routerlab.registry import list_experiments, load_experiment


@dataclasses.dataclass(frozen=True)
class Inner:
    """A nested block.

    Attributes:
      width: how wide,
        continued on a second line.
    """

    width: int = 4


@dataclasses.dataclass(frozen=True)
class Outer:
    """Top.

    Attributes:
      a, b: two fields that share one doc.
      inner: the nested block.

    Notes after a blank line are not field docs.
    """

    a: int = 1
    b: float = 0.5
    inner: Inner = dataclasses.field(default_factory=Inner)
    off: Inner | None = None
    names: tuple[str, ...] = ("x",)


def test_describe_flattens_nested_fields_and_reads_attribute_docs():
    rows = {r["field"]: r for r in describe(Outer())}
    assert list(rows) == ["a", "b", "inner.width", "off", "names"]
    assert rows["a"]["doc"] == rows["b"]["doc"] == "two fields that share one doc."
    assert rows["inner.width"] == {"field": "inner.width", "type": "int", "value": 4,
                                   "doc": "how wide, continued on a second line."}
    assert rows["off"]["value"] is None and rows["off"]["type"] == "a Inner mapping or null"
    assert rows["names"] == {"field": "names", "type": "a list of str", "value": ["x"], "doc": ""}


def test_config_command_prints_each_field_at_the_scale(capsys):
    assert main(["config", "moe_vs_dense", "--scale", "quick", "--json", "--set", "steps=7"]) == 0
    rows = {r["field"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    cfg = load_experiment("moe_vs_dense").config("quick", ["steps=7"])
    assert rows["steps"]["value"] == 7
    assert rows["lr_grid"]["value"] == list(cfg.lr_grid) and "validation" in rows["lr_grid"]["doc"]
    assert rows["dense_widths"]["doc"].startswith("FFN width multiples")  # the subclass's inline doc
    assert set(rows) == {f.name for f in dataclasses.fields(cfg)}


def test_config_command_refuses_a_bad_override_in_one_line(capsys):
    assert main(["config", "moe_vs_dense", "--set", "stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "stepz" in err


@pytest.mark.parametrize("name", list_experiments())
def test_every_experiment_describes_itself(name):
    rows = describe(load_experiment(name).config("smoke"))
    assert rows and all(r["type"] for r in rows)
