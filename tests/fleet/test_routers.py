"""Across-model routers on a planted routing log, and the evaluation of their sweeps."""

import numpy as np
import pytest

from routerlab.data.features import FeatureConfig, featurize
from routerlab.fleet.evaluate import choose_knob, evaluate_router
from routerlab.fleet.metrics import common_range_aiq, nondecreasing_convex_hull
from routerlab.fleet.routers import (
    CascadeRouter,
    EnsembleQuality,
    KNNQuality,
    MFQuality,
    MLPQuality,
    OracleRouter,
    Queries,
    RandomRouter,
    SingleModelRouter,
    Split,
    TaskQuality,
    UtilityRouter,
    ZeroRouter,
    cascade_stages,
    default_routers,
    platt_fit,
    trace,
)

FEATURES = FeatureConfig(svd_dim=8, min_df=1)


@pytest.fixture(scope="module")
def splits(planted):
    x = featurize(planted, FEATURES)
    return tuple(Split.of(planted, x, s) for s in ("train", "val", "test"))


@pytest.fixture(scope="module")
def fitted(splits):
    train, val, _ = splits
    mlp = MLPQuality(steps=150)
    routers = {
        "knn": UtilityRouter(KNNQuality()),
        "mlp": UtilityRouter(mlp),
        "mf": UtilityRouter(MFQuality(steps=150)),
        "task_classifier": UtilityRouter(TaskQuality(classifier=True)),
        "per_task_oracle": UtilityRouter(TaskQuality(classifier=False)),
        "cascade": CascadeRouter(mlp),
        "oracle": OracleRouter(),
        "random": RandomRouter(seed=0),
    }
    return {name: r.fit(train, val) for name, r in routers.items()}


def _served(router, split, knob):
    q = Queries(split.x, split.tasks, split.quality if router.oracle else None)
    return router.route(q, knob).outcomes(split)


@pytest.mark.parametrize("name", ["knn", "mlp", "mf", "task_classifier", "per_task_oracle"])
def test_learned_routers_find_the_planted_specialists(fitted, splits, name):
    """At lam = 0 each learned router beats the best single model (large: 0.8) by sending
    each task to its specialist (0.95); at a huge lam it always picks the cheapest."""
    _, _, test = splits
    router = fitted[name]
    quality, cost = _served(router, test, 0.0)
    assert quality.mean() > test.mean_quality.max() + 0.05
    assert cost.mean() < 0.5 * test.mean_cost.max()  # it rarely pays for the large model
    quality, cost = _served(router, test, 1e9)
    np.testing.assert_array_equal(cost, test.cost[:, 0])


def test_task_classifier_predicts_tasks(fitted, splits):
    predictor = fitted["task_classifier"].predictor
    _, _, test = splits
    assert predictor.val_accuracy > 0.95
    assert np.mean(predictor.predict_task(Queries(test.x, test.tasks)) == test.tasks) > 0.95


def test_jax_predictors_tune_l2_on_validation(fitted, splits):
    """Validation MSE near the noise floor (~0.10 here), far below predicting each model's mean (~0.22)."""
    _, val, _ = splits
    base = np.mean((val.quality - splits[0].mean_quality) ** 2)
    for name in ("mlp", "mf", "knn"):
        p = fitted[name].predictor
        assert p.val_mse < 0.13 < base - 0.05, name
    for name in ("mlp", "mf"):
        p = fitted[name].predictor
        assert p.l2 in p.l2s


def test_routers_never_read_the_outcomes_they_route(fitted, splits):
    """Shuffling the test outcomes leaves every non-oracle router's choices unchanged."""
    _, _, test = splits
    rng = np.random.default_rng(1)
    shuffled = Split(test.x, test.tasks, rng.permuted(test.quality, axis=0), test.cost, test.models)
    for name, router in fitted.items():
        if router.oracle:
            continue
        for knob in router.knobs(test.queries)[::10]:
            a = router.route(test.queries, knob)
            b = router.route(shuffled.queries, knob)
            np.testing.assert_array_equal(a.choice, b.choice, err_msg=name)
    with pytest.raises(ValueError, match="needs the queries' outcomes"):
        fitted["oracle"].route(test.queries, 0.0)


def test_oracle_bounds_every_router(fitted, splits):
    _, _, test = splits
    best = _served(fitted["oracle"], test, 0.0)[0].mean()
    assert best == pytest.approx(test.quality.max(axis=1).mean())
    for router in fitted.values():
        tr = trace(router, test)
        assert tr.quality.mean(axis=1).max() <= best + 1e-12


def test_cascade_pays_for_every_model_it_calls(fitted, splits):
    _, val, test = splits
    cascade = fitted["cascade"]
    stages = cascade.order  # the models on validation's cost-quality front, cheapest first
    np.testing.assert_array_equal(stages, cascade_stages(val.mean_cost, val.mean_quality))
    assert stages[-1] == 2  # "large" is the best model on validation
    quality, cost = _served(cascade, test, -np.inf)  # accept the first stage's answer
    np.testing.assert_array_equal(quality, test.quality[:, stages[0]])
    np.testing.assert_allclose(cost, test.cost[:, stages[0]])
    quality, cost = _served(cascade, test, np.inf)  # escalate through every stage
    np.testing.assert_array_equal(quality, test.quality[:, 2])
    np.testing.assert_allclose(cost, test.cost[:, stages].sum(axis=1))
    # In between, a query answered by the k-th stage paid for exactly k calls.
    decision = cascade.route(test.queries, 0.5)
    rank = np.full(len(test.models), -1)
    rank[stages] = np.arange(len(stages))
    np.testing.assert_array_equal(decision.called.sum(axis=1), rank[decision.choice] + 1)
    assert decision.called[np.arange(len(test)), decision.choice].all()
    assert len(np.unique(decision.choice)) >= 2


def test_random_router_mixes_cheapest_and_best(fitted, splits):
    _, _, test = splits
    router = fitted["random"]
    assert (router.route(test.queries, 0.0).choice == router.cheapest).all()
    assert router.best == 2 and (router.route(test.queries, 1.0).choice == 2).all()
    half = router.route(test.queries, 0.5).choice
    assert 0.35 < np.mean(half == 2) < 0.65


def test_lambda_grid_spans_cheapest_to_best_predicted(fitted, splits):
    _, _, test = splits
    router = fitted["mlp"]
    knobs = router.knobs(test.queries)
    assert knobs[-1] == 0.0 and np.all(np.diff(knobs) < 0)
    first = router.route(test.queries, knobs[0]).choice
    assert (first == router.cheapest).all()
    last = router.route(test.queries, 0.0).choice
    np.testing.assert_array_equal(last, np.argmax(router.qhat(test.queries), axis=1))


def test_evaluate_router_fields_and_intervals(fitted, splits):
    _, val, test = splits
    rec = evaluate_router(fitted["mlp"], val, test, n_boot=100)
    assert rec["router"] == "mlp" and len(rec["points"]["cost"]) == len(rec["points"]["knob"])
    for key in ("mean_cost", "mean_quality", "aiq", "savings"):
        cell = rec[key]
        assert cell["lo"] <= cell["value"] <= cell["hi"], key
    # Routing to the specialists saves most of the large model's cost at 95% of its quality.
    assert rec["savings"]["value"] > 0.5
    assert "apgr" not in rec  # three models: RouteLLM's two-model metrics do not apply
    single = evaluate_router(SingleModelRouter("large").fit(*splits[:2]), val, test, n_boot=20)
    assert single["aiq"]["value"] is None  # never as cheap as the cheapest model
    assert single["savings"]["value"] == pytest.approx(0.0, abs=1e-12)


def test_two_model_metrics_random_apgr_is_about_half(make_planted):
    m = make_planted(n=3000, seed=3, models=("small-math", "large"))
    x = np.zeros((len(m.query_ids), 1), np.float32)
    train, val, test = (Split.of(m, x, s) for s in ("train", "val", "test"))
    rec = evaluate_router(RandomRouter(seed=1).fit(train, val), val, test, n_boot=50)
    assert rec["apgr"]["lo"] < 0.5 < rec["apgr"]["hi"]
    assert rec["cpt50"]["value"] == pytest.approx(0.5, abs=0.1)
    assert rec["cpt80"]["value"] == pytest.approx(0.8, abs=0.1)
    oracle = evaluate_router(OracleRouter().fit(train, val), val, test, n_boot=20)
    assert oracle["apgr"]["value"] > rec["apgr"]["value"] + 0.3


def test_choose_knob_on_validation(fitted, splits):
    _, val, _ = splits
    tr = trace(fitted["mlp"], val)
    cost, quality = tr.cost.mean(axis=1), tr.quality.mean(axis=1)
    k = choose_knob(tr, target_quality=0.9)
    assert quality[k] >= 0.9 and cost[k] == cost[quality >= 0.9].min()
    budget = float(np.median(cost))
    k = choose_knob(tr, target_quality=0.9, budget=budget)
    assert cost[k] <= budget and quality[k] == quality[cost <= budget].max()
    assert choose_knob(tr, 0.9, budget=-1.0) == int(np.argmin(cost))


def test_default_routers_adapt_to_the_log(make_planted):
    m = make_planted(n=200, seed=4, models=("small-math", "large"))
    x = np.zeros((200, 2), np.float32)
    train = Split.of(m, x, "train")
    names = [r.name for r in default_routers(train)]
    assert names[:2] == ["single:small-math", "single:large"]
    assert {"random", "oracle", "per_task_oracle", "task_classifier", "knn", "mlp", "mf"} <= set(names)
    one_task = Split(train.x, np.full(len(train), "all", dtype=object), train.quality, train.cost, train.models)
    assert "task_classifier" not in [r.name for r in default_routers(one_task)]


def test_cascade_stages_follow_validation_quality_not_column_order():
    # Costs 1, 1, 2, 3 and qualities .5, .6, .7, .65: model 0 is dominated by model 1 (same
    # cost, better), model 3 by model 2 (cheaper, better). Stages: 1 (.6) then 2 (.7).
    np.testing.assert_array_equal(cascade_stages([1.0, 1.0, 2.0, 3.0], [0.5, 0.6, 0.7, 0.65]), [1, 2])
    # Two equally dear models: the better one on validation is the last stage, whatever its column.
    np.testing.assert_array_equal(cascade_stages([1.0, 5.0, 5.0], [0.4, 0.9, 0.8]), [0, 1])
    np.testing.assert_array_equal(cascade_stages([1.0, 5.0, 5.0], [0.4, 0.8, 0.9]), [0, 2])
    # Exact twins: the first column only.
    np.testing.assert_array_equal(cascade_stages([1.0, 1.0, 2.0], [0.5, 0.5, 0.9]), [0, 2])


def test_delta_aiq_is_paired_against_the_zero_router(fitted, splits):
    train, val, test = splits
    zero = evaluate_router(ZeroRouter().fit(train, val), val, test, n_boot=100)
    knn = evaluate_router(fitted["knn"], val, test, n_boot=100)
    # The zero router's AIQ is the hull of the single models' test points over [cheapest, dearest].
    cheap, dear = np.argmin(train.mean_cost), np.argmax(train.mean_cost)
    assert zero["aiq"]["value"] == pytest.approx(
        common_range_aiq(nondecreasing_convex_hull(test.mean_cost, test.mean_quality), test.mean_cost[cheap],
                         test.mean_cost[dear]))
    assert knn["delta_aiq"]["value"] == pytest.approx(knn["aiq"]["value"] - zero["aiq"]["value"])
    # Paired: each resample scores the router and the zero router on the same test queries, so
    # the zero router compared with itself differs by exactly 0 in every resample: a [0, 0]
    # interval, where independent resamples would give an interval as wide as its AIQ's.
    assert zero["aiq"]["hi"] - zero["aiq"]["lo"] > 1e-3
    for k in ("value", "lo", "hi"):
        assert zero["delta_aiq"][k] == pytest.approx(0.0, abs=1e-12)
    assert knn["delta_aiq"]["lo"] > 0  # the planted specialists: routing adds quality at every cost
    # Savings against the zero router at 95% of the best test model's quality: kNN reaches it cheaper.
    assert knn["reference"] == test.models[int(np.argmax(test.mean_quality))]
    assert knn["savings_vs_zero"]["value"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gsm8k", "mmlu"])
def test_ensemble_on_routellm_beats_the_zero_router(name):
    """On RouteLLM's files (split seed 0, route-eval's features), the calibrated ensemble beats
    the zero router (ΔAIQ interval above 0) and random routing (APGR interval above 0.5, the
    value of random routing by RouteLLM's definition). Measured: APGR 0.768 on MMLU, 0.607 on
    GSM8K, whose 138 test queries give an interval of about ±0.1; the issue's goal of 0.62 on
    GSM8K is not reached by the ensemble (MLP 0.620, MF 0.619), so no threshold is fitted to
    the measurement here. About 1 min (GSM8K) and 3 min (MMLU) on 2 busy cores."""
    from routerlab.config import ConfigError
    from routerlab.fleet.evaluate import evaluate_routers
    from routerlab.fleet.routers import route_eval_features
    from routerlab.studies.real_benchmarks import RealBenchConfig, load_dataset, resolve_data_dir

    try:
        resolve_data_dir()
    except ConfigError as err:
        pytest.skip(f"RouteLLM's files are not on this machine: {err}")
    m = load_dataset(name, RealBenchConfig(), 0)
    x = featurize(m, route_eval_features())
    train, val, test = (Split.of(m, x, s) for s in ("train", "val", "test"))
    routers = [r for r in default_routers(train, ensemble=True) if r.name == "ensemble"]
    zero, ens = evaluate_routers(routers, train, val, test, n_boot=200, zero_router=True)
    assert zero["router"] == "zero_router" and ens["router"] == "ensemble"
    assert ens["apgr"]["lo"] > 0.5
    assert ens["delta_aiq"]["lo"] > 0


def test_platt_fit_recovers_a_known_calibration():
    # Soft labels exactly sigmoid(2 z - 1): with no shrinkage the cross-entropy is minimised
    # at (a, b) = (2, -1) (its gradient, mean((p - y) * [z, 1]), is zero there).
    z = np.linspace(-3, 3, 61)
    y = 1 / (1 + np.exp(-(2 * z - 1)))
    assert platt_fit(z, y, l2=0.0) == pytest.approx((2.0, -1.0), abs=1e-6)
    # Shrinkage pulls towards no change (1, 0).
    a, b = platt_fit(z, y, l2=1.0)
    assert 1.0 < a < 2.0 and -1.0 < b < 0.0


def test_ensemble_averages_calibrated_members(fitted, splits):
    train, val, test = splits
    members = [fitted["knn"].predictor, fitted["mlp"].predictor]
    ens = EnsembleQuality(members).fit(train, val)
    by_hand = []
    for member in members:
        z = np.log(np.clip(member.predict(test.queries), 1e-4, 1 - 1e-4))
        z -= np.log1p(-np.clip(member.predict(test.queries), 1e-4, 1 - 1e-4))
        zv = np.log(np.clip(member.predict(val.queries), 1e-4, 1 - 1e-4))
        zv -= np.log1p(-np.clip(member.predict(val.queries), 1e-4, 1 - 1e-4))
        cols = []
        for j in range(len(test.models)):
            a, b = platt_fit(zv[:, j], val.quality[:, j])
            cols.append(1 / (1 + np.exp(-(a * z[:, j] + b))))
        by_hand.append(np.stack(cols, axis=1))
    np.testing.assert_allclose(ens.predict(test.queries), np.mean(by_hand, axis=0), rtol=1e-12)
