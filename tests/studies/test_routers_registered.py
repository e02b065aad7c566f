"""A router registered by the user (routerlab.moe.register_router) is an arm of the LM routers
study by name (``--set extra_routers=[...]``), validated before any run directory exists."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.cli import main
from routerlab.moe import RouterInputs, RouterSpec, Routing, register_router, router_scores, unregister_router


def sigmoid_top1(inputs: RouterInputs) -> Routing:
    """Top-1 of sigmoid scores, gated by the score (a user's router, written as in notebook 08)."""
    scores, probs = router_scores(inputs.logits, "sigmoid")
    index = jnp.argmax(jax.lax.stop_gradient(scores), axis=-1).astype(jnp.int32)[:, None]
    return Routing(index, jnp.take_along_axis(scores, index, axis=-1), inputs.logits, probs)


def mean_centred_top1(inputs: RouterInputs) -> Routing:
    """Top-1 after subtracting each expert's mean score over all tokens: later tokens change earlier choices."""
    scores, probs = router_scores(inputs.logits, "softmax")
    index = jnp.argmax(jax.lax.stop_gradient(scores - scores.mean(axis=0)), axis=-1).astype(jnp.int32)[:, None]
    return Routing(index, jnp.take_along_axis(scores, index, axis=-1), inputs.logits, probs)


ONE = dict(active_experts=lambda cfg: 1, expert_flops=lambda cfg, seq_len: 4.0 * cfg.d_model * cfg.d_ff)


@pytest.fixture
def registered():
    register_router("test_sigmoid_top1", RouterSpec(sigmoid_top1, **ONE))
    register_router("test_mean_centred", RouterSpec(mean_centred_top1, mixes_tokens="the mean over all tokens", **ONE))
    yield
    unregister_router("test_sigmoid_top1")
    unregister_router("test_mean_centred")


def test_a_registered_router_is_an_arm_like_switch(registered):
    from routerlab.registry import load_experiment
    from routerlab.studies.lm.routers import STUDY, SWITCH

    cfg = load_experiment("routers").config("smoke", ['extra_routers=["test_sigmoid_top1"]'])
    arms = {name: rest for name, *rest in STUDY.all_variants(cfg)}
    (run_cfg,) = arms["router:test_sigmoid_top1"]
    switch = arms[SWITCH][0].model.moe
    assert run_cfg.model.moe.router == "test_sigmoid_top1"
    # Everything but the router is Switch's: same experts, widths, top-1 and auxiliary losses.
    assert run_cfg.model.moe.__class__(**{**vars(switch), "router": "test_sigmoid_top1"}) == run_cfg.model.moe
    assert "router:test_sigmoid_top1" in STUDY.order(cfg)


@pytest.mark.parametrize("value, fragment", [
    ('["nope"]', "extra_routers: 'nope' is not a registered router"),
    ('["test_sigmoid_top1","test_sigmoid_top1"]', "extra_routers: must not repeat a router"),
    ('["test_mean_centred"]', "moe.router: "),  # the causal decoder refuses a token-mixing router
])
def test_a_bad_extra_router_is_one_line_before_any_run_directory(registered, tmp_path, capsys, monkeypatch, value,
                                                                  fragment):
    from routerlab.rundir import RunDir

    monkeypatch.setattr(RunDir, "create", lambda *a, **k: pytest.fail("a run directory was created"))
    assert main(["run", "routers", "--scale", "smoke", "--set", f"extra_routers={value}",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("routerlab: error: ") and fragment in err, err


@pytest.mark.slow  # trains one arm at smoke scale (~20 s of compiling)
def test_the_registered_arm_trains_through_the_study_runner(registered, tmp_path):
    from dataclasses import replace

    from routerlab.registry import load_experiment
    from routerlab.rundir import RunDir
    from routerlab.studies.lm.routers import STUDY
    from routerlab.studies.lm.runner import run_variants

    cfg = replace(load_experiment("routers").config("smoke", ['extra_routers=["test_sigmoid_top1"]']), num_seeds=1)
    arm = [v for v in STUDY.all_variants(cfg) if v[0] == "router:test_sigmoid_top1"]
    run = RunDir.create(tmp_path, "routers", cfg)
    run_variants(cfg, run, arm, "routers")
    (record,) = run.records()
    assert record["unit"] == "router:test_sigmoid_top1/lr0.003/seed0"
    assert np.isfinite(record["test_loss"]) and record["routing"]["dead"] >= 0
    assert record["flops_per_token"]["active"] > 0
