"""Evaluation reads routing on mixed-domain batches (as training sees them) and specialisation on
domain-pure ones. (The sweep path reads the same: tests/studies/test_lm_moe.py compares the two.)"""

from collections import Counter

import jax
import numpy as np
import pytest

from routerlab.models import CorpusConfig, LMConfig
from routerlab.models.corpus import DOMAINS, Corpus
from routerlab.moe import MoEConfig
from routerlab.train import LMRunConfig, TrainConfig, init_state
from routerlab.train.loop import engine_steps, evaluate

CORPUS = CorpusConfig(bytes_per_domain=20_000)
# A top-1 MoE with capacity factor 1.0: its drops depend on what else is in the batch.
CAPACITY = LMRunConfig(
    model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, ffn="moe",
                   moe=MoEConfig(d_model=16, d_ff=16, num_experts=4, top_k=1, renormalize=False,
                                 capacity_factor=1.0)),
    data=CORPUS,
    train=TrainConfig(steps=4, batch_size=10, lr=1e-2, warmup_steps=0, eval_every=4, eval_batches=2,
                      log_every=4, ckpt_every=4),
    seed=0,
)


def _rows(batches):
    return Counter(tuple(row) for b in batches for row in b.tokens.tolist())


def test_mixed_batches_hold_the_pure_windows_with_every_batch_mixed():
    corpus = Corpus(CORPUS, seq_len=16)
    pure = list(corpus.eval_batches("val", 10, 2))
    mixed = list(corpus.eval_batches("val", 10, 2, mixed=True))
    assert len(mixed) == len(pure) == 2 * len(CORPUS.domains)
    assert _rows(mixed) == _rows(pure)  # the same windows, each once
    for b in pure:
        assert len(set(b.domain.tolist())) == 1
    # Dealt round-robin: 5 domains x 20 windows, batches of 10 -> every batch holds each domain twice.
    for b in mixed:
        assert Counter(b.domain.tolist()) == {DOMAINS.index(d): 2 for d in CORPUS.domains}
    again = list(Corpus(CORPUS, seq_len=16).eval_batches("val", 10, 2, mixed=True))
    assert all(np.array_equal(a.tokens, b.tokens) and np.array_equal(a.domain, b.domain) for a, b in zip(mixed, again))


def _reference(eval_step, state, batches):
    """Slow reference: loss per domain from each window's label, routing averaged over batches."""
    ce, dom, routing = [], [], []
    for b in batches:
        c, m = eval_step(state.params, state.rest, b.tokens, None)
        ce.append(np.asarray(c, np.float64))
        dom.append(b.domain)
        routing.append(jax.device_get(m))
    ce, dom = np.concatenate(ce), np.concatenate(dom)
    per_domain = {DOMAINS[d]: ce[dom == d].mean() for d in set(dom.tolist())}
    mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *routing)
    return ce.mean(), per_domain, {str(layer): m for layer, m in mean.items()}


def test_evaluate_reads_routing_on_mixed_batches_and_specialisation_on_pure_ones():
    state = init_state(CAPACITY)
    _, eval_step = engine_steps(CAPACITY.model, CAPACITY.train)
    corpus = Corpus(CORPUS, seq_len=16)
    out = evaluate(eval_step, state, corpus, "val", 10, 2)
    loss, by_domain, routing = _reference(eval_step, state, corpus.eval_batches("val", 10, 2, mixed=True))
    _, pure_by_domain, _ = _reference(eval_step, state, corpus.eval_batches("val", 10, 2))
    assert out["loss"] == pytest.approx(loss, rel=1e-6)
    for d, v in by_domain.items():
        assert out["loss_by_domain"][d] == pytest.approx(v, rel=1e-6)
    got = out["routing"]["0"]
    for name in ("dropped_frac", "max_vio", "load"):
        np.testing.assert_allclose(got[name], np.asarray(routing["0"][name], np.float64), rtol=1e-6)
    # The specialisation readout: block 0's routing on each domain's pure batches.
    for d in CORPUS.domains:
        pure = [b for b in corpus.eval_batches("val", 10, 2) if DOMAINS[int(b.domain[0])] == d]
        _, _, r = _reference(eval_step, state, pure)
        np.testing.assert_allclose(out["routing_by_domain"][d]["0"]["load"], np.asarray(r["0"]["load"]), rtol=1e-6)
    # Domain-pure batches crowd one domain's tokens onto the same experts: at capacity 1.0 they
    # drop more than the mixed batches training sees, so the two readouts genuinely differ.
    pure_drop = np.mean([out["routing_by_domain"][d]["0"]["dropped_frac"] for d in CORPUS.domains])
    assert pure_drop > got["dropped_frac"]
    # Losses per domain move with the drops too; with no capacity they would not (next test).
    assert any(abs(pure_by_domain[d] - by_domain[d]) > 1e-6 for d in by_domain)
