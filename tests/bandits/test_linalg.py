"""float32 ridge updates stay close to float64 numpy inverses over a long stream."""

import jax
import numpy as np

from routerlab.bandits.linalg import refresh, refresh_ridges, ridge_init, ridge_update, ridge_width2


def _run(X, y, every, do_refresh):
    d = X.shape[1]

    def block(r, xy):
        r = jax.lax.scan(lambda r, o: (ridge_update(r, 0, o[0], o[1]), None), r, xy)[0]
        return (refresh(r) if do_refresh else r), None

    f = jax.jit(lambda X, y: jax.lax.scan(block, ridge_init(2, d, 1.0), (X, y))[0])
    return f(X.reshape(-1, every, d), y.reshape(-1, every))


def _errors(r, X, y):
    X64 = X.astype(np.float64)
    A = np.eye(X.shape[1]) + X64.T @ X64
    A_inv = np.linalg.inv(A)
    theta = A_inv @ (X64.T @ y.astype(np.float64))
    test = X64[-500:]
    w_ref = np.einsum("ni,ij,nj->n", test, A_inv, test)
    w = np.asarray(jax.vmap(lambda x: ridge_width2(r, x))(test.astype(np.float32)))[:, 0]
    width_err = np.max(np.abs(w - w_ref) / w_ref)
    theta_err = np.linalg.norm(np.asarray(r.theta[0]) - theta) / np.linalg.norm(theta)
    return width_err, theta_err


def test_float32_stream_with_refresh_matches_float64():
    # One-hot categorical features plus an intercept over 50k rounds: the case where plain
    # Sherman-Morrison measurably drifts in float32.
    rng = np.random.default_rng(1)
    n, d = 50_000, 32
    X = np.zeros((n, d), np.float32)
    X[:, 0] = 1.0
    X[np.arange(n), rng.integers(1, d, n)] = 1.0
    y = (X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)).astype(np.float32)
    w_sm, _ = _errors(_run(X, y, 1000, False), X, y)
    w_ref, th_ref = _errors(_run(X, y, 1000, True), X, y)
    # theta's error is dominated by the float32 running sum b (5e4 terms), not the inverse.
    assert w_ref < 1e-3 and th_ref < 1e-2, (w_ref, th_ref)
    assert w_sm > 10 * w_ref, (w_sm, w_ref)  # the refresh is what keeps it accurate


def test_float32_gaussian_stream_matches_float64():
    rng = np.random.default_rng(2)
    n, d = 20_000, 16
    X = (rng.normal(size=(n, d)) * np.logspace(0, -2, d)).astype(np.float32)
    y = (X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)).astype(np.float32)
    w_err, th_err = _errors(_run(X, y, 1000, True), X, y)
    assert w_err < 1e-4 and th_err < 1e-4, (w_err, th_err)


def test_refresh_ridges_finds_nested_and_stacked_ridges():
    r = ridge_init(3, 4, 1.0)
    r = ridge_update(r, 1, np.ones(4, np.float32), 2.0)
    bad = r._replace(inv=r.inv * 0.0, theta=r.theta * 0.0)
    stacked = jax.tree.map(lambda a: np.stack([a, a]), bad)
    state = {"outer": (bad, 3.0), "members": stacked}
    out = refresh_ridges(state)
    np.testing.assert_allclose(out["outer"][0].inv, r.inv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["members"].theta[1], r.theta, rtol=1e-5, atol=1e-6)
    assert out["outer"][1] == 3.0


def test_mean_from_one_matvec_equals_theta_dot_x_and_skipping_theta_changes_nothing_else():
    from routerlab.bandits.linalg import ridge_mean_width2

    rng = np.random.default_rng(3)
    X = (rng.normal(size=(200, 6)) / np.sqrt(6)).astype(np.float32)
    y = rng.normal(size=200).astype(np.float32)
    arms = rng.integers(0, 3, 200)

    def play(theta):
        step = lambda r, o: (ridge_update(r, o[0], o[1], o[2], theta=theta), None)  # noqa: E731
        return jax.jit(lambda: jax.lax.scan(step, ridge_init(3, 6, 1.0), (arms, X, y))[0])()

    full, lean = play(True), play(False)
    for field in ("gram", "inv", "b", "count"):
        np.testing.assert_array_equal(getattr(lean, field), getattr(full, field))
    np.testing.assert_array_equal(lean.theta, np.zeros((3, 6)))  # never written: only refresh() sets it
    x = X[0]
    mean, width2 = ridge_mean_width2(lean, x)
    # b_a . (P_a x) = (P_a b_a) . x because P_a is symmetric: the maintained theta's score
    np.testing.assert_allclose(mean, np.asarray(full.theta) @ x, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(width2, ridge_width2(lean, x))
    np.testing.assert_allclose(refresh(lean).theta, full.theta, rtol=1e-4, atol=1e-5)
