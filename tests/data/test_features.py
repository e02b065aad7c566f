"""Prompt features: fitted on the train split only, cached by content, no pickle."""

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.data import features as features_mod
from routerlab.data.features import FeatureConfig, feature_key, featurize, fit_featurizer
from routerlab.data.schema import RoutingMatrices


def _matrices(prompts, splits) -> RoutingMatrices:
    n = len(prompts)
    ids = np.array([f"q{i}" for i in range(n)], dtype=object)
    return RoutingMatrices(
        ids, ("a", "b"), np.full(n, "t", dtype=object), np.array(prompts, dtype=object),
        np.array(splits, dtype=object), np.zeros((n, 2)), np.ones((n, 2)),
    )


TRAIN = ["the cat sat on the mat", "a dog ate the bone", "the cat ate fish", "dogs and cats play"] * 5
LOG = _matrices(TRAIN + ["the cat plays", "zebra quantum xylophone"], ["train"] * 20 + ["val", "test"])


@pytest.mark.parametrize("cfg", [FeatureConfig(svd_dim=0, length_feature=False, min_df=1),
                                 FeatureConfig(svd_dim=3, min_df=1), FeatureConfig(kind="hashing", svd_dim=3)])
def test_only_train_prompts_shape_the_features(cfg):
    """Rewriting the val/test prompts leaves every train row unchanged, and words never seen in
    train contribute nothing (the vocabulary, IDF and SVD come from train alone)."""
    x = featurize(LOG, cfg)
    other = _matrices(TRAIN + ["zebra zebra", "completely different words here"], ["train"] * 20 + ["val", "test"])
    np.testing.assert_array_equal(featurize(other, cfg)[:20], x[:20])
    assert x.dtype == np.float32 and x.shape[0] == 22
    if cfg.kind == "tfidf" and cfg.svd_dim == 0:
        assert not x[21].any()  # no train word in "zebra quantum xylophone"
        assert x[20].any()


def test_fit_uses_train_split_and_refuses_without_one():
    pipe = fit_featurizer(np.array(TRAIN, dtype=object), FeatureConfig(svd_dim=0, min_df=1))
    vocabulary = pipe.steps[0][1].vocabulary_
    assert "cat" in vocabulary and "zebra" not in vocabulary
    with pytest.raises(ValueError, match="no queries in split 'train'"):
        featurize(_matrices(["x"], ["test"]))


def test_cache_is_keyed_by_prompts_split_and_config(tmp_path, monkeypatch):
    cfg = FeatureConfig(svd_dim=3, min_df=1)
    x = featurize(LOG, cfg, cache_dir=tmp_path)
    files = list(tmp_path.glob("features-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as cached:  # plain arrays, no pickle
        np.testing.assert_array_equal(cached["x"], x)

    def refuse(*args, **kwargs):
        raise AssertionError("refitted although a cached file matches")

    monkeypatch.setattr(features_mod, "fit_featurizer", refuse)
    np.testing.assert_array_equal(featurize(LOG, cfg, cache_dir=tmp_path), x)
    monkeypatch.undo()

    train = LOG.splits == "train"
    key = feature_key(LOG.prompts, train, cfg)
    moved = train.copy()
    moved[0] = False
    assert feature_key(LOG.prompts, moved, cfg) != key
    assert feature_key(LOG.prompts, train, FeatureConfig(svd_dim=4, min_df=1)) != key
    edited = LOG.prompts.copy()
    edited[-1] = "zebra"
    assert feature_key(edited, train, cfg) != key
    featurize(_matrices(list(edited), list(LOG.splits)), cfg, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("features-*.npz"))) == 2


def test_rows_are_unit_norm_with_a_length_column():
    x = featurize(LOG, FeatureConfig(svd_dim=3, min_df=1))
    np.testing.assert_allclose(np.linalg.norm(x[:20, :-1], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(x[:, -1], np.log1p([len(p) for p in LOG.prompts]) / 10, rtol=1e-6)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="svd_dim"):
        FeatureConfig(kind="hashing", svd_dim=0)
    with pytest.raises(ConfigError, match="ngram_max"):
        FeatureConfig(ngram_max=0)


def test_prompts_too_short_for_word_features_fall_back_to_characters():
    """Id-like prompts ("p 1", "p 2", ...) leave no word of 2+ letters for the word vectoriser;
    the featurizer falls back to character n-grams instead of failing."""
    import numpy as np

    from routerlab.data.features import FeatureConfig, fit_featurizer

    prompts = np.array([f"p {i}" for i in range(40)], dtype=object)
    pipe = fit_featurizer(prompts, FeatureConfig())
    x = pipe.transform(list(prompts))
    assert x.shape[0] == 40 and np.isfinite(np.asarray(x.todense() if hasattr(x, "todense") else x)).all()


def test_prompts_with_no_text_at_all_are_one_line():
    import numpy as np
    import pytest

    from routerlab.data.features import FeatureConfig, fit_featurizer
    from routerlab.data.schema import RoutingLogError

    with pytest.raises(RoutingLogError, match="column 'prompt'"):
        fit_featurizer(np.array(["", " "] * 20, dtype=object), FeatureConfig())
