"""The router registry: built-in specs say what their layers do, and a router defined here
plugs into the layer, the configs, the causal guard, the accounting, RL-R, expert parallelism
and training on planted experts by name alone."""

import json
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.metrics import adjusted_mutual_info_score

from routerlab.config import ConfigError, from_dict, override
from routerlab.models import LMConfig, flops_per_token, moe_active_experts, param_count
from routerlab.moe import (
    ROUTERS,
    CausalLeakError,
    ExpertChoiceRouting,
    MoEConfig,
    MoELayer,
    Routing,
    RouterInputs,
    RouterSpec,
    SoftRouting,
    moe_flops_per_token,
    register_router,
    router_names,
    router_scores,
    unregister_router,
)
from routerlab.moe.reinforce import check_config as rlr_check
from routerlab.runtime import FAST_COMPILE
from routerlab.studies.planted import PlantedTask, main_expert, make_teacher, sample_task

D, F, E = 8, 16, 4
BASE = dict(num_experts=E, d_model=D, d_ff=F)


# -- two user routers, written as a user would --------------------------------------------


def switch_again(inputs: RouterInputs) -> Routing:
    """Switch top-1 from scratch: the softmax's argmax, gated by its probability."""
    scores, probs = router_scores(inputs.logits, "softmax")
    index = jnp.argmax(jax.lax.stop_gradient(scores), axis=-1).astype(jnp.int32)[:, None]
    return Routing(index, jnp.take_along_axis(scores, index, axis=-1), inputs.logits, probs)


def balanced_top1(inputs: RouterInputs) -> Routing:
    """Top-1 after subtracting each expert's mean score over the call's tokens, so experts
    every token likes are handicapped (one step of Sinkhorn-like balancing). Gate: the score."""
    scores, probs = router_scores(inputs.logits, "softmax")
    centred = jax.lax.stop_gradient(scores - jnp.mean(scores, axis=0, keepdims=True))
    index = jnp.argmax(centred, axis=-1).astype(jnp.int32)[:, None]
    return Routing(index, jnp.take_along_axis(scores, index, axis=-1), inputs.logits, probs)


ONE_EXPERT = dict(active_experts=lambda cfg: 1, expert_flops=lambda cfg, seq_len: 4.0 * cfg.d_model * cfg.d_ff)
SWITCH_AGAIN = RouterSpec(switch_again, **ONE_EXPERT)
BALANCED = RouterSpec(balanced_top1, mixes_tokens="each expert's mean score over all tokens shifts every choice",
                      **ONE_EXPERT)


@pytest.fixture
def user_routers():
    register_router("switch_again", SWITCH_AGAIN)
    register_router("balanced_top1", BALANCED)
    yield
    unregister_router("switch_again")
    unregister_router("balanced_top1")


# -- built-ins -------------------------------------------------------------------------------

BUILT_IN = {  # kind, mixes tokens, learned router, bias, default score, expert-parallel
    "top_k": ("token_choice", False, True, False, "softmax", True),
    "expert_choice": ("expert_choice", True, True, False, "softmax", False),
    "soft": ("soft", True, True, False, "softmax", False),
    "hash": ("token_choice", False, False, False, "softmax", True),
    "sinkhorn": ("token_choice", True, True, False, "softmax", True),
    "deepseek": ("token_choice", False, True, True, "sigmoid", True),
}
KW = {"top_k": dict(top_k=2), "expert_choice": dict(top_k=1, capacity_factor=1.0), "soft": dict(slots_per_expert=2),
      "hash": dict(top_k=1), "sinkhorn": dict(top_k=2), "deepseek": dict(top_k=2)}
ROUTING_TYPE = {"token_choice": Routing, "expert_choice": ExpertChoiceRouting, "soft": SoftRouting}


def test_built_in_names_come_first_in_registration_order():
    assert router_names()[:6] == tuple(BUILT_IN)


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_built_in_specs_say_what_their_layers_do(name):
    kind, mixes, learned, bias, score, ep = BUILT_IN[name]
    spec = ROUTERS[name]
    assert (spec.kind, spec.mixes_tokens is not None, spec.learned, spec.bias, spec.score, spec.expert_parallel) \
        == (kind, mixes, learned, bias, score, ep)
    layer = MoELayer(MoEConfig(**BASE, router=name, **KW[name]), rngs=nnx.Rngs(0))
    assert (layer.router is not None, layer.router_bias is not None) == (learned, bias)
    tokens = jax.random.normal(jax.random.key(1), (8, D))
    routing = layer.route(tokens)
    assert isinstance(routing, ROUTING_TYPE[kind])
    if kind == "token_choice" and not mixes:
        # A non-mixing router's choice for the first 7 tokens ignores the 8th token.
        later = layer.route(tokens.at[-1].mul(-3.0))
        np.testing.assert_array_equal(later.expert_index[:-1], routing.expert_index[:-1])


# -- registration ------------------------------------------------------------------------------


def test_registration_rules(user_routers):
    with pytest.raises(ValueError, match="built in"):
        register_router("top_k", SWITCH_AGAIN)
    with pytest.raises(ValueError, match="already registered"):
        register_router("switch_again", SWITCH_AGAIN)
    assert register_router("switch_again", SWITCH_AGAIN, replace=True) is SWITCH_AGAIN
    with pytest.raises(ValueError, match="identifier"):
        register_router("my router", SWITCH_AGAIN)
    with pytest.raises(TypeError, match="RouterSpec"):
        register_router("bare_function", switch_again)
    with pytest.raises(ValueError, match="kind"):
        RouterSpec(switch_again, kind="sometimes")
    with pytest.raises(ValueError, match="token_choice"):
        RouterSpec(switch_again, kind="soft", expert_parallel=True)
    with pytest.raises(TypeError):
        ROUTERS["mine"] = SWITCH_AGAIN  # read-only view
    with pytest.raises(ValueError, match="built in"):
        unregister_router("soft")


def test_configs_accept_registered_names_and_list_them(user_routers):
    cfg = from_dict(MoEConfig, {**BASE, "router": "switch_again", "top_k": 1})
    assert cfg.spec is SWITCH_AGAIN and cfg.score_fn == "softmax" and cfg.num_router_outputs == E
    assert override(MoEConfig(**BASE), ["router=balanced_top1"]).router == "balanced_top1"
    with pytest.raises(ConfigError, match="'deepseek', 'switch_again', 'balanced_top1'") as err:
        MoEConfig(**BASE, router="switch_agian")
    assert err.value.field == "router"
    unregister_router("balanced_top1")
    with pytest.raises(ConfigError, match="got 'balanced_top1'"):
        MoEConfig(**BASE, router="balanced_top1")
    register_router("balanced_top1", BALANCED)


# -- a user router through the library ---------------------------------------------------------


def test_a_user_router_rewriting_switch_equals_the_built_in(user_routers):
    """Same parameters (same init order), same routing rule: same outputs, aux and gradients."""
    kw = dict(**BASE, top_k=1, renormalize=False, capacity_factor=0.75)
    ours, theirs = (MoELayer(MoEConfig(**kw, router=r), rngs=nnx.Rngs(3)) for r in ("switch_again", "top_k"))
    x = jax.random.normal(jax.random.key(4), (2, 6, D))

    def value_and_grad(layer):
        graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

        def f(params):
            y, aux = nnx.merge(graphdef, params, rest)(x)
            return jnp.sum(jnp.sin(y)) + aux.loss, aux

        return jax.jit(jax.value_and_grad(f, has_aux=True))(params)

    results = [value_and_grad(m) for m in (ours, theirs)]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), *results)
    assert float(results[0][0][1].dropped_frac) > 0  # the capacity path really dropped


def test_accounting_and_rlr_read_the_user_spec(user_routers):
    moe = MoEConfig(**BASE, router="switch_again", top_k=1, renormalize=False)
    # router 2*8*4 = 64; one expert 4*8*16 = 512 -> 576, as for Switch.
    assert moe_flops_per_token(moe) == 576 == moe_flops_per_token(replace(moe, router="top_k"))
    lm = LMConfig(d_model=D, n_heads=2, d_ff=F, ffn="moe", moe=moe)
    switch_lm = replace(lm, moe=replace(moe, router="top_k"))
    assert flops_per_token(lm) == flops_per_token(switch_lm) and param_count(lm) == param_count(switch_lm)
    # A spec that claims 2 experts per token at half an expert's FLOPs each is charged so.
    register_router("half_pair", RouterSpec(switch_again, active_experts=lambda cfg: 2,
                                            expert_flops=lambda cfg, seq_len: 4.0 * cfg.d_model * cfg.d_ff))
    try:
        pair = replace(moe, router="half_pair")
        assert moe_active_experts(pair) == 2
        assert param_count(replace(lm, moe=pair))["active"] == param_count(lm)["active"] + 2 * 2 * D * F  # 2 layers
    finally:
        unregister_router("half_pair")
    rlr_check(moe)  # learned, unbiased, non-mixing, one logit per expert: a valid RL-R policy
    with pytest.raises(ValueError, match="RL-R needs"):
        rlr_check(replace(moe, router="balanced_top1"))


def test_the_causal_guard_reads_mixes_tokens(user_routers):
    moe = MoEConfig(**BASE, router="balanced_top1", top_k=1, renormalize=False)
    x = jax.random.normal(jax.random.key(0), (2, 6, D))
    with pytest.raises(CausalLeakError, match="mean score over all tokens"):
        MoELayer(moe, rngs=nnx.Rngs(0))(x, causal=True)
    with pytest.raises(ConfigError, match="mean score over all tokens") as err:
        LMConfig(d_model=D, n_heads=2, d_ff=F, ffn="moe", moe=moe)
    assert err.value.field == "moe.router"
    LMConfig(d_model=D, n_heads=2, d_ff=F, ffn="moe", moe=replace(moe, router="switch_again"))  # causal: fine
    assert LMConfig(d_model=D, n_heads=2, d_ff=F, ffn="moe", moe=moe, causal=False).moe is moe  # an encoder: fine


def test_expert_parallelism_shards_a_user_router(user_routers):
    from jax.sharding import AxisType

    from routerlab.parallel.expert import ep_moe, expert_parallel_routers

    assert {"switch_again", "balanced_top1"} <= set(expert_parallel_routers())
    assert not {"soft", "expert_choice"} & set(expert_parallel_routers())
    layer = MoELayer(MoEConfig(**BASE, router="balanced_top1", top_k=1, renormalize=False), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 8, D))
    mesh = jax.make_mesh((2, 4), ("data", "expert"), axis_types=(AxisType.Auto,) * 2)
    (y, aux), (y_ep, aux_ep) = jax.jit(lambda x: (layer(x), ep_moe(layer, x, mesh=mesh)))(x)
    np.testing.assert_allclose(y_ep, y, atol=1e-5)
    np.testing.assert_allclose(aux_ep.load, aux.load, atol=1e-6)
    soft = MoELayer(MoEConfig(**BASE, router="soft"), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="token-choice routers"):
        ep_moe(soft, x, mesh=mesh)


# -- training on planted experts ------------------------------------------------------------------


class PlantedMoE(nnx.Module):
    """``x -> W_in x -> h + MoE(LayerNorm(h)) -> W_out`` (the planted-experts study's net)."""

    def __init__(self, moe: MoEConfig, task: PlantedTask, *, rngs: nnx.Rngs):
        self.embed = nnx.Linear(task.input_dim, moe.d_model, rngs=rngs)
        self.norm = nnx.LayerNorm(moe.d_model, rngs=rngs)
        self.ffn = MoELayer(moe, rngs=rngs)
        self.head = nnx.Linear(moe.d_model, task.output_dim, rngs=rngs)

    def __call__(self, x):
        h = self.embed(x)
        y, aux = self.ffn(self.norm(h))
        return self.head(h + y), aux


@pytest.mark.slow  # the default suite trains a registered router through the planted study instead (below)
def test_a_user_router_trains_on_planted_experts_and_routes_by_its_rule(user_routers):
    task = PlantedTask(num_clusters=4, input_dim=4, output_dim=2)
    teacher = make_teacher(task)
    moe = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, router="balanced_top1", renormalize=False)
    model = PlantedMoE(moe, task, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    def train(state):
        def step(state, i):
            model, optimizer = nnx.merge(graphdef, state)
            x, y, _ = sample_task(task, teacher, jax.random.fold_in(jax.random.key(1), i), 128)

            def loss(model):
                pred, aux = model(x)
                return jnp.mean((pred - y) ** 2) + aux.loss

            optimizer.update(model, nnx.grad(loss)(model))
            return nnx.state((model, optimizer)), None

        return jax.lax.scan(step, state, jnp.arange(200))[0]

    model, _ = nnx.merge(graphdef, jax.jit(train, compiler_options=FAST_COMPILE)(state))
    x, y, cluster = sample_task(task, teacher, jax.random.key(2), 512)

    @jax.jit
    def evaluate(x):
        h = model.norm(model.embed(x))
        return h, model.ffn.route(h), model(x)[0]

    h, routing, pred = evaluate(x)
    # Its rule, recomputed in numpy (float64): argmax over experts of softmax minus its column mean.
    logits = np.asarray(h, np.float64) @ np.asarray(model.ffn.router[...], np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    centred = probs - probs.mean(0, keepdims=True)
    ties = np.sort(centred, 1)[:, -1] - np.sort(centred, 1)[:, -2] < 1e-5
    np.testing.assert_array_equal(np.asarray(routing.expert_index[:, 0])[~ties], centred.argmax(1)[~ties])
    np.testing.assert_allclose(routing.gates[:, 0], probs[np.arange(512), centred.argmax(1)], rtol=1e-4)
    # Trained, it learns the task and its routing follows the planted clusters.
    nmse = float(jnp.mean((pred - y) ** 2) / jnp.mean(jnp.var(y, axis=0)))
    ami = adjusted_mutual_info_score(np.asarray(cluster), np.asarray(main_expert(routing, 4)))
    assert nmse < 0.5, nmse
    assert ami > 0.5, ami


# -- a registered router is trained by a study, by name ----------------------------------------


@pytest.mark.slow  # default-suite budget (2026-12-01): covered at smoke by a notebook or a faster test
def test_a_registered_router_runs_in_the_planted_study_by_name(tmp_path, capsys, user_routers):
    """`routerlab run planted_experts --set variants=[..., "switch_again"]` trains the user's
    router (top-1 over K experts, dropless) like any built-in and reports its routing AMI."""
    from routerlab.cli import main

    out = tmp_path / "runs"
    argv = ["run", "planted_experts", "--out", str(out), "--set", 'variants=["switch_again"]',
            "--set", "steps=20", "--set", "num_seeds=2"]
    assert main(argv) == 0, capsys.readouterr().err
    (run_dir,) = (out / "planted_experts").iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    finals = [r for r in rows if r.get("variant") == "switch_again" and r.get("ami") is not None]
    assert len(finals) == 2 and all(0.0 <= r["ami"] <= 1.0 for r in finals)


def test_an_unknown_planted_variant_names_the_registered_routers(capsys, user_routers):
    from routerlab.cli import main

    assert main(["run", "planted_experts", "--set", 'variants=["nope"]']) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "variants" in err and "switch_again" in err
