"""The fleet_routing study's config and the features every router sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from routerlab.config import check
from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.fleet import FleetConfig
from routerlab.fleet.routers import Split, one_blas_thread
from routerlab.fleet.shipped import SHIPPED_LOGS
from routerlab.rundir import RunDir

__all__ = ["FleetRoutingConfig", "COST_MODELS", "char_features", "splits_of"]

#: The three cost models, side by side: the seed's price list (USD), forward FLOPs per query
#: (parameters x tokens, :mod:`routerlab.models.accounting`) and latency measured in the run.
COST_MODELS = ("price", "flops", "latency")



@dataclass(frozen=True)
class FleetRoutingConfig:
    """Attributes:
      fleet: the fleet (shared with the other fleet experiments at the same scale).
      unit: cost column of the log: ``usd`` (the seed's price list) or ``flops``.
      feature_dim: SVD dimension of the character TF-IDF features.
      n_boot: bootstrap resamples per statistic.
      steps: optimiser steps of the JAX quality predictors (MLP, MF).
      bandit_rounds: rounds of each online replay (0 = no bandits).
      bandit_seeds: bandit seeds per fleet seed.
      lams: points of the ``lam`` grid; ``lam * (dearest - cheapest mean cost)`` spans 0..2.
      budget_fraction: the global budget as a fraction of the reference model's cost.
      target: the quality target, a fraction of the reference model's quality (RouteLLM's 95%).
      one_pass_orders: random orders of the test (and val) queries for the one-pass bandit.
      latency_repeats: timed repeats (median) of each architecture's forward pass.
      real_datasets: RouteLLM logs (MMLU, GSM8K; MT-Bench is dropped: its 80 questions leave
        ~8 test questions per split) on which the study leads, when the files are present.
      real_seeds: split seeds of the RouteLLM logs.
      fleet_log: where the fleet's routing logs come from: ``""`` (default) trains ``fleet`` (or
        reuses its cache); ``"shipped:quick"`` evaluates the routers on the quick fleet's logs
        shipped with routerlab (:mod:`routerlab.fleet.shipped`: no training, checksums verified;
        ``fleet`` is then unused and the recorded latency and chance rows come with the log).
      size_measure, size_alpha: the fleet's size control that gates S5, as
        specialists_vs_generalists reads it (``exact_match`` or ``answer_nll``; its error rate).
    """

    fleet: FleetConfig = field(default_factory=FleetConfig)
    unit: str = "usd"
    feature_dim: int = 32
    n_boot: int = 300
    steps: int = 300
    bandit_rounds: int = 2000
    bandit_seeds: int = 3
    lams: int = 9
    budget_fraction: float = 0.25
    target: float = 0.95
    one_pass_orders: int = 5
    latency_repeats: int = 7
    real_datasets: tuple[str, ...] = ("mmlu", "gsm8k")
    real_seeds: tuple[int, ...] = (0, 1, 2)
    fleet_log: str = ""
    size_measure: str = "exact_match"
    size_alpha: float = 0.05

    def __post_init__(self):
        check(self.unit in ("usd", "flops"), "unit", f"must be usd or flops; got {self.unit!r}")
        from routerlab.studies.fleet_specialists.study import check_size_measure  # the one list of measures

        check_size_measure(self.size_measure)
        check(0 < self.size_alpha < 1, "size_alpha", f"must be in (0, 1); got {self.size_alpha}")
        check(self.feature_dim >= 2, "feature_dim", f"must be >= 2; got {self.feature_dim}")
        check(0 < self.target <= 1, "target", f"must be in (0, 1]; got {self.target}")
        check(self.one_pass_orders >= 2, "one_pass_orders", f"must be >= 2; got {self.one_pass_orders}")
        check(self.latency_repeats >= 5, "latency_repeats", f"must be >= 5 (a median); got {self.latency_repeats}")
        for d in self.real_datasets:
            check(d in ("mmlu", "gsm8k"), "real_datasets",
                  f"must hold mmlu and/or gsm8k (MT-Bench's ~8 test questions per split are too few); got {d!r}")
        check(self.n_boot >= 10, "n_boot", f"must be >= 10; got {self.n_boot}")
        check(self.bandit_rounds >= 0 and self.bandit_rounds % 100 == 0, "bandit_rounds",
              "must be 0 or a multiple of 100")
        check(self.bandit_seeds >= 1 and self.lams >= 2, "bandit_seeds", "need >= 1 bandit seed and >= 2 lams")
        check(0 < self.budget_fraction <= 1, "budget_fraction", "must be in (0, 1]")
        check(self.fleet_log == "" or self.fleet_log.removeprefix("shipped:") in SHIPPED_LOGS, "fleet_log",
              f"must be '' (train the fleet) or one of {', '.join('shipped:' + n for n in SHIPPED_LOGS)}; "
              f"got {self.fleet_log!r}")



def _runs_root(rundir: RunDir) -> Path:
    return rundir.path.parent.parent



def char_features(m: RoutingMatrices, dim: int, seed: int = 0) -> np.ndarray:
    """Character 1-3-gram TF-IDF -> truncated SVD -> L2 rows, plus ``log1p(len) / 10``; fitted on train only."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    train = np.asarray(m.splits == "train")
    prompts = [str(p) for p in m.prompts]
    with one_blas_thread():
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, lowercase=False)
        tf_train = vec.fit_transform([p for p, t in zip(prompts, train, strict=True) if t])
        svd = TruncatedSVD(min(dim, tf_train.shape[1] - 1), random_state=seed).fit(tf_train)
        x = normalize(svd.transform(vec.transform(prompts)))
    length = np.log1p([len(p) for p in prompts])[:, None] / 10
    return np.concatenate([x, length], axis=1).astype(np.float32)



def splits_of(m: RoutingMatrices, x: np.ndarray) -> tuple[Split, Split, Split]:
    """The (train, val, test) splits of ``m`` with its features ``x``."""
    return tuple(Split.of(m, x, s) for s in ("train", "val", "test"))  # type: ignore[return-value]
