"""The masked-byte objective: mask positions and rate, the loss at masked positions only,
fixed evaluation masks, a MASK id the data never uses, and objective/model validation."""

import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.config import ConfigError, from_dict
from routerlab.models import CorpusConfig, LMConfig
from routerlab.models.corpus import build_corpus
from routerlab.models.lm import LM
from routerlab.moe import MoEConfig
from routerlab.train import LMRunConfig, TrainConfig, lm_loss, split_model
from routerlab.train.objective import (
    MASK_ID,
    apply_mask,
    check_mask_id,
    eval_mask_key,
    eval_mask_keys,
    mask_positions,
    masked_count,
    masked_cross_entropy,
)


def test_mask_positions_exact_count_distinct_and_uniform():
    mask = np.asarray(mask_positions(jax.random.key(0), (4096, 32), 0.15))
    # round(0.15 * 32) = round(4.8) = 5 positions in every row, so the rate is 5/32 = 0.156.
    assert masked_count(32, 0.15) == 5 and masked_count(16, 0.15) == 2 and masked_count(4, 0.1) == 1
    assert (mask.sum(axis=1) == 5).all()
    # Each position is masked with probability 5/32; over 4096 rows the standard error is
    # sqrt(p (1 - p) / 4096) = 0.0057, so every position lies within 0.03 of it.
    np.testing.assert_allclose(mask.mean(axis=0), 5 / 32, atol=0.03)
    other = np.asarray(mask_positions(jax.random.key(1), (4096, 32), 0.15))
    assert not np.array_equal(mask, other)


def test_apply_mask_replaces_only_masked_positions():
    tokens = jnp.array([[65, 66, 67, 68]])
    mask = jnp.array([[False, True, False, True]])
    np.testing.assert_array_equal(apply_mask(tokens, mask), [[65, MASK_ID, 67, MASK_ID]])


def test_masked_cross_entropy_hand_worked():
    # Two classes, three positions. Position 1 is the only masked one: logits (0, 0) with
    # target 0 give CE log 2. Positions 0 and 2 have CE 100 (logits (0, 100), target 0),
    # and would dominate if they counted.
    logits = jnp.array([[[0.0, 100.0], [0.0, 0.0], [0.0, 100.0]]])
    targets = jnp.array([[0, 0, 0]])
    ce = masked_cross_entropy(logits, targets, jnp.array([[False, True, False]]))
    np.testing.assert_allclose(ce, [math.log(2)], rtol=1e-6)
    # Masking positions 1 and 2: (log 2 + 100) / 2.
    ce = masked_cross_entropy(logits, targets, jnp.array([[False, True, True]]))
    np.testing.assert_allclose(ce, [(math.log(2) + 100) / 2], rtol=1e-6)


def test_lm_loss_masked_reads_only_masked_positions():
    cfg = LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=8, d_ff=16, causal=False)
    graphdef, params, rest = split_model(nnx.eval_shape(lambda: LM(cfg, rngs=nnx.Rngs(0))))
    params, rest = jax.jit(lambda: split_model(LM(cfg, rngs=nnx.Rngs(0)))[1:])()  # one compiled init
    tokens = jax.random.randint(jax.random.key(3), (4, 9), 32, 127)
    key = jax.random.key(5)
    masked_loss = jax.jit(lambda p, r, t, k: lm_loss(graphdef, p, r, t, None, k, objective="masked", mask_rate=0.25))
    loss, (ce, _, _, ce_seq) = masked_loss(params, rest, tokens, key)
    # By hand: the model's logits on the masked sequence, CE at the 2 masked positions per row.
    mask = mask_positions(key, (4, 8), 0.25)
    x = tokens[:, :-1]
    logits, _ = jax.jit(lambda p, r, t: nnx.merge(graphdef, p, r)(t))(params, rest, jnp.where(mask, MASK_ID, x))
    logp = jax.nn.log_softmax(logits)
    ce_tok = -jnp.take_along_axis(logp, x[..., None], axis=-1)[..., 0]
    want = np.asarray(ce_tok)[np.asarray(mask)].reshape(4, 2).mean(axis=1)
    np.testing.assert_allclose(ce_seq, want, rtol=1e-5)
    assert float(ce) == pytest.approx(float(np.asarray(ce_tok)[np.asarray(mask)].mean()), rel=1e-5)
    assert float(loss) == pytest.approx(float(ce))  # dense: no auxiliary loss
    assert not np.isclose(float(ce), float(ce_tok.mean()))  # all positions would give another number
    with pytest.raises(ValueError, match="mask_key"):
        lm_loss(graphdef, params, rest, tokens, None, None, objective="masked")


def test_eval_masks_are_fixed_and_differ_by_batch():
    a, b = mask_positions(eval_mask_key(0), (8, 32), 0.15), mask_positions(eval_mask_key(0), (8, 32), 0.15)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, mask_positions(eval_mask_key(1), (8, 32), 0.15))
    keys = eval_mask_keys(3)
    np.testing.assert_array_equal(jax.random.key_data(keys[2]), jax.random.key_data(eval_mask_key(2)))


def test_mask_id_never_occurs_in_the_corpus():
    corpus = build_corpus(CorpusConfig(bytes_per_domain=20_000), 16)
    check_mask_id(corpus)
    used = set(np.unique(np.concatenate([w.ravel() for w in corpus.windows.values()])).tolist())
    assert used <= {10} | set(range(32, 127)) and MASK_ID == 127
    corrupt = corpus.windows["val"].copy()
    corrupt[3, 5] = MASK_ID
    with pytest.raises(ValueError, match=r"MASK_ID 127 occurs in the 'val' split \(window 3\)"):
        check_mask_id(SimpleNamespace(windows={**corpus.windows, "val": corrupt}))


def test_objective_must_suit_the_model():
    encoder = LMConfig(causal=False)
    with pytest.raises(ConfigError, match=r"^train.objective: 'next_token' needs a causal model"):
        LMRunConfig(model=encoder)
    with pytest.raises(ConfigError, match=r"^train.objective: 'masked' needs a bidirectional model"):
        LMRunConfig(train=TrainConfig(objective="masked"))
    with pytest.raises(ConfigError, match=r"^mask_rate: must be in \(0, 1\)"):
        TrainConfig(objective="masked", mask_rate=0.0)
    with pytest.raises(ConfigError, match=r"^train.objective: must be one of .next_token., .masked."):
        from_dict(LMRunConfig, {"train": {"objective": "mlm"}})
    ok = from_dict(LMRunConfig, {"model": {"causal": False}, "train": {"objective": "masked"}})
    assert ok.train.mask_rate == 0.15 and not ok.model.causal


def test_token_mixing_routers_need_the_encoder():
    for router, extra in (("expert_choice", {"capacity_factor": 1.0}), ("soft", {}), ("sinkhorn", {})):
        moe = MoEConfig(d_model=64, router=router, top_k=1, renormalize=False, **extra)
        with pytest.raises(ConfigError, match="^moe.router: this is a causal decoder"):
            LMConfig(ffn="moe", moe=moe)
        assert LMConfig(ffn="moe", moe=moe, causal=False).moe.router == router
