"""A planted routing log: which model is best depends on the task, which shows in the prompt."""

import numpy as np
import pytest

from routerlab.data.schema import RoutingMatrices, assign_splits

MODELS = ("small-math", "small-code", "large")
WORDS = {"math": ["integral", "sum", "prime", "equation", "matrix"], "code": ["python", "loop", "bug", "compile", "list"]}


def planted_matrices(n: int = 900, seed: int = 0, models=MODELS) -> RoutingMatrices:
    """Queries of two tasks; ``small-math`` is right on math, ``small-code`` on code, ``large``
    on 80% of everything at 10x the price. The task's words appear in every prompt."""
    rng = np.random.default_rng(seed)
    tasks = np.where(rng.random(n) < 0.5, "math", "code").astype(object)
    prompts = np.array(
        [" ".join(rng.choice(WORDS[t], 4)) + f" item{rng.integers(0, 50)}" for t in tasks], dtype=object
    )
    is_math = tasks == "math"
    quality = np.stack(
        [
            np.where(is_math, rng.random(n) < 0.95, rng.random(n) < 0.1),
            np.where(is_math, rng.random(n) < 0.1, rng.random(n) < 0.95),
            rng.random(n) < 0.8,
        ],
        axis=1,
    ).astype(np.float64)
    cost = np.stack([np.full(n, 1.0), np.full(n, 1.2), np.full(n, 10.0)], axis=1) * 1e-3
    cols = [MODELS.index(m) for m in models]
    quality, cost = quality[:, cols], cost[:, cols]
    cost = cost * (1 + 0.1 * rng.random((n, 1)))  # per-query cost varies with the prompt
    ids = np.array([f"q{i}" for i in range(n)], dtype=object)
    return RoutingMatrices(ids, tuple(models), tasks, prompts, assign_splits(ids, seed), quality, cost)


@pytest.fixture(scope="session")
def planted() -> RoutingMatrices:
    return planted_matrices()


@pytest.fixture(scope="session")
def make_planted():
    """The factory, for other sizes, seeds or model subsets."""
    return planted_matrices
