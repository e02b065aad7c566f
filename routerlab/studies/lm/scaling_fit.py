"""Scaling law of routed LMs (Clark et al. 2022): a grid of dense widths x expert counts.

Clark et al.'s bilinear law ``log L = a log N + b log E_hat + c log N log E_hat + d`` is fitted
by :func:`fit_bilinear` to each grid point's declared measure (``cfg.measure``: the test loss
by default, or the fact loss), with intervals from
:func:`bootstrap_bilinear` and from a Student-t interval over per-seed fits.

``E_hat`` (:func:`e_hat`) saturates the expert count with two constants, ``E_start`` and
``E_max``, which Clark et al. fit per routing technique; their published ones are S-BASE's.
The router trained here is a Switch top-1 MoE, for which they give none, so the study fits the
constants for it (:func:`fit_e_constants`: profile least squares over a log-spaced grid, the
bilinear coefficients refitted at every grid point, as Clark et al. fit theirs) whenever the
grid has >= 3 expert counts (with 2 every pair of constants fits equally well), and refits them
in every bootstrap resample and every per-seed fit, so that the intervals carry their
uncertainty. The fit with Clark et al.'s S-BASE constants is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import measure_name, measure_of
from routerlab.studies.lm.study import Study
from routerlab.train.config import LMRunConfig

__all__ = ["ScalingFitConfig", "STUDY", "e_hat", "fit_bilinear", "bootstrap_bilinear", "fit_e_constants",
           "E_START_GRID", "E_MAX_GRID"]


@dataclass(frozen=True)
class ScalingFitConfig(LMStudyConfig):
    """A grid of dense widths (``d_ff = ffn_mult * d_model``) times expert counts (``1`` = dense).

    ``e_start``, ``e_max``: Clark et al. 2022's saturation constants of :func:`e_hat` for S-BASE,
    the comparison fit. ``fit_e_constants``: also fit the constants for the router trained here
    (with >= 3 expert counts; the verdict then reads that fit). ``bootstrap``: resamples.
    """

    widths: tuple[int, ...] = (8, 16, 32, 64)  # N 2.1k-74k: 1.55 decades at the quick sizes
    expert_counts: tuple[int, ...] = (1, 4, 16)
    ffn_mult: int = 2
    e_start: float = 1.85
    e_max: float = 315.0
    fit_e_constants: bool = True
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.widths) >= 2 and len(self.expert_counts) >= 2, "widths",
              "the bilinear law needs at least 2 widths and 2 expert counts")
        check(all(w % self.n_heads == 0 and (w // self.n_heads) % 2 == 0 for w in self.widths), "widths",
              f"each must divide into n_heads={self.n_heads} heads of even size; got {self.widths}")
        check(1 < self.e_start < self.e_max, "e_start", f"need 1 < e_start < e_max; got {self.e_start}, {self.e_max}")
        check(self.bootstrap >= 10, "bootstrap", f"must be >= 10; got {self.bootstrap}")
        check(self.lr_policy == "per_arm", "lr_policy",
              "must be per_arm: scaling_fit's arms change d_model, which the transfer rule ignores, and under "
              "standard parametrisation the best rate moves with width (it would bias the fitted exponent); "
              f"got {self.lr_policy!r}")



def e_hat(num_experts: float | np.ndarray, e_start: float = 1.85, e_max: float = 315.0) -> np.ndarray:
    """Clark et al. 2022's saturating expert count (their Eq. 9):

    ``1 / E_hat = 1 / (E - 1 + (1/E_start - 1/E_max)^-1) + 1 / E_max``.

    ``E_hat(1) = E_start`` and ``E_hat -> E_max`` as ``E -> inf``: the first experts help little
    more than one, and the gain saturates. Defaults are Clark et al.'s S-BASE fit.
    """
    e = np.asarray(num_experts, np.float64)
    return 1.0 / (1.0 / (e - 1.0 + 1.0 / (1.0 / e_start - 1.0 / e_max)) + 1.0 / e_max)


def fit_bilinear(n: Sequence[float], e_hat_values: Sequence[float], loss: Sequence[float]) -> np.ndarray:
    """Least-squares ``(a, b, c, d)`` of ``log L = a log N + b log E_hat + c log N log E_hat + d``."""
    ln, le = np.log(np.asarray(n, np.float64)), np.log(np.asarray(e_hat_values, np.float64))
    design = np.stack([ln, le, ln * le, np.ones_like(ln)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(np.asarray(loss, np.float64)), rcond=None)
    return coef


#: The grids :func:`fit_e_constants` searches (log-spaced; Clark et al.'s fits, 1.8-4.4 for
#: ``E_start`` and 110-4,000 for ``E_max`` over their three techniques, lie inside them).
E_START_GRID = np.geomspace(1.02, 30.0, 48)
E_MAX_GRID = np.geomspace(8.0, 20_000.0, 48)


def fit_e_constants(n: Sequence[float], num_experts: Sequence[float], losses: np.ndarray,
                    starts: np.ndarray = E_START_GRID, maxes: np.ndarray = E_MAX_GRID) -> dict[str, np.ndarray]:
    """Profile least squares of ``(E_start, E_max)`` with the bilinear law refitted at each pair.

    ``n``, ``num_experts``: ``[P]`` per point; ``losses``: ``[P]`` or ``[P, R]`` (``R`` loss
    vectors fitted at once, e.g. bootstrap resamples). Every pair ``E_start < E_max`` of the
    grids is tried; the one with the least squared residual of ``log L`` wins per vector.
    Returns ``e_start``, ``e_max``, ``coef [R, 4]`` (a, b, c, d), ``sse [R]`` and ``at_edge [R]``
    (the best pair on a grid's boundary: the optimum may lie outside).
    """
    y = np.log(np.asarray(losses, np.float64))
    y = y[:, None] if y.ndim == 1 else y
    ln = np.log(np.asarray(n, np.float64))
    s, m = np.meshgrid(starts, maxes, indexing="ij")
    ok = s < m
    le = np.log(e_hat(np.asarray(num_experts, np.float64)[None, :], s[ok][:, None], m[ok][:, None]))  # [G, P]
    design = np.stack([np.broadcast_to(ln, le.shape), le, ln * le, np.ones_like(le)], axis=2)  # [G, P, 4]
    pinv = np.linalg.pinv(design)  # [G, 4, P]
    chunks = [np.arange(i, min(i + 64, y.shape[1])) for i in range(0, y.shape[1], 64)]  # bounded memory
    sse = np.concatenate([((design @ (pinv @ y[:, c]) - y[:, c]) ** 2).sum(axis=1) for c in chunks], axis=1)
    best = sse.argmin(axis=0)  # [R]
    cols = np.arange(y.shape[1])
    coef = np.einsum("rkp,pr->rk", pinv[best], y)  # each vector's coefficients at its best pair
    si, mi = (idx[ok][best] for idx in np.meshgrid(np.arange(len(starts)), np.arange(len(maxes)), indexing="ij"))
    at_edge = (si == 0) | (si == len(starts) - 1) | (mi == 0) | (mi == len(maxes) - 1)
    return {"e_start": s[ok][best], "e_max": m[ok][best], "coef": coef, "sse": sse[best, cols], "at_edge": at_edge}


def bootstrap_bilinear(groups: Sequence[tuple[float, float, Sequence[float]]], resamples: int,
                       seed: int = 0) -> dict[str, Any]:
    """Fit and 95% percentile intervals of the bilinear law over a grid.

    ``groups``: ``(N, E_hat, losses over seeds)`` per grid point. Each resample redraws, at
    every grid point independently, as many seeds as it has with replacement, and refits.
    """
    rng = np.random.default_rng(seed)
    n = np.repeat([g[0] for g in groups], [len(g[2]) for g in groups])
    e = np.repeat([g[1] for g in groups], [len(g[2]) for g in groups])
    coef = fit_bilinear(n, e, np.concatenate([np.asarray(g[2], np.float64) for g in groups]))
    draws = np.empty((resamples, 4))
    for i in range(resamples):
        losses = np.concatenate([rng.choice(np.asarray(g[2], np.float64), size=len(g[2])) for g in groups])
        draws[i] = fit_bilinear(n, e, losses)
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return {name: {"estimate": float(coef[j]), "lo": float(lo[j]), "hi": float(hi[j])}
            for j, name in enumerate("abcd")}


def _variants(cfg: ScalingFitConfig) -> list[tuple[str, LMRunConfig]]:
    out = []
    for w in cfg.widths:
        sized = replace(cfg, d_model=w, d_ff=cfg.ffn_mult * w)
        for e in cfg.expert_counts:
            out.append((f"d={w},E={e}", sized.run_config(None if e == 1 else sized.moe(num_experts=e))))
    return out


def _resampled(groups: Sequence[tuple[float, float, Sequence[float]]], resamples: int, seed: int) -> np.ndarray:
    """``[P, R]`` losses: every grid point's seeds redrawn with replacement (:func:`bootstrap_bilinear`'s draws)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.concatenate([rng.choice(np.asarray(g[2], np.float64), size=len(g[2])) for g in groups])
                     for _ in range(resamples)], axis=1)


def _fitted_constants(cfg: ScalingFitConfig, raw: list[tuple[float, float, list[float]]]) -> dict[str, Any]:
    """The bilinear law with ``(E_start, E_max)`` fitted (:func:`fit_e_constants`) to the point
    estimate, to every bootstrap resample and to every seed: the intervals carry the constants'
    uncertainty."""
    n = np.repeat([g[0] for g in raw], [len(g[2]) for g in raw])
    e = np.repeat([g[1] for g in raw], [len(g[2]) for g in raw])
    point = fit_e_constants(n, e, np.concatenate([np.asarray(g[2], np.float64) for g in raw]))
    boot = fit_e_constants(n, e, _resampled(raw, cfg.bootstrap, cfg.seed))
    lo, hi = np.percentile(boot["coef"], [2.5, 97.5], axis=0)
    fit = {name: {"estimate": float(point["coef"][0, j]), "lo": float(lo[j]), "hi": float(hi[j])}
           for j, name in enumerate("abcd")}
    seeds = min(len(g[2]) for g in raw)
    per_seed = fit_e_constants([g[0] for g in raw], [g[1] for g in raw],
                               np.array([[g[2][i] for i in range(seeds)] for g in raw]))
    constants = {"source": "fitted to this grid (Switch top-1)", "e_start": float(point["e_start"][0]),
                 "e_max": float(point["e_max"][0]), "at_grid_edge": bool(point["at_edge"][0]),
                 "e_start_ci": [float(x) for x in np.percentile(boot["e_start"], [2.5, 97.5])],
                 "e_max_ci": [float(x) for x in np.percentile(boot["e_max"], [2.5, 97.5])],
                 "sse": float(point["sse"][0])}
    return {"fit": fit, "fit_per_seed_t": {name: mean_ci(per_seed["coef"][:, j])._asdict() for j, name in enumerate("abcd")},
            "e_constants": constants}


def _clark_constants(cfg: ScalingFitConfig, raw: list[tuple[float, float, list[float]]]) -> dict[str, Any]:
    """The bilinear law with Clark et al.'s S-BASE ``(E_start, E_max)`` (``cfg.e_start``, ``cfg.e_max``)."""
    points = [(n, float(e_hat(e, cfg.e_start, cfg.e_max)), losses) for n, e, losses in raw]
    fit = bootstrap_bilinear(points, cfg.bootstrap, seed=cfg.seed)
    # One fit per seed over the whole grid (seed s of every grid point), then a Student-t
    # interval over seeds: the project's convention, and honest with 3 seeds, where the
    # percentile bootstrap (resampling 3 values) under-covers.
    per_seed = np.array([fit_bilinear([p[0] for p in points], [p[1] for p in points], [p[2][i] for p in points])
                         for i in range(min(len(p[2]) for p in points))])
    n = np.repeat([p[0] for p in points], [len(p[2]) for p in points])
    eh = np.repeat([p[1] for p in points], [len(p[2]) for p in points])
    y = np.log(np.concatenate([np.asarray(p[2], np.float64) for p in points]))
    coef = np.array([fit[k]["estimate"] for k in "abcd"])
    design = np.stack([np.log(n), np.log(eh), np.log(n) * np.log(eh), np.ones_like(y)], axis=1)
    return {"fit": fit, "fit_per_seed_t": {name: mean_ci(per_seed[:, j])._asdict() for j, name in enumerate("abcd")},
            "e_constants": {"source": "Clark et al. 2022, S-BASE", "e_start": cfg.e_start, "e_max": cfg.e_max,
                            "sse": float(((design @ coef - y) ** 2).sum())}}


def _analysis(cfg: ScalingFitConfig, groups: dict[str, list[dict]]) -> dict[str, Any]:
    raw = []
    for w in cfg.widths:
        for e in cfg.expert_counts:
            rows = groups.get(f"d={w},E={e}")
            if rows:
                # N: the dense base model's parameters (Clark et al.), i.e. the E = 1 model's,
                # which the routed models keep as their active parameters up to the router.
                n_base = groups[f"d={w},E={min(cfg.expert_counts)}"][0]["params"]["active"]
                raw.append((float(n_base), float(e), [measure_of(cfg, r) for r in rows]))
    clark = _clark_constants(cfg, raw)
    main = clark
    if len({g[1] for g in raw}) >= 3 and cfg.fit_e_constants:
        fitted = _fitted_constants(cfg, raw)
        k = fitted["e_constants"]
        # Identified only if the bootstrap does not wander over a whole search grid (then the
        # data cannot tell the constants apart, and the coefficients blow up with them).
        spans = [name for name, ci, grid in (("E_start", k["e_start_ci"], E_START_GRID), ("E_max", k["e_max_ci"], E_MAX_GRID))
                 if ci[0] <= grid[0] and ci[1] >= grid[-1]]
        if spans or k["at_grid_edge"]:
            why = (f"{' and '.join(spans)} bootstrap interval spans its whole search grid" if spans else
                   "the best pair lies on the search grid's edge")
            clark = {**clark, "e_constants": {**clark["e_constants"], "not_identified": {**k, "why": why}}}
            main = clark
        else:
            main = fitted
    ln = np.log([g[0] for g in raw])
    # d log L / d log E_hat = b + c log N: the benefit of routing at each width's N.
    slope = {f"d={w}": main["fit"]["b"]["estimate"] + main["fit"]["c"]["estimate"] * float(np.log(
        groups[f"d={w},E={min(cfg.expert_counts)}"][0]["params"]["active"])) for w in cfg.widths}
    return {**main, "sbase_constants": clark, "routing_slope_by_width": slope,
            "log_n_range": [float(ln.min()), float(ln.max())]}


def _text(cfg: ScalingFitConfig, summary: dict[str, Any]) -> str:
    fit = summary["analysis"]["fit"]
    c_boot, c_t = fit["c"], summary["analysis"]["fit_per_seed_t"]["c"]
    c = {"lo": min(c_boot["lo"], c_t["lo"]), "hi": max(c_boot["hi"], c_t["hi"])}  # both intervals must agree
    if c["lo"] > 0:
        verdict = "shrinks with N (c > 0, interval excludes 0), as Clark et al. found"
    elif c["hi"] < 0:
        verdict = "grows with N (c < 0, interval excludes 0), unlike Clark et al."
    else:
        verdict = "is not resolved: the interval of c includes 0"
    terms = ", ".join(f"{k} = {v['estimate']:+.4f} [{v['lo']:+.4f}, {v['hi']:+.4f}]" for k, v in fit.items())
    slopes = ", ".join(f"{k}: {v:+.4f}" for k, v in summary["analysis"]["routing_slope_by_width"].items())
    k = summary["analysis"]["e_constants"]
    if "e_start_ci" in k:
        edge = " (at the search grid's edge: the optimum may lie outside)" if k["at_grid_edge"] else ""
        constants = (f"E_start = {k['e_start']:.3g} [{k['e_start_ci'][0]:.3g}, {k['e_start_ci'][1]:.3g}], "
                     f"E_max = {k['e_max']:.3g} [{k['e_max_ci'][0]:.3g}, {k['e_max_ci'][1]:.3g}] {k['source']}{edge}, "
                     "refitted in every resample")
        sb = summary["analysis"]["sbase_constants"]
        also = (f" With Clark et al.'s S-BASE constants (E_start={cfg.e_start:g}, E_max={cfg.e_max:g}) instead: "
                f"c = {sb['fit']['c']['estimate']:+.4f} [{sb['fit']['c']['lo']:+.4f}, {sb['fit']['c']['hi']:+.4f}], "
                f"residual sum of squares {sb['e_constants']['sse']:.3g} against {k['sse']:.3g} fitted.")
    elif "not_identified" in k:
        u = k["not_identified"]
        constants = (f"E_start={cfg.e_start:g}, E_max={cfg.e_max:g} ({k['source']}): the constants fitted to this grid "
                     f"are not identified ({u['why']}: E_start [{u['e_start_ci'][0]:.3g}, {u['e_start_ci'][1]:.3g}], "
                     f"E_max [{u['e_max_ci'][0]:.3g}, {u['e_max_ci'][1]:.3g}]; residual sum of squares {u['sse']:.3g} "
                     f"against {k['sse']:.3g} with S-BASE's)")
        also = ""
    else:
        constants, also = f"E_start={cfg.e_start:g}, E_max={cfg.e_max:g} ({k['source']}; too few expert counts to fit them)", ""
    return (f"Bilinear fit log L = a log N + b log E_hat + c log N log E_hat + d, L the {measure_name(cfg)} "
            f"(95% bootstrap intervals over "
            f"seeds, {cfg.bootstrap} resamples; {constants}): {terms}. "
            f"c from one fit per seed, 95% t-interval: {fmt_ci(MeanCI(**c_t), 4)}. "
            f"d log L / d log E_hat at each width: {slopes}. At this scale the benefit of routing {verdict}.{also}\n")


def _verdict(cfg: ScalingFitConfig, summary: dict[str, Any]) -> str:
    fit = summary["analysis"]["fit"]
    c_boot, c_t = fit["c"], summary["analysis"]["fit_per_seed_t"]["c"]
    lo, hi = min(c_boot["lo"], c_t["lo"]), max(c_boot["hi"], c_t["hi"])
    if lo > 0:
        return "Routing's benefit shrinks with N (c > 0, both intervals exclude 0), as Clark et al. found."
    if hi < 0:
        return "Routing's benefit grows with N (c < 0, both intervals exclude 0), unlike Clark et al."
    return "Whether routing's benefit shrinks with N is not resolved: an interval of c includes 0."


def _setup(cfg: ScalingFitConfig) -> str:
    return (f"Decoder widths d_model in {list(cfg.widths)} (FFN/expert width {cfg.ffn_mult} d_model), "
            f"{cfg.n_layers} layers, context {cfg.seq_len}")


STUDY = Study("scaling_fit", "Scaling law of routed LMs (Clark et al. 2022) over width x experts", ScalingFitConfig,
              _variants, _analysis, _text, _verdict, _setup)
