"""Dispatch backends against slow, obviously-right loop references, on values and gradients.

The capacity reference walks the priority queue token by token in plain Python, counting the
slots each expert has handed out. The output references loop over experts and choice slots
and run every expert on every token, keeping the rows routed to it: no sorting, scattering or
buffers, so they share no logic with the backends. Their gradients come from ``jax.grad`` of
the same loops written with ``jnp``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.moe.dispatch import (
    DispatchOutput,
    capacity_dispatch,
    dropless_dispatch,
    expert_capacity,
    expert_choice_dispatch,
    expert_ffn,
)

# ----------------------------------------------------------------------------- references


def ref_served(expert_index, gates, num_experts, capacity, priority):
    """[T, k] bool: which assignments get a slot, by walking the priority queue by hand."""
    num_tokens, top_k = expert_index.shape
    tokens = list(range(num_tokens))
    if priority == "score":  # Python's sort is stable: ties keep token order.
        tokens = sorted(tokens, key=lambda t: -max(gates[t]))
    used = [0] * num_experts
    served = np.zeros((num_tokens, top_k), bool)
    for j in range(top_k):  # every first choice before any second choice
        for t in tokens:
            e = expert_index[t, j]
            if used[e] < capacity:
                used[e] += 1
                served[t, j] = True
    return served


def ref_moe(x, expert_index, gates, w_in, w_out, served, act=jax.nn.gelu):
    """y[t] = sum over served (t, j) of gates[t, j] * FFN_e(x[t]), with e = expert_index[t, j].

    Loops over experts and choices; every expert runs on every token and keeps the rows whose
    j-th choice it is.
    """
    y = jnp.zeros(x.shape, jnp.float32)
    for e in range(w_in.shape[0]):
        out_e = act(x @ w_in[e]) @ w_out[e]
        for j in range(expert_index.shape[1]):
            weight = jnp.where((expert_index[:, j] == e) & served[:, j], gates[:, j], 0.0)
            y = y + weight[:, None] * out_e
    return y


def ref_expert_choice(x, token_index, gates, w_in, w_out, act=jax.nn.gelu):
    """y[t] = sum over (e, c) with token_index[e, c] == t of gates[e, c] * FFN_e(x[t])."""
    y = jnp.zeros(x.shape, jnp.float32)
    for e in range(token_index.shape[0]):
        out_e = act(x @ w_in[e]) @ w_out[e]
        for c in range(token_index.shape[1]):
            picked = jnp.arange(x.shape[0]) == token_index[e, c]  # all False for t = T
            y = y + jnp.where(picked, gates[e, c], 0.0)[:, None] * out_e
    return y


# ----------------------------------------------------------------------------- problems


def make_problem(seed, num_tokens, num_experts, top_k, d=8, f=16, load=None, tied=False):
    """Random numpy tokens, weights and a top-k routing drawn from expert probabilities ``load``.

    ``load`` skews the routing (zeros leave experts empty); ``tied`` quantises gates so the
    score priority has to break many ties.
    """
    rng = np.random.default_rng(seed)
    p = np.full(num_experts, 1.0 / num_experts) if load is None else np.asarray(load, float)
    p = p / p.sum()
    expert_index = np.stack(
        [rng.choice(num_experts, size=top_k, replace=False, p=p) for _ in range(num_tokens)]
    ).astype(np.int32)
    gates = rng.uniform(0.1, 1.0, (num_tokens, top_k))
    if tied:
        gates = np.round(gates * 3) / 3 + 0.1
    return dict(
        x=rng.normal(size=(num_tokens, d)).astype(np.float32),
        expert_index=expert_index,
        gates=gates.astype(np.float32),
        w_in=(rng.normal(size=(num_experts, d, f)) / np.sqrt(d)).astype(np.float32),
        w_out=(rng.normal(size=(num_experts, f, d)) / np.sqrt(f)).astype(np.float32),
    )


SKEWED = [0.55, 0.25, 0.2, 0.0, 0.0]  # experts 3 and 4 empty, expert 0 overloaded
PROBLEMS = {
    "uniform_T37_E4": dict(seed=0, num_tokens=37, num_experts=4),
    "skewed_T23_E5": dict(seed=1, num_tokens=23, num_experts=5, load=SKEWED, tied=True),
    "tiny_T3_E6": dict(seed=2, num_tokens=3, num_experts=6),
}
ARGS = ("x", "expert_index", "gates", "w_in", "w_out")
DIFF_ARGS = ("x", "gates", "w_in", "w_out")


def args_of(problem):
    return [problem[a] for a in ARGS]


def value_and_grads(fn, problem, cotangent, *extra):
    """fn's output and the gradients of <y, cotangent> w.r.t. x, gates, w_in, w_out.

    ``fn(x, expert_index, gates, w_in, w_out, *extra)`` returns ``y`` or a DispatchOutput.
    """

    def loss(x, gates, w_in, w_out, expert_index, cotangent, *extra):
        out = fn(x, expert_index, gates, w_in, w_out, *extra)
        y = out.y if isinstance(out, DispatchOutput) else out
        return jnp.vdot(y, cotangent), out

    grad_fn = jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True)
    diff_args = [problem[a] for a in DIFF_ARGS]
    (_, out), grads = grad_fn(*diff_args, problem["expert_index"], cotangent, *extra)
    return out, grads


# The graphs are tiny and compiling them dominates the run time: skip LLVM optimisation
# and the (slower to compile) fusion emitters. Roughly 3x faster compiles on CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)


def assert_match_reference(cases, problem, tol=2e-5):
    """Each case ``name -> (dispatch, served)`` against ref_moe on y, dropped and gradients.

    Returns ``name -> (DispatchOutput, grads)``.

    ``dispatch`` maps ``(x, expert_index, gates, w_in, w_out)`` to a DispatchOutput and
    ``served [T, k]`` says which assignments the reference serves. All cases and the
    reference (vmapped over the served masks) share one compilation.
    """
    cotangent = np.random.default_rng(7).normal(size=problem["x"].shape).astype(np.float32)
    served = np.stack([s for _, s in cases.values()])

    @jit
    def run(problem, cotangent, served):
        outs = [value_and_grads(fn, problem, cotangent) for fn, _ in cases.values()]
        refs = jax.vmap(lambda s: value_and_grads(ref_moe, problem, cotangent, s))(served)
        return outs, refs

    outs, (y_ref, grads_ref) = run(problem, cotangent, served)
    for i, (name, (out, grads)) in enumerate(zip(cases, outs)):
        np.testing.assert_array_equal(out.dropped, ~served[i], err_msg=name)
        np.testing.assert_allclose(out.y, y_ref[i], rtol=tol, atol=tol, err_msg=name)
        for arg, g, g_ref in zip(DIFF_ARGS, grads, grads_ref):
            assert np.isfinite(g).all(), (name, arg)
            np.testing.assert_allclose(g, g_ref[i], rtol=tol, atol=tol, err_msg=f"{name} d{arg}")
    return dict(zip(cases, outs))


# ----------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(
    ("num_tokens", "num_experts", "top_k", "capacity_factor", "expected"),
    [
        (6, 3, 1, 1.0, 2),  # balanced load exactly
        (37, 4, 2, 0.5, 10),  # ceil(9.25)
        (4096, 8, 2, 1.25, 1280),
        (1000, 10, 1, 1.1, 110),  # 1.1 is read as 11/10: no spurious round-up to 111
        (3, 64, 1, 0.5, 1),  # at least one slot
    ],
)
def test_expert_capacity(num_tokens, num_experts, top_k, capacity_factor, expected):
    assert expert_capacity(num_tokens, num_experts, top_k, capacity_factor) == expected


def test_expert_capacity_rejects_nonpositive_factor():
    with pytest.raises(ValueError, match="capacity_factor"):
        expert_capacity(8, 2, 1, 0.0)


@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("top_k", [1, 2])
def test_capacity_matches_reference(problem_name, top_k):
    problem = make_problem(top_k=top_k, **PROBLEMS[problem_name])
    num_tokens, num_experts = problem["x"].shape[0], problem["w_in"].shape[0]
    cases = {}
    for capacity_factor in (0.5, 1.0, 1.25, 2.0):
        capacity = expert_capacity(num_tokens, num_experts, top_k, capacity_factor)
        for priority in ("sequence", "score"):
            served = ref_served(
                np.asarray(problem["expert_index"]), np.asarray(problem["gates"]),
                num_experts, capacity, priority,
            )
            fn = functools.partial(
                capacity_dispatch, capacity_factor=capacity_factor, priority=priority
            )
            cases[f"factor={capacity_factor} priority={priority}"] = (fn, served)
    assert_match_reference(cases, problem)


def test_capacity_dropped_hand_worked():
    # T = 4 tokens, E = 4 experts, k = 2, capacity_factor 0.5: C = ceil(0.5 * 4 * 2 / 4) = 1.
    expert_index = np.array([[0, 1], [0, 2], [1, 0], [3, 0]], np.int32)
    gates = np.array([[0.6, 0.4], [0.9, 0.1], [0.7, 0.3], [0.8, 0.2]], np.float32)
    # sequence: first choices in token order: t0->e0 ok, t1->e0 full, t2->e1 ok, t3->e3 ok;
    #   second choices: t0->e1 full, t1->e2 ok, t2->e0 full, t3->e0 full.  4 of 8 dropped.
    # score: top gates 0.6, 0.9, 0.7, 0.8 give the order t1, t3, t2, t0;
    #   first choices: t1->e0 ok, t3->e3 ok, t2->e1 ok, t0->e0 full;
    #   second choices: t1->e2 ok, t3->e0 full, t2->e0 full, t0->e1 full.  4 of 8 dropped,
    #   and token 0 lost both of its assignments.
    expected = {
        "sequence": [[False, True], [True, False], [False, True], [False, True]],
        "score": [[True, True], [False, False], [False, True], [False, True]],
    }
    problem = make_problem(seed=3, num_tokens=4, num_experts=4, top_k=2)
    problem.update(expert_index=expert_index, gates=gates)
    for priority, dropped in expected.items():
        fn = functools.partial(capacity_dispatch, capacity_factor=0.5, priority=priority)
        out = jit(fn)(*args_of(problem))
        np.testing.assert_array_equal(out.dropped, np.array(dropped))
        assert int(out.dropped.sum()) == 4
    assert (np.asarray(out.y)[0] == 0).all()  # score priority: token 0 fully dropped


def test_capacity_large_factor_equals_dropless():
    problem = make_problem(seed=4, num_tokens=29, num_experts=4, top_k=2, load=[4, 1, 1, 0])
    # factor E / k gives C = T: with k distinct choices no expert gets more than T assignments.
    capped = jit(functools.partial(capacity_dispatch, capacity_factor=2.0))(*args_of(problem))
    dropless = jit(functools.partial(dropless_dispatch, impl="blocks", block_size=4))(
        *args_of(problem)
    )
    assert not bool(capped.dropped.any())
    np.testing.assert_allclose(capped.y, dropless.y, rtol=1e-5, atol=1e-6)


def test_capacity_dropped_tokens_never_read():
    """NaN tokens that lose every assignment leave y and all gradients finite, y exactly 0."""
    problem = make_problem(seed=5, num_tokens=19, num_experts=3, top_k=1, load=[5, 1, 1])
    served = ref_served(
        np.asarray(problem["expert_index"]), np.asarray(problem["gates"]), 3,
        expert_capacity(19, 3, 1, 1.0), "sequence",
    )
    lost = ~served[:, 0]
    assert lost.sum() >= 3
    problem["x"][lost] = np.nan
    cotangent = np.ones_like(problem["x"])
    fn = functools.partial(capacity_dispatch, capacity_factor=1.0)
    out, grads = jit(lambda p, c: value_and_grads(fn, p, c))(problem, cotangent)
    y = np.asarray(out.y)
    assert np.isfinite(y).all() and (y[lost] == 0).all()
    for name, g in zip(DIFF_ARGS, grads):
        assert np.isfinite(g).all(), name
    assert (np.asarray(grads[0])[lost] == 0).all()


def test_capacity_empty_slots_never_combined():
    """act(0) = inf makes every empty slot's output inf: none of it may reach y."""
    problem = make_problem(seed=8, num_tokens=13, num_experts=4, top_k=2, load=[3, 1, 1, 0])
    act = jnp.reciprocal
    fn = functools.partial(capacity_dispatch, capacity_factor=2.0, act=act)  # expert 3 unused
    out = jit(fn)(*args_of(problem))
    served = ~np.asarray(out.dropped)
    assert np.isfinite(out.y).all()
    np.testing.assert_allclose(
        out.y, jit(ref_moe, static_argnames="act")(*args_of(problem), served, act=act),
        rtol=1e-4, atol=1e-4,
    )


def test_capacity_rejects_unknown_priority():
    problem = make_problem(seed=0, num_tokens=4, num_experts=2, top_k=1)
    with pytest.raises(ValueError, match="priority"):
        capacity_dispatch(*args_of(problem), capacity_factor=1.0, priority="random")


# ----------------------------------------------------------------------------- dropless


@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("top_k", [1, 2])
def test_dropless_blocks_matches_reference(problem_name, top_k):
    problem = make_problem(top_k=top_k, **PROBLEMS[problem_name])
    served = np.ones(problem["expert_index"].shape, bool)
    cases = {
        f"block_size={b}": (
            functools.partial(dropless_dispatch, impl="blocks", block_size=b), served
        )
        for b in (1, 4, 16)
    }
    assert_match_reference(cases, problem)


def test_dropless_ragged_dot_matches_reference_and_blocks():
    problem = make_problem(seed=6, num_tokens=21, num_experts=5, top_k=2, load=SKEWED)
    served = np.ones(problem["expert_index"].shape, bool)
    ragged = functools.partial(dropless_dispatch, impl="ragged_dot")
    blocks = functools.partial(dropless_dispatch, impl="blocks", block_size=8)
    outs = assert_match_reference(
        {"ragged_dot": (ragged, served), "blocks": (blocks, served)}, problem
    )
    (ragged_out, ragged_grads), (blocks_out, blocks_grads) = outs["ragged_dot"], outs["blocks"]
    np.testing.assert_allclose(ragged_out.y, blocks_out.y, rtol=1e-5, atol=1e-6)
    for arg, g_ragged, g_blocks in zip(DIFF_ARGS, ragged_grads, blocks_grads):
        np.testing.assert_allclose(g_ragged, g_blocks, rtol=1e-5, atol=1e-5, err_msg=arg)


def test_dropless_padding_never_combined():
    """act(0) = inf makes every padding row inf: none of it may reach y."""
    problem = make_problem(seed=7, num_tokens=13, num_experts=4, top_k=2, load=[3, 1, 1, 0])
    act = jnp.reciprocal
    fn = functools.partial(dropless_dispatch, act=act, impl="blocks", block_size=8)
    y = jit(fn)(*args_of(problem)).y
    served = np.ones(problem["expert_index"].shape, bool)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(
        y, jit(ref_moe, static_argnames="act")(*args_of(problem), served, act=act),
        rtol=1e-4, atol=1e-4,
    )


def test_dropless_rejects_unknown_impl():
    problem = make_problem(seed=0, num_tokens=4, num_experts=2, top_k=1)
    with pytest.raises(ValueError, match="impl"):
        dropless_dispatch(*args_of(problem), impl="dense")


# ----------------------------------------------------------------------------- expert choice


def test_expert_choice_matches_reference():
    problem = make_problem(seed=9, num_tokens=11, num_experts=3, top_k=1)
    # token 4 is picked by every expert, token 10 by none; index 11 (= T) marks an unused slot.
    problem["expert_index"] = np.array([[4, 0, 1, 2], [4, 3, 5, 11], [4, 6, 7, 8]], np.int32)
    rng = np.random.default_rng(1)
    problem["gates"] = rng.uniform(size=(3, 4)).astype(np.float32)
    cotangent = rng.normal(size=problem["x"].shape).astype(np.float32)
    grad_fn = jit(value_and_grads, static_argnums=0)
    y, grads = grad_fn(expert_choice_dispatch, problem, cotangent)
    y_ref, grads_ref = grad_fn(ref_expert_choice, problem, cotangent)
    assert y.shape == (11, 8)
    assert (np.asarray(y)[10] == 0).all()
    np.testing.assert_allclose(y, y_ref, rtol=2e-5, atol=2e-5)
    for name, g, g_ref in zip(DIFF_ARGS, grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=2e-5, atol=2e-5, err_msg=name)


# ----------------------------------------------------------------------------- transforms, dtypes


def test_expert_ffn_matches_per_expert_loop():
    problem = make_problem(seed=10, num_tokens=6, num_experts=3, top_k=1)
    xs = problem["x"].reshape(3, 2, 8)
    ffn = jit(functools.partial(expert_ffn, act=jax.nn.relu))
    out = ffn(xs, problem["w_in"], problem["w_out"])
    expected = [np.maximum(xs[e] @ problem["w_in"][e], 0) @ problem["w_out"][e] for e in range(3)]
    np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "dispatch",
    [
        functools.partial(capacity_dispatch, capacity_factor=1.0, priority="score"),
        functools.partial(dropless_dispatch, impl="blocks", block_size=4),
    ],
    ids=["capacity", "dropless"],
)
def test_vmap_over_groups_equals_loop(dispatch):
    """Groups of tokens routed independently with shared experts: outputs and weight grads."""
    problems = [make_problem(seed=s, num_tokens=10, num_experts=3, top_k=2) for s in (11, 12)]
    batched = [np.stack([p[a] for p in problems]) for a in ("x", "expert_index", "gates")]

    def group_loss(w_in, w_out, x, expert_index, gates):
        out = dispatch(x, expert_index, gates, w_in, w_out)
        return jnp.sum(jnp.sin(out.y)), out

    @jit
    def run(w_in, w_out, batched, singles):
        def vmapped_loss(w_in, w_out):
            per_group = jax.vmap(group_loss, in_axes=(None, None, 0, 0, 0))
            losses, outs = per_group(w_in, w_out, *batched)
            return jnp.sum(losses), outs

        grouped = jax.grad(vmapped_loss, argnums=(0, 1), has_aux=True)(w_in, w_out)
        single_grad = jax.grad(group_loss, argnums=(0, 1), has_aux=True)
        looped = [single_grad(w_in, w_out, *s) for s in singles]
        return grouped, looped

    singles = [[p[a] for a in ("x", "expert_index", "gates")] for p in problems]
    (grads, outs), looped = run(problems[0]["w_in"], problems[0]["w_out"], batched, singles)
    for i, (_, out) in enumerate(looped):
        np.testing.assert_allclose(outs.y[i], out.y, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(outs.dropped[i], out.dropped)
    for g, *g_groups in zip(grads, *(g for g, _ in looped)):
        np.testing.assert_allclose(g, sum(g_groups), rtol=1e-5, atol=1e-5)


def test_bfloat16_inputs():
    problem = make_problem(seed=13, num_tokens=24, num_experts=4, top_k=2)
    low = {a: v.astype(jnp.bfloat16) if v.dtype == np.float32 else v for a, v in problem.items()}
    dispatches = {
        "capacity": functools.partial(capacity_dispatch, capacity_factor=1.25),
        "blocks": functools.partial(dropless_dispatch, impl="blocks", block_size=4),
        "ragged_dot": functools.partial(dropless_dispatch, impl="ragged_dot"),
    }

    @jit
    def run(low, problem):
        cotangent = jnp.ones(problem["x"].shape, jnp.bfloat16)
        return {
            name: (value_and_grads(fn, low, cotangent), fn(*args_of(problem)).y)
            for name, fn in dispatches.items()
        }

    for name, ((out, grads), y_f32) in run(low, problem).items():
        assert out.y.dtype == jnp.bfloat16, name
        np.testing.assert_allclose(np.asarray(out.y, np.float32), y_f32, rtol=0.05, atol=0.05)
        for arg, g in zip(DIFF_ARGS, grads):
            assert g.dtype == jnp.bfloat16, (name, arg)
            assert np.isfinite(np.asarray(g, np.float32)).all(), (name, arg)
