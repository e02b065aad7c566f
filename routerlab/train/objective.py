"""Training objectives of the toy LM: next-byte prediction (decoder) and masked bytes (encoder).

``next_token`` (the causal decoder, ``LMConfig.causal=True``)
    Inputs ``tokens[:, :-1]``, targets ``tokens[:, 1:]``; the loss is the mean cross-entropy
    over every position.
``masked`` (the bidirectional encoder, ``LMConfig.causal=False``; BERT-style)
    The sequence is the window's first ``T`` bytes, ``tokens[:, :-1]`` (its last byte is
    unused). In each sequence exactly ``m = max(1, round(mask_rate * T))`` positions, drawn
    uniformly without replacement (:func:`mask_positions`), are replaced by :data:`MASK_ID`;
    the model sees the rest of the sequence on both sides and predicts the original bytes
    there. The loss is the mean cross-entropy over the masked positions only (every sequence
    has ``m`` of them, so the per-sequence mean over masked positions, averaged over
    sequences, is the mean over all masked positions). Unlike BERT, every chosen position
    becomes ``MASK`` (no 10% random / 10% unchanged): the loss is only read there anyway.

Keys. Training masks come from the named stream ``("mask", step)`` of the run's seed
(:class:`routerlab.rng.KeyStreams`), independent of the ``data`` and ``router_noise``
streams. Evaluation masks come from :func:`eval_mask_key`: a fixed stream that does not
depend on the run's seed, folded with the index of the evaluation batch within its split, so
runs with the same evaluation batching (batch size, batches per domain, domains; every
variant and seed of a study) are evaluated on the same masked positions of the same windows.
Change the batching and the masks change with it.

Masked-byte losses (nats/byte) are not comparable with next-byte losses: the encoder sees
both sides of a gap and predicts only 15% of the bytes.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from routerlab.models.corpus import VOCAB_SIZE, Corpus
from routerlab.rng import stream_key

__all__ = [
    "Objective",
    "OBJECTIVES",
    "MASK_ID",
    "EVAL_MASK_SEED",
    "masked_count",
    "mask_positions",
    "apply_mask",
    "masked_cross_entropy",
    "eval_mask_key",
    "eval_mask_keys",
    "check_mask_id",
]

Objective = Literal["next_token", "masked"]
OBJECTIVES: tuple[str, ...] = ("next_token", "masked")

#: The reserved MASK token: 127 (ASCII DEL). The corpus holds only printable ASCII (32..126)
#: and ``"\n"`` (10), so 127 never occurs in the data (:func:`check_mask_id` verifies it).
MASK_ID = VOCAB_SIZE - 1

#: Evaluation masks use this seed whatever the run's seed is (see the module doc).
EVAL_MASK_SEED = 0


def masked_count(length: int, rate: float) -> int:
    """Masked positions per sequence of ``length``: ``max(1, round(rate * length))``."""
    return max(1, round(rate * length))


def mask_positions(key: jax.Array, shape: tuple[int, int], rate: float) -> jax.Array:
    """``bool[B, T]`` with exactly :func:`masked_count` ``(T, rate)`` True entries per row, at
    positions drawn uniformly without replacement (the top ``m`` of i.i.d. uniform scores)."""
    batch, length = shape
    count = masked_count(length, rate)
    _, index = jax.lax.top_k(jax.random.uniform(key, (batch, length)), count)  # [B, m], distinct per row
    return jnp.zeros((batch, length), bool).at[jnp.arange(batch)[:, None], index].set(True)


def apply_mask(tokens: jax.Array, mask: jax.Array) -> jax.Array:
    """``tokens`` with the masked positions replaced by :data:`MASK_ID`."""
    return jnp.where(mask, jnp.asarray(MASK_ID, tokens.dtype), tokens)


def masked_cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B]`` mean cross-entropy (nats) of ``logits[B, T, V]`` against ``targets[B, T]`` over
    the positions where ``mask[B, T]`` is True; unmasked positions do not count at all."""
    ce_tok = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    weight = mask.astype(jnp.float32)
    return jnp.sum(jnp.where(mask, ce_tok, 0.0), axis=1) / jnp.sum(weight, axis=1)


def eval_mask_key(index: int) -> jax.Array:
    """The mask key of the ``index``-th evaluation batch of a split (same for every run and seed)."""
    return stream_key(EVAL_MASK_SEED, "eval_mask", index)


def eval_mask_keys(count: int) -> jax.Array:
    """``[count]`` keys: :func:`eval_mask_key` of batches ``0 .. count - 1``."""
    return jnp.stack([eval_mask_key(i) for i in range(count)])


def check_mask_id(corpus: Corpus) -> None:
    """Raise ``ValueError`` if :data:`MASK_ID` occurs in any window of ``corpus``."""
    for split, windows in corpus.windows.items():
        hits = np.flatnonzero(np.any(windows == MASK_ID, axis=1))
        if hits.size:
            raise ValueError(f"MASK_ID {MASK_ID} occurs in the {split!r} split (window {int(hits[0])}); "
                             "the masked objective needs a token id the data never uses")
