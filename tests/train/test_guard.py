"""The non-finite guard's messages and the metrics truncation used on resume (no compiling)."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.rundir import RunDir
from routerlab.train import NonFiniteError, to_python, truncate_metrics
from routerlab.train.loop import _check_finite
from routerlab.train.step import nonfinite_message


def tree(**leaves):
    """An nnx.State shaped like a model's: {"embed": {...}, "layers": {1: {"ffn": {...}}}}."""
    return nnx.State({
        "embed": {"embedding": nnx.Param(jnp.asarray(leaves.get("embed", 1.0)))},
        "layers": {1: {"ffn": {"w_in": nnx.Param(jnp.asarray(leaves.get("w_in", 1.0)))}}},
    })


def health(grad_embed=1.0, grad_w_in=1.0, finite_w_in=True, bias_finite=True):
    return {
        "grad_norms": tree(embed=grad_embed, w_in=grad_w_in),
        "params_finite": tree(embed=True, w_in=finite_w_in),
        "rest_finite": nnx.State({"layers": {1: {"ffn": {"router_bias": nnx.Variable(jnp.asarray(bias_finite))}}}}),
    }


def metrics(loss=1.0, ce=1.0, aux=0.0, grad_norm=1.0):
    return {"loss": loss, "ce": ce, "aux_loss": aux, "grad_norm": grad_norm}


@pytest.mark.parametrize("m, h, expected", [
    (metrics(loss=np.nan, ce=np.nan), health(), "step 17: loss is nan"),
    (metrics(loss=np.inf, aux=np.inf), health(), "step 17: loss is inf"),
    (metrics(grad_norm=np.inf), health(grad_w_in=np.inf), "step 17: grad norm of layers.1.ffn.w_in is inf"),
    (metrics(grad_norm=np.nan), health(grad_embed=np.nan, grad_w_in=np.nan), "step 17: grad norm of embed.embedding is nan"),
    (metrics(), health(finite_w_in=False), "step 17: parameter layers.1.ffn.w_in is not finite after the update"),
    (metrics(), health(bias_finite=False), "step 17: variable layers.1.ffn.router_bias is not finite after the update"),
])
def test_messages_name_step_and_quantity(m, h, expected):
    assert nonfinite_message(17, m, h) == expected


def test_logged_metrics_are_checked_at_every_depth():
    record = to_python({"loss": np.float32(1.5), "routing": {1: {"max_vio": np.float32(np.nan)}}})
    assert record == {"loss": 1.5, "routing": {"1": {"max_vio": pytest.approx(np.nan, nan_ok=True)}}}
    with pytest.raises(NonFiniteError, match=r"^step 4: routing\.1\.max_vio is nan$") as err:
        _check_finite(4, record)
    assert err.value.step == 4
    with pytest.raises(NonFiniteError, match="routing.1.load has a non-finite entry"):
        _check_finite(4, {"routing": {"1": {"load": [0.5, float("inf")]}}})
    _check_finite(4, {"loss": 1.0, "routing": {"1": {"load": [0.5, 0.5], "dead": 0}}})


def test_truncate_drops_only_this_units_later_records(tmp_path):
    run = RunDir.create(tmp_path, "t", {"seed": 0})
    for unit in ("a", "b"):
        for step in (1, 2, 3):
            run.log({"unit": unit, "step": step, "loss": float(step)})
    run.log({"step": 5, "loss": 0.0})  # no unit
    before = run.metrics_path.read_text().splitlines(keepends=True)
    assert truncate_metrics(run, 1, unit="a") == 2
    after = run.metrics_path.read_text().splitlines(keepends=True)
    assert after == [line for line in before if not ('"unit":"a"' in line and '"step":1' not in line)]
    assert truncate_metrics(run, 4, unit=None) == 1
    assert truncate_metrics(run, 4, unit=None) == 0
    assert [r["step"] for r in run.records()] == [1, 1, 2, 3]


def test_planted_guard_names_unit_step_and_quantity():
    from routerlab.train.guard import check_finite_unit

    curve = np.array([1.0, 0.5, np.inf, np.nan], np.float32)  # step 3 (1-based) is the first bad one
    with pytest.raises(NonFiniteError, match=r"^switch/seed1: step 3: train mse is inf$") as err:
        check_finite_unit("switch/seed1", 4, curve, 0.2, {"entropy": 1.0})
    assert err.value.step == 3
    good = np.array([1.0, 0.5], np.float32)
    with pytest.raises(NonFiniteError, match=r"^dense/seed0: after step 2: test nmse is nan$"):
        check_finite_unit("dense/seed0", 2, good, float("nan"), {})
    with pytest.raises(NonFiniteError, match=r"^top2/seed0: after step 2: max_vio is inf$"):
        check_finite_unit("top2/seed0", 2, good, 0.2, {"max_vio": np.float32(np.inf)})
    check_finite_unit("top2/seed0", 2, good, 0.2, {"max_vio": np.float32(0.1)})


@pytest.mark.slow
def test_planted_experts_with_a_huge_lr_stops_at_the_first_bad_unit(tmp_path, capsys):
    """Through the CLI: exit 1, one line, no record of the bad unit, no DONE (~30 s: compiles)."""
    from routerlab.cli import main

    out = tmp_path / "runs"
    argv = ["run", "planted_experts", "--set", "lr=1e30", "--set", 'variants=["dense"]', "--set", "num_seeds=1",
            "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("routerlab: error: dense/seed0: step ") and "train mse is" in err
    (run_dir,) = (out / "planted_experts").iterdir()
    run = RunDir.open(run_dir)
    assert not run.done and list(run.records()) == []
