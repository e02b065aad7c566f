"""Routers across a model fleet, fitted on a routing log's train split, tuned on its
validation split, and evaluated on its test split.

A router sees a query only through :class:`Queries` (prompt features and task label),
never the outcomes of the query it routes; the one exception is the per-query oracle
(``oracle = True``), which the evaluator alone hands the outcomes, as an upper bound.
Every router has one knob that trades cost for quality:

* utility routers choose ``argmax_m qhat[i, m] - lam * cbar[m]``, where ``qhat`` is a
  predicted quality and ``cbar[m]`` the model's mean cost per query on train (a call's
  cost is not known before the answer is written); ``lam`` sweeps from 0 (best predicted
  quality) to infinity (cheapest model);
* the cascade (:class:`CascadeRouter`) escalates while the predicted quality of the
  current model's answer is below a threshold;
* random routing mixes the cheapest and the best (on train) model with probability ``p``;
* the zero router (:class:`ZeroRouter`, RouterBench's baseline) answers every query with
  one model per knob, so its hull is the single models' hull.

The interface is ``router.fit(train, val) -> router``, ``router.knobs(queries)`` (a grid
of knob values spanning the router's operating points, cheapest first) and
``router.route(queries, knob) -> Decision`` (the model answering each query, and which
models were called and paid for). Two-model routers also give ``router.score(queries)``,
higher meaning "more in need of the strong model", for RouteLLM's APGR/CPT.
:func:`trace` runs a router over its knob grid on a split; :mod:`routerlab.fleet.evaluate`
turns traces into cost-quality points, AIQ, savings, APGR and CPT with bootstrap intervals.

Predictors of quality (``qhat``, in :mod:`routerlab.fleet.quality`, re-exported here), each
tuned on validation by mean squared error:

* :class:`KNNQuality`: the mean outcome of the k nearest training prompts (cosine);
* :class:`MLPQuality`: a one-hidden-layer MLP (JAX + optax) predicting every model's quality;
* :class:`MFQuality`: a RouteLLM-style matrix-factorisation model in JAX + optax, with a
  learnt embedding per model and a linear projection of the prompt features,
  ``logit[i, m] = <P x_i, v_m> + b_m``, trained on the outcome matrix with a
  cross-entropy loss (RouteLLM trains its MF router on pairwise preferences instead);
  the JAX predictors train every L2 strength of a grid at once under ``jax.vmap``;
* :class:`TaskQuality`: the per-task mean quality on train, of the true task (an oracle
  task classifier) or of the task predicted by a logistic-regression task classifier
  (the "task classification, then specialised model" pipeline);
* :class:`EnsembleQuality`: the kNN, MLP, MF (and per-task) predictions, each calibrated
  per model on validation (Platt scaling), averaged with weights chosen by greedy ensemble
  selection on validation.

A user's router plugs in through :func:`routerlab.fleet.user_routers.load_router`
(``routerlab route-eval --router module:attr``): an object with ``fit(train, val)`` and
``predict(queries)`` or ``choose(queries)``. ``load_router``, ``ChoiceRouter``,
``route_eval_features`` and ``FEATURE_SETS`` are also reachable from this module (loaded
on first use, as :mod:`~routerlab.fleet.user_routers` imports this one).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.quality import (
    EnsembleQuality,
    KNNQuality,
    MFQuality,
    MLPQuality,
    TaskQuality,
    one_blas_thread,
    platt_fit,
)

__all__ = ["Queries", "Split", "Decision", "RouterTrace", "Router", "RandomRouter", "ZeroRouter",
           "SingleModelRouter", "OracleRouter", "UtilityRouter", "CascadeRouter", "KNNQuality", "MLPQuality",
           "MFQuality", "TaskQuality", "trace", "visible", "default_routers", "one_blas_thread",
           "EnsembleQuality", "ChoiceRouter", "cascade_stages", "platt_fit", "load_router",
           "route_eval_features", "FEATURE_SETS"]


class Queries(NamedTuple):
    """What a router may see of ``Q`` queries: prompt features ``x [Q, d]`` and task labels ``[Q]``.

    ``quality`` (``[Q, M]``) is filled only for oracle routers, by the evaluator.
    """

    x: np.ndarray
    tasks: np.ndarray
    quality: np.ndarray | None = None


@dataclass(frozen=True)
class Split:
    """One split of a routing log: features plus every model's outcome on every query."""

    x: np.ndarray  # [Q, d] float32 prompt features
    tasks: np.ndarray  # [Q] str
    quality: np.ndarray  # [Q, M]
    cost: np.ndarray  # [Q, M]
    models: tuple[str, ...]

    def __post_init__(self):
        q, m = self.quality.shape
        if self.cost.shape != (q, m) or len(self.x) != q or len(self.tasks) != q or len(self.models) != m:
            raise ValueError(
                f"inconsistent split: x {self.x.shape}, tasks {len(self.tasks)}, quality {self.quality.shape}, "
                f"cost {self.cost.shape}, {len(self.models)} models"
            )

    @classmethod
    def of(cls, m: RoutingMatrices, x: np.ndarray, split: str) -> Split:
        """The rows of ``m`` (and of its features ``x``) whose split is ``split``."""
        rows = np.asarray(m.splits == split)
        return cls(np.asarray(x)[rows], m.tasks[rows], m.quality[rows], m.cost[rows], m.models)

    def __len__(self) -> int:
        return len(self.quality)

    @property
    def queries(self) -> Queries:
        return Queries(self.x, self.tasks)

    @property
    def mean_cost(self) -> np.ndarray:
        return self.cost.mean(axis=0)

    @property
    def mean_quality(self) -> np.ndarray:
        return self.quality.mean(axis=0)


class Decision(NamedTuple):
    """``choice [Q]``: the model whose answer is served; ``called [Q, M]``: models paid for."""

    choice: np.ndarray
    called: np.ndarray

    def outcomes(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """Per-query (quality served, cost paid: the sum over every model called)."""
        rows = np.arange(len(self.choice))
        return split.quality[rows, self.choice], (split.cost * self.called).sum(axis=1)


def _one_hot(choice: np.ndarray, num_models: int) -> np.ndarray:
    return np.eye(num_models, dtype=bool)[choice]


class RouterTrace(NamedTuple):
    """A router's operating points on one split: per knob, per query (not to be confused with
    :class:`routerlab.bandits.simulate.Trace`, a bandit simulation's curves over rounds)."""

    knobs: np.ndarray  # [K]
    quality: np.ndarray  # [K, Q] quality served
    cost: np.ndarray  # [K, Q] cost paid
    score: np.ndarray | None  # [Q] two-model score (None when not defined)


class Router(abc.ABC):
    """Base class: ``fit`` on train (+ tune on val), then ``knobs`` and ``route`` on any split."""

    name: str = "router"
    oracle: bool = False  # True: route() reads Queries.quality (an upper bound, not a router)

    def fit(self, train: Split, val: Split) -> Router:
        self.models = train.models
        self.train_cost = train.mean_cost
        self.train_quality = train.mean_quality
        return self

    @abc.abstractmethod
    def knobs(self, q: Queries) -> np.ndarray:
        """Knob values spanning the router's operating points on ``q``, cheapest first."""

    @abc.abstractmethod
    def route(self, q: Queries, knob: float) -> Decision:
        """The model answering each query at ``knob``."""

    def score(self, q: Queries) -> np.ndarray | None:
        """Two-model routers: higher = send to the more expensive model; None otherwise."""
        return None

    @property
    def cheapest(self) -> int:
        return int(np.argmin(self.train_cost))

    @property
    def best(self) -> int:
        """The best model on train (ties to the cheaper)."""
        return int(np.lexsort((self.train_cost, -self.train_quality))[0])


class SingleModelRouter(Router):
    """Always the same model. One per model gives the single-model baselines, the cheapest and
    the most expensive (largest) among them."""

    def __init__(self, model: str):
        self.model = model
        self.name = f"single:{model}"

    def fit(self, train: Split, val: Split) -> SingleModelRouter:
        super().fit(train, val)
        self.index = self.models.index(self.model)
        return self

    def knobs(self, q: Queries) -> np.ndarray:
        return np.zeros(1)

    def route(self, q: Queries, knob: float) -> Decision:
        choice = np.full(len(q.x), self.index)
        return Decision(choice, _one_hot(choice, len(self.models)))


class ZeroRouter(Router):
    """RouterBench's zero router: one single model per knob, so its operating points are the
    single models' and its non-decreasing convex hull is theirs (mixing models at random).
    It learns nothing; a learned router must beat it (ΔAIQ > 0) to add anything."""

    name = "zero_router"

    def knobs(self, q: Queries) -> np.ndarray:
        return np.argsort(self.train_cost, kind="stable").astype(np.float64)  # cheapest first

    def route(self, q: Queries, knob: float) -> Decision:
        choice = np.full(len(q.x), int(knob))
        return Decision(choice, _one_hot(choice, len(self.models)))


class RandomRouter(Router):
    """RouteLLM's random baseline: the best train model with probability ``p``, else the cheapest.

    Each query draws one uniform ``u`` (fixed by ``seed``) and goes to the best model iff
    ``u < p``, so raising ``p`` only ever moves queries to the best model.
    """

    name = "random"

    def __init__(self, seed: int = 0, points: int = 21):
        self.seed, self.points = seed, points

    def _u(self, q: Queries) -> np.ndarray:
        return np.random.default_rng(self.seed).random(len(q.x))

    def knobs(self, q: Queries) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.points)

    def route(self, q: Queries, knob: float) -> Decision:
        choice = np.where(self._u(q) < knob, self.best, self.cheapest)
        return Decision(choice, _one_hot(choice, len(self.models)))

    def score(self, q: Queries) -> np.ndarray | None:
        return -self._u(q) if len(self.models) == 2 else None


def _lambda_grid(utility: np.ndarray, cost: np.ndarray, points: int) -> np.ndarray:
    """Cost weights at which some query's choice of ``argmax_m utility - lam * cost`` changes.

    For models a, b with ``cost[a] > cost[b]`` the choice between them flips at
    ``lam = (utility[a] - utility[b]) / (cost[a] - cost[b])``; positive flips are kept, and
    at most ``points`` of them (their quantiles) plus 0 and a value past the largest.
    """
    pairs = [(a, b) for a in range(len(cost)) for b in range(len(cost)) if cost[a] > cost[b]]
    if not pairs:
        return np.zeros(1)
    flips = np.concatenate([(utility[:, a] - utility[:, b]) / (cost[a] - cost[b]) for a, b in pairs])
    flips = np.unique(flips[flips > 0])
    if flips.size > points:
        flips = np.unique(np.quantile(flips, np.linspace(0.0, 1.0, points)))
    top = flips[-1] * 2.0 + 1.0 if flips.size else 1.0
    return np.r_[top, flips[::-1], 0.0]  # cheapest (largest lam) first


class _Predicting(Router):
    """A router built on a quality predictor; predictions are reused across knobs of one query set."""

    _cache: tuple[np.ndarray, np.ndarray] | None = None

    def qhat(self, q: Queries) -> np.ndarray:
        """``predictor.predict(q)``, computed once per feature array (held, so ``is`` is a safe check)."""
        if self._cache is None or self._cache[0] is not q.x:
            self._cache = (q.x, np.asarray(self.predictor.predict(q), dtype=np.float64))
        return self._cache[1]

    def fit(self, train: Split, val: Split) -> _Predicting:
        super().fit(train, val)
        self._cache = None
        if not getattr(self.predictor, "fitted", False):
            self.predictor.fit(train, val)
        return self


class UtilityRouter(_Predicting):
    """``argmax_m qhat[i, m] - lam * cbar[m]`` with ``qhat`` from a fitted predictor."""

    def __init__(self, predictor, name: str | None = None, points: int = 100):
        self.predictor = predictor
        self.name = name or predictor.name
        self.points = points

    def knobs(self, q: Queries) -> np.ndarray:
        return _lambda_grid(self.qhat(q), self.train_cost, self.points)

    def route(self, q: Queries, knob: float) -> Decision:
        return _utility_decision(self.qhat(q), self.train_cost, knob)

    def score(self, q: Queries) -> np.ndarray | None:
        return _two_model_score(self.qhat(q), self.train_cost)


def _utility_decision(qhat: np.ndarray, cost: np.ndarray, lam: float) -> Decision:
    """``argmax_m qhat - lam * cost``, ties to the cheaper model."""
    by_cost = np.argsort(cost, kind="stable")
    choice = by_cost[np.argmax((qhat - lam * cost[None, :])[:, by_cost], axis=1)]
    return Decision(choice, _one_hot(choice, len(cost)))


def _two_model_score(qhat: np.ndarray, cost: np.ndarray) -> np.ndarray | None:
    """Predicted quality gain of the dearer model over the cheaper one (two models only)."""
    if len(cost) != 2:
        return None
    strong = int(np.argmax(cost))
    return qhat[:, strong] - qhat[:, 1 - strong]


class OracleRouter(Router):
    """The per-query oracle: ``argmax_m quality - lam * cost`` with the true outcomes (an upper bound).

    It reads ``Queries.quality``, which only the evaluator fills, and uses each model's
    mean train cost like the other routers.
    """

    name = "oracle"
    oracle = True

    def __init__(self, points: int = 100):
        self.points = points

    def _quality(self, q: Queries) -> np.ndarray:
        if q.quality is None:
            raise ValueError("the oracle router needs the queries' outcomes (Queries.quality)")
        return q.quality

    def knobs(self, q: Queries) -> np.ndarray:
        return _lambda_grid(self._quality(q), self.train_cost, self.points)

    def route(self, q: Queries, knob: float) -> Decision:
        return _utility_decision(self._quality(q), self.train_cost, knob)

    def score(self, q: Queries) -> np.ndarray | None:
        return _two_model_score(self._quality(q), self.train_cost)


def cascade_stages(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """A cascade's stages from each model's mean cost and quality on *validation*: the models
    no other model dominates (as cheap or cheaper and better, or cheaper and as good), by
    increasing quality, which on that front is increasing cost. So the last stage is the best
    model on validation, never a model picked by its column's position among equal costs,
    and a model that is dearer but no better than another is never called."""
    cost, quality = np.asarray(cost, np.float64), np.asarray(quality, np.float64)
    dominated = ((cost[None, :] <= cost[:, None]) & (quality[None, :] >= quality[:, None])
                 & ((cost[None, :] < cost[:, None]) | (quality[None, :] > quality[:, None]))).any(axis=1)
    front = np.flatnonzero(~dominated)
    # equal (cost, quality) twins: keep the first column only
    _, first = np.unique(np.stack([cost[front], quality[front]], axis=1), axis=0, return_index=True)
    front = front[np.sort(first)]
    return front[np.lexsort((cost[front], quality[front]))]


class CascadeRouter(_Predicting):
    """FrugalGPT-style cascade: call models by increasing quality on validation (its stages,
    :func:`cascade_stages`); stop at the first whose predicted answer quality reaches the
    threshold ``t`` (the last stage always answers).

    The cost paid is the sum over every model called. The confidence is the predictor's
    ``qhat[i, m]``; on logs without answers (MMLU keeps only correctness) it is a function
    of the query alone, so a cascade cannot beat the utility router on the same predictor:
    it routes the same way and pays for the calls it escalates from.
    """

    def __init__(self, predictor, name: str | None = None, points: int = 100):
        self.predictor = predictor
        self.name = name or f"cascade[{predictor.name}]"
        self.points = points

    def fit(self, train: Split, val: Split) -> CascadeRouter:
        super().fit(train, val)
        self.order = cascade_stages(val.mean_cost, val.mean_quality)
        return self

    def knobs(self, q: Queries) -> np.ndarray:
        conf = self.qhat(q)[:, self.order[:-1]]
        values = np.unique(conf)
        if values.size > self.points:
            values = np.unique(np.quantile(values, np.linspace(0.0, 1.0, self.points)))
        # t <= min accepts the cheapest everywhere; t > max escalates everything to the last.
        return np.r_[-np.inf, values, np.inf]

    def route(self, q: Queries, knob: float) -> Decision:
        conf = self.qhat(q)[:, self.order]
        n, m = conf.shape
        accept = conf >= knob
        accept[:, -1] = True
        stage = np.argmax(accept, axis=1)  # first accepting stage
        called = np.zeros((n, len(self.models)), dtype=bool)
        called[:, self.order] = np.arange(m)[None, :] <= stage[:, None]
        return Decision(self.order[stage], called)

    def score(self, q: Queries) -> np.ndarray | None:
        return -self.qhat(q)[:, self.order[0]] if len(self.models) == 2 else None


# -- running routers ------------------------------------------------------------------------


def visible(router: Router, split: Split) -> Queries:
    """What ``router`` may see of ``split``'s queries (outcomes only for an oracle)."""
    return Queries(split.x, split.tasks, split.quality if router.oracle else None)


def trace(router: Router, split: Split) -> RouterTrace:
    """The router at every knob of its grid on ``split``: per-query quality served and cost paid."""
    q = visible(router, split)
    knobs = np.asarray(router.knobs(q), dtype=np.float64)
    quality, cost = zip(*(router.route(q, k).outcomes(split) for k in knobs), strict=True)
    return RouterTrace(knobs, np.stack(quality), np.stack(cost), router.score(q))


def default_routers(train: Split, *, seed: int = 0, steps: int = 300, ensemble: bool = False) -> list[Router]:
    """Every applicable router for a log with ``train``'s models and tasks.

    Single-model baselines for each model, random, the per-task oracle, the per-query
    oracle, the task-classifier pipeline (when train has two or more tasks), kNN, MLP and
    MF utility routers, and a cascade on the MLP predictor. With ``ensemble``, also the
    calibrated ensemble of the kNN, MLP, MF and per-task predictors
    (:class:`EnsembleQuality`) as a utility router and as a cascade.
    """
    routers: list[Router] = [SingleModelRouter(m) for m in train.models]
    per_task = TaskQuality(classifier=False)
    routers += [RandomRouter(seed), OracleRouter(), UtilityRouter(per_task)]
    if len(np.unique(train.tasks)) >= 2:
        routers.append(UtilityRouter(TaskQuality(classifier=True, seed=seed)))
    knn, mlp, mf = KNNQuality(), MLPQuality(seed=seed, steps=steps), MFQuality(seed=seed, steps=steps)
    routers += [UtilityRouter(knn), UtilityRouter(mlp), UtilityRouter(mf), CascadeRouter(mlp)]
    if ensemble:
        members = [knn, mlp, mf] + ([per_task] if len(np.unique(train.tasks)) >= 2 else [])
        combined = EnsembleQuality(members)
        routers += [UtilityRouter(combined), CascadeRouter(combined)]
    return routers


_USER_ROUTERS = ("load_router", "ChoiceRouter", "route_eval_features", "FEATURE_SETS")


def __getattr__(name: str):
    """``routerlab.fleet.routers.load_router`` and friends, from :mod:`routerlab.fleet.user_routers`."""
    if name in _USER_ROUTERS:
        from routerlab.fleet import user_routers

        return getattr(user_routers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
