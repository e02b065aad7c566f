import jax
import numpy as np

from routerlab.rng import KeyStreams, stream_key


def test_streams_are_stable_and_distinct():
    keys = KeyStreams(0)
    a, b = keys("params"), keys("data")
    same = lambda k1, k2: np.array_equal(jax.random.key_data(k1), jax.random.key_data(k2))  # noqa: E731
    assert same(a, stream_key(0, "params"))
    assert not same(a, b)
    assert not same(keys("data", 1), keys("data", 2))
    assert same(keys("data", 5), jax.random.fold_in(keys("data"), 5))
    assert not same(KeyStreams(1)("params"), a)
