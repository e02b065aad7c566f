"""Text features of prompts for routers, with no downloads: TF-IDF or feature hashing,
optionally reduced by truncated SVD (latent semantic analysis).

The vectoriser and the SVD are **fitted on the training prompts only**; validation and
test prompts are only transformed, so nothing about them (vocabulary, IDF weights, SVD
directions) leaks into the features. :func:`featurize` returns one dense float32 row per
query of a :class:`~routerlab.data.schema.RoutingMatrices` and caches it as a ``.npz``
(read with ``allow_pickle=False``) keyed by a SHA-256 of the feature config, every prompt
and which prompts were the training set, so a changed split, prompt or setting never
reuses a stale file.

Each row is L2-normalised (after SVD too), so dot products are cosine similarities; with
``length_feature=True`` a last column holds ``log1p(characters) / 10``, prompt length
being a useful signal of difficulty and of input cost. ``char_ngram_max`` adds character
n-grams (within word boundaries, 2 to ``char_ngram_max`` characters) beside the word
n-grams before the SVD: they see numbers, symbols, code and misspellings that a word
vocabulary fitted on train misses. ``text_stats`` appends a few counts of the text
(:data:`TEXT_STATS`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer
from threadpoolctl import threadpool_limits

from routerlab.config import check
from routerlab.data.schema import RoutingLogError, RoutingMatrices

__all__ = ["FeatureConfig", "fit_featurizer", "featurize", "feature_key", "default_cache_dir", "text_stats",
           "TEXT_STATS"]

FEATURE_VERSION = 2  # bump when the computation changes, so old caches are not reused


@dataclass(frozen=True)
class FeatureConfig:
    """How prompts become vectors.

    Attributes:
      kind: ``"tfidf"`` (vocabulary learnt on train) or ``"hashing"`` (a fixed hash of
        n-grams into ``hash_features`` buckets, then IDF weights learnt on train).
      max_features: vocabulary size cap for ``"tfidf"`` (most frequent n-grams on train).
      hash_features: number of hash buckets for ``"hashing"``.
      ngram_max: word n-grams from 1 to ``ngram_max``.
      min_df: an n-gram must occur in at least this many training prompts (``"tfidf"``).
      svd_dim: truncated-SVD dimension; 0 keeps the sparse TF-IDF columns (densified).
      length_feature: append ``log1p(len(prompt)) / 10`` as a last column.
      char_ngram_max: 0 (off) or the longest character n-gram (``"tfidf"`` only); the
        character vocabulary is capped at ``max_features`` too.
      text_stats: append :data:`TEXT_STATS` (after the length column).
      seed: seed of the randomized SVD.
    """

    kind: Literal["tfidf", "hashing"] = "tfidf"
    max_features: int = 50_000
    hash_features: int = 2**18
    ngram_max: int = 2
    min_df: int = 2
    svd_dim: int = 64
    length_feature: bool = True
    char_ngram_max: int = 0
    text_stats: bool = False
    seed: int = 0

    def __post_init__(self):
        check(self.kind in ("tfidf", "hashing"), "kind", f"must be 'tfidf' or 'hashing'; got {self.kind!r}")
        check(self.max_features >= 1, "max_features", f"must be >= 1; got {self.max_features}")
        check(self.hash_features >= 2, "hash_features", f"must be >= 2; got {self.hash_features}")
        check(self.ngram_max >= 1, "ngram_max", f"must be >= 1; got {self.ngram_max}")
        check(self.min_df >= 1, "min_df", f"must be >= 1; got {self.min_df}")
        check(self.svd_dim >= 0, "svd_dim", f"must be >= 0; got {self.svd_dim}")
        check(self.char_ngram_max == 0 or self.char_ngram_max >= 2, "char_ngram_max",
              f"must be 0 (off) or >= 2; got {self.char_ngram_max}")
        check(self.char_ngram_max == 0 or self.kind == "tfidf", "char_ngram_max", "needs kind='tfidf'")
        check(
            self.svd_dim > 0 or self.kind == "tfidf",
            "svd_dim",
            "must be > 0 with kind='hashing' (the hashed matrix is too wide to densify)",
        )


def default_cache_dir() -> Path:
    """``$ROUTERLAB_CACHE``, else ``~/.cache/routerlab``."""
    env = os.environ.get("ROUTERLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "routerlab"


def fit_featurizer(train_prompts: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> Pipeline:
    """A scikit-learn pipeline fitted on ``train_prompts`` only; ``.transform(prompts)`` featurises any text."""
    prompts = [str(p) for p in train_prompts]
    if not prompts:
        raise ValueError("cannot fit text features: no training prompts")
    if cfg.kind == "tfidf":
        # min_df is a count; with very few training prompts fall back to 1 so the vocabulary is not empty.
        min_df = cfg.min_df if len(prompts) >= 10 * cfg.min_df else 1
        words = TfidfVectorizer(ngram_range=(1, cfg.ngram_max), min_df=min_df, max_features=cfg.max_features,
                                sublinear_tf=True, dtype=np.float32)
        if cfg.char_ngram_max:
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, cfg.char_ngram_max), min_df=min_df,
                                    max_features=cfg.max_features, sublinear_tf=True, dtype=np.float32)
            steps = [FeatureUnion([("words", words), ("chars", chars)])]
        else:
            steps = [words]
    else:
        steps = [
            HashingVectorizer(ngram_range=(1, cfg.ngram_max), n_features=cfg.hash_features, alternate_sign=False,
                              norm=None, dtype=np.float32),
            TfidfTransformer(sublinear_tf=True),
        ]
    pipe = make_pipeline(*steps)
    try:
        sparse = pipe.fit_transform(prompts)
    except ValueError as err:  # sklearn: "empty vocabulary" / "After pruning, no terms remain"
        if "vocabulary" not in str(err) and "no terms remain" not in str(err):
            raise
        # Prompts too short or too alike for word features (ids such as "p 1"): characters
        # always give terms, so fall back to character n-grams rather than fail.
        pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=1, sublinear_tf=True,
                                             dtype=np.float32))
        try:
            sparse = pipe.fit_transform(prompts)
        except ValueError:
            raise RoutingLogError("training prompts", "no text to build features from (every prompt is empty "
                                  "or blank)", column="prompt") from None
    if cfg.svd_dim:
        # SVD rank is bounded by the training matrix: n_components < min(n_samples, n_features).
        dim = min(cfg.svd_dim, sparse.shape[0] - 1, sparse.shape[1] - 1)
        if dim >= 1:
            svd = TruncatedSVD(dim, algorithm="randomized", n_iter=4, random_state=cfg.seed)
            # The randomized range finder multiplies thin [n, dim] blocks; one BLAS thread is
            # as fast there and several times faster on a loaded machine (measured: 3 s vs 16 s).
            with threadpool_limits(limits=1, user_api="blas"):
                svd.fit(sparse)
            pipe.steps += [("truncatedsvd", svd), ("normalizer", Normalizer(copy=False))]
    return pipe


def _transform(pipe: Pipeline, prompts: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    x = pipe.transform([str(p) for p in prompts])
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    if cfg.length_feature:
        length = np.log1p(np.array([len(str(p)) for p in prompts], dtype=np.float32)) / 10.0
        x = np.concatenate([x, length[:, None]], axis=1)
    if cfg.text_stats:
        x = np.concatenate([x, text_stats(prompts)], axis=1)
    return x


#: The counts :func:`text_stats` appends, each squashed to about [0, 1].
TEXT_STATS = ("log1p(words) / 10", "digit fraction", "upper-case fraction", "log1p(lines) / 5",
              "log1p(question marks) / 3", "fraction of non-ASCII characters")


def text_stats(prompts: np.ndarray) -> np.ndarray:
    """``[Q, len(TEXT_STATS)]`` float32 statistics of each prompt (see :data:`TEXT_STATS`)."""
    rows = []
    for p in prompts:
        t = str(p)
        n = max(len(t), 1)
        rows.append((np.log1p(len(t.split())) / 10, sum(c.isdigit() for c in t) / n, sum(c.isupper() for c in t) / n,
                     np.log1p(t.count("\n")) / 5, np.log1p(t.count("?")) / 3, sum(ord(c) > 127 for c in t) / n))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(TEXT_STATS))


def feature_key(prompts: np.ndarray, train: np.ndarray, cfg: FeatureConfig) -> str:
    """SHA-256 over the config, every prompt (in order) and the training mask."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": FEATURE_VERSION, **asdict(cfg)}, sort_keys=True).encode())
    for prompt, is_train in zip(prompts, train, strict=True):
        text = str(prompt).encode()
        h.update(len(text).to_bytes(8, "little"))
        h.update(text)
        h.update(b"\x01" if is_train else b"\x00")
    return h.hexdigest()


def featurize(
    m: RoutingMatrices,
    cfg: FeatureConfig = FeatureConfig(),
    *,
    cache_dir: str | Path | None = None,
    train_split: str = "train",
) -> np.ndarray:
    """Features ``[Q, d]`` (float32) of every query of ``m``, fitted on the ``train_split`` prompts.

    With ``cache_dir`` the result is stored as ``<cache_dir>/features-<key>.npz`` and read
    back on the next call with the same prompts, training set and config.
    """
    train = np.asarray(m.splits == train_split)
    if not train.any():
        raise ValueError(f"cannot fit text features: no queries in split {train_split!r}")
    path = None
    if cache_dir is not None:
        key = feature_key(m.prompts, train, cfg)
        path = Path(cache_dir) / f"features-{key[:32]}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["key"]) == key:
                    return cached["x"]
    x = _transform(fit_featurizer(m.prompts[train], cfg), m.prompts, cfg)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, key=np.asarray(key))
        os.replace(tmp, path)
    return x
