"""Routers a user brings (``routerlab route-eval --router module:attr``) and the text features
route-eval gives every router.

:func:`load_router` turns a user's object into a :class:`routerlab.fleet.routers.Router`:
a ``Router`` subclass as is, an object with ``fit`` and ``predict`` (a utility router over a
sweep of ``lam``), or one with ``fit`` and ``choose`` (:class:`ChoiceRouter`, one operating
point). Its output is checked, and a bad one is a one-line ``--router`` error.
"""

from __future__ import annotations

import numpy as np

from routerlab.fleet.routers import Decision, Queries, Router, Split, UtilityRouter, _one_hot

__all__ = ["ChoiceRouter", "load_router", "route_eval_features", "FEATURE_SETS"]


#: ``routerlab route-eval --features`` choices.
FEATURE_SETS = ("words", "words+chars")


def route_eval_features(kind: str = "words"):
    """The text features ``routerlab route-eval`` gives every router.

    ``"words"`` (default): word 1-2-gram TF-IDF fitted on train, 64-d SVD and the length
    column (:class:`~routerlab.data.features.FeatureConfig`'s defaults). ``"words+chars"``
    adds character 2-4-grams before the SVD and :data:`~routerlab.data.features.TEXT_STATS`.

    The richer set was compared on *validation* on RouteLLM's GSM8K and MMLU (split seed 0)
    and lowered the calibrated ensemble's APGR on both (0.748 -> 0.735 and 0.792 -> 0.768),
    so it is an option, not the default.
    """
    from routerlab.data.features import FeatureConfig

    if kind not in FEATURE_SETS:
        raise ValueError(f"features must be one of {FEATURE_SETS}; got {kind!r}")
    return FeatureConfig() if kind == "words" else FeatureConfig(char_ngram_max=4, text_stats=True)


class ChoiceRouter(Router):
    """A user router that picks one model per query (``choose``): one operating point."""

    def __init__(self, user, name: str):
        self.user, self.name = user, name

    def fit(self, train: Split, val: Split) -> ChoiceRouter:
        super().fit(train, val)
        self.user.fit(train, val)
        return self

    def knobs(self, q: Queries) -> np.ndarray:
        return np.zeros(1)

    def route(self, q: Queries, knob: float) -> Decision:
        choice = np.asarray(self.user.choose(q))
        m = len(self.models)
        if choice.shape != (len(q.x),) or not np.issubdtype(choice.dtype, np.integer) or (
                choice.size and (choice.min() < 0 or choice.max() >= m)):
            raise _user_error(self.name, f"choose() must return {len(q.x)} model indices in [0, {m}); got "
                              f"{choice.dtype} array of shape {choice.shape}")
        return Decision(choice, _one_hot(choice, m))


class _UserPredictor:
    """A user's quality predictor (``fit``, ``predict``), checked, for a :class:`UtilityRouter`."""

    fitted = False

    def __init__(self, user, name: str):
        self.user, self.name = user, name

    def fit(self, train: Split, val: Split) -> _UserPredictor:
        self.user.fit(train, val)
        self.fitted = True
        return self

    def predict(self, q: Queries) -> np.ndarray:
        qhat = np.asarray(self.user.predict(q), dtype=np.float64)
        if qhat.shape != (len(q.x), self.models) or not np.isfinite(qhat).all():
            raise _user_error(self.name, f"predict() must return a finite [{len(q.x)}, {self.models}] array; got "
                              f"shape {qhat.shape}")
        return qhat


class _UserUtilityRouter(UtilityRouter):
    def fit(self, train: Split, val: Split) -> UtilityRouter:
        self.predictor.models = len(train.models)
        return super().fit(train, val)


def _user_error(name: str, problem: str):
    from routerlab.config import ConfigError

    return ConfigError("--router", f"{name}: {problem}")


def load_router(spec: str) -> Router:
    """A user's router from ``"module:attr"`` (``module`` importable, or a path to a ``.py`` file).

    ``attr`` names a class (called with no arguments), a function of no arguments, or an
    instance. The object follows one of three protocols, checked in this order:

    1. a :class:`Router` subclass instance: used as is (``fit``, ``knobs``, ``route``);
    2. ``fit(train, val)`` and ``predict(queries) -> [Q, M]`` predicted quality of each
       model (columns in the table's model order): routed like the built-in predictors,
       ``argmax_m qhat - lam * mean train cost``, over a sweep of ``lam`` (a full curve);
    3. ``fit(train, val)`` and ``choose(queries) -> [Q]`` model indices: one operating point.

    ``train`` and ``val`` are :class:`Split` (features ``x``, ``tasks``, ``quality`` and
    ``cost`` as ``[Q, M]``, ``models``); ``queries`` is :class:`Queries` (``x``, ``tasks``
    only: a router never sees the outcomes of the queries it routes). The name shown is the
    object's ``name`` attribute, else ``attr``. Example, a router that always picks the
    cheapest model on train::

        class Cheapest:
            name = "cheapest"
            def fit(self, train, val):
                self.j = int(train.cost.mean(axis=0).argmin())
            def choose(self, queries):
                return np.full(len(queries.x), self.j)
    """
    import importlib
    import importlib.util
    import sys

    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise _user_error(spec, "expected MODULE:ATTR (e.g. my_routers:MyRouter or path/to/file.py:MyRouter)")
    try:
        if module_name.endswith(".py"):
            path = module_name
            name = f"routerlab_user_{abs(hash(path))}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 -- the user's module: any failure to import is one line
        raise _user_error(spec, f"cannot import {module_name!r}: {type(err).__name__}: {err}") from None
    if not hasattr(module, attr):
        raise _user_error(spec, f"module {module_name!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "fit")):
        try:
            obj = obj()
        except TypeError as err:
            raise _user_error(spec, f"calling {attr} with no arguments failed: {err}") from None
    name = str(getattr(obj, "name", None) or attr)
    if isinstance(obj, Router):
        return obj
    if not callable(getattr(obj, "fit", None)):
        raise _user_error(spec, "the router has no fit(train, val) method")
    if callable(getattr(obj, "predict", None)):
        return _UserUtilityRouter(_UserPredictor(obj, name), name=name)
    if callable(getattr(obj, "choose", None)):
        return ChoiceRouter(obj, name)
    raise _user_error(spec, "the router needs predict(queries) -> [Q, M] or choose(queries) -> [Q]; it has neither")
