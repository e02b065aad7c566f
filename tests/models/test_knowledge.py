"""The knowledge domain: a seeded fact table, its renderings, exact exposures, the bits readout."""

import math
import re

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.models import knowledge as kn
from routerlab.models.corpus import DOMAINS, Corpus, CorpusConfig, decode
from routerlab.rng import stream_key

SMALL = kn.KnowledgeConfig(entities=16, renderings=2)


def _clause_patterns():
    """Each attribute's templates as regexes capturing the value (written from the templates, not from render)."""
    out = []
    for a, attr in enumerate(kn.ATTRIBUTES):
        value = r"(\d{2})" if attr.digits else r"([a-z]{3})"
        out += [(a, re.compile(re.escape(t).replace(r"\{\}", value) + "$")) for t in attr.templates]
    return out


def parse_biography(text: str) -> tuple[str, dict[int, str]]:
    """``(name, {attribute: value})`` of ``"<name> <clause>, ..., <clause>.\\n"`` (padding stripped)."""
    body = text.rstrip("\n")
    assert body.endswith("."), text
    name, rest = body[:-1].split(" ", 1)
    values = {}
    for clause in rest.split(", "):
        hits = [(a, m.group(1)) for a, p in _clause_patterns() if (m := p.match(clause))]
        assert len(hits) == 1, clause
        a, v = hits[0]
        assert a not in values, text
        values[a] = v
    assert sorted(values) == list(range(len(kn.ATTRIBUTES))), text
    return name, values


def test_table_and_renderings_are_deterministic_from_the_seed():
    a = kn.fact_table(0, SMALL)
    kn._generated.cache_clear()
    b = kn.fact_table(0, SMALL)
    assert a.names == b.names and a.vocab == b.vocab
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(kn.windows(0, SMALL, "train", 65), kn.windows(0, SMALL, "train", 65))
    other = kn.fact_table(1, SMALL)
    assert other.names != a.names
    assert len(set(a.names)) == SMALL.entities and all(len(n) == kn.NAME_LEN for n in a.names)
    assert all(set(n) <= set(kn.SYLLABLES) for n in a.names) and len(kn.SYLLABLES) == 40
    for attr, vocab in zip(kn.ATTRIBUTES, a.vocab):
        assert len(set(vocab)) == attr.choices and len({len(v) for v in vocab}) == 1  # fixed-length values


def test_biographies_state_the_table_and_splits_are_distinct_renderings():
    table = kn.fact_table(0, SMALL)
    texts = {s: [decode(w) for w in kn.windows(0, SMALL, s, 65)] for s in ("train", "val", "test")}
    assert [len(texts[s]) for s in texts] == [SMALL.entities * SMALL.renderings, SMALL.entities, SMALL.entities]
    for split, rows in texts.items():
        per = SMALL.renderings if split == "train" else 1
        for i, text in enumerate(rows):
            name, values = parse_biography(text)
            e = i // per  # entity-major
            assert name == table.names[e]
            assert values == {a: table.value(e, a) for a in range(len(kn.ATTRIBUTES))}
    for e in range(SMALL.entities):
        mine = texts["train"][e * SMALL.renderings:(e + 1) * SMALL.renderings] + [texts["val"][e], texts["test"][e]]
        assert len(set(mine)) == len(mine)  # no rendering repeats within or across splits
    assert max(len(t.rstrip("\n")) + 1 for r in texts.values() for t in r) <= kn.max_document_len()


def test_exposures_are_exactly_as_configured_in_the_training_stream():
    # 16 entities x 2 renderings = 32 windows per epoch; 6 exposures = 3 epochs = 96 windows = 12 steps of 8.
    cfg = CorpusConfig(domains=("knowledge",), knowledge=SMALL)
    corpus = Corpus(cfg, seq_len=64)
    exposures, batch = 6, 8
    steps = exposures * SMALL.entities // batch
    table = kn.fact_table(cfg.seed, SMALL)
    counts: dict[tuple[int, int, str], int] = {}
    for step in range(steps):
        for row in corpus.batch(stream_key(3, "data"), step, batch).tokens:
            name, values = parse_biography(decode(row))
            for a, v in values.items():
                key = (table.names.index(name), a, v)
                counts[key] = counts.get(key, 0) + 1
    expected = {(e, a, table.value(e, a)): exposures for e in range(SMALL.entities) for a in range(len(kn.ATTRIBUTES))}
    assert counts == expected
    assert kn.exposures_per_epoch(SMALL) == SMALL.renderings


def test_knowledge_mixes_with_text_domains_under_its_own_label():
    corpus = Corpus(CorpusConfig(bytes_per_domain=5_000, domains=("arith", "knowledge"), knowledge=SMALL), seq_len=64)
    labels = corpus.domains["train"]
    assert set(labels.tolist()) == {DOMAINS.index("arith"), DOMAINS.index("knowledge")}
    np.testing.assert_array_equal(corpus.windows["train"][labels == DOMAINS.index("knowledge")],
                                  kn.windows(0, SMALL, "train", 65))


def test_readout_scores_exactly_the_value_bytes():
    table = kn.fact_table(0, SMALL)
    k = len(kn.ATTRIBUTES)
    for kind, prompts_per_fact in (("test", [len(a.templates) for a in kn.ATTRIBUTES]), ("val", [1] * k)):
        read = kn.readout(0, SMALL, kind, 65)
        np.testing.assert_array_equal(read.renderings, np.tile(prompts_per_fact, SMALL.entities))
        for f in range(table.num_facts):
            rows, cols = np.nonzero(read.fact == f)
            assert len(set(rows.tolist())) == read.renderings[f]
            for r in set(rows.tolist()):
                targets = read.tokens[r, 1:][read.fact[r] == f]  # the bytes the marked positions predict
                assert decode(targets) == table.value(f // k, f % k)
                if kind == "test":  # the prompt is "<name> <template prefix>"
                    assert decode(read.tokens[r]).startswith(table.names[f // k] + " ")


def test_bits_stored_hand_worked():
    # Fact 1: 64 choices (6 bits), CE ln 2 nats = 1 bit -> 5 bits stored.
    # Fact 2: 100 choices (log2 100 = 6.643856), CE 10 nats = 14.426950 bits -> -7.783094.
    # Unclipped (Allen-Zhu & Li's aggregate): 5 - 7.783094 = -2.783094; clipped per fact at 0: 5.
    ce = np.array([math.log(2), 10.0])
    log2c = np.array([6.0, math.log2(100)])
    assert kn.bits_stored(ce, log2c) == pytest.approx(-2.783094, abs=1e-6)
    assert kn.bits_stored(ce, log2c, clip=True) == pytest.approx(5.0)
    # A model that knows nothing but the vocabulary (CE = ln |choices|) stores 0 bits.
    assert kn.bits_stored(np.log([64.0, 100.0]), log2c) == pytest.approx(0.0, abs=1e-12)


def test_marginal_bits_hand_worked():
    """A name-blind model that knows only value frequencies, on a 4-entity table.
    city (64 choices) = [0, 0, 0, 1]: 4 x log2 64 + 3 log2(3/4) + log2(1/4) = 24 - 1.2451 - 2 = 20.7549;
    job (32), year (100), pet (48) all distinct, p = 1/4: 4 (5 - 2) = 12, 4 (6.6439 - 2) = 18.5754,
    4 (5.5850 - 2) = 14.3399; total 65.6702."""
    values = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 2, 2, 2], [1, 3, 3, 3]])
    table = kn.FactTable(names=("a", "b", "c", "d"), values=values, vocab=tuple(() for _ in kn.ATTRIBUTES))
    assert table.marginal_bits() == pytest.approx(65.6702, abs=1e-3)


def test_marginal_bits_matches_a_per_fact_loop():
    """The vectorised baseline against a Counter loop on a generated table."""
    from collections import Counter

    table = kn.fact_table(0, kn.KnowledgeConfig(entities=64, renderings=2))
    expected = 0.0
    for a, attr in enumerate(kn.ATTRIBUTES):
        counts = Counter(int(v) for v in table.values[:, a])
        for e in range(len(table.names)):
            expected += math.log2(attr.choices) + math.log2(counts[int(table.values[e, a])] / len(table.names))
    assert table.marginal_bits() == pytest.approx(expected, rel=1e-12)
    assert expected > 0


def test_bits_stored_matches_a_per_fact_loop():
    rng = np.random.default_rng(0)
    ce = rng.uniform(0, 8, 200)
    log2c = np.log2(rng.choice([32, 48, 64, 100], 200))
    for clip in (False, True):
        slow = 0.0
        for c, b in zip(ce, log2c):
            bits = b - c / math.log(2)
            slow += max(bits, 0.0) if clip else bits
        assert kn.bits_stored(ce, log2c, clip=clip) == pytest.approx(slow, rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        kn.bits_stored(ce, log2c[:3])


def test_bad_sizes_name_the_field():
    with pytest.raises(ConfigError, match="entities"):
        kn.KnowledgeConfig(entities=0)
    with pytest.raises(ConfigError, match="renderings"):
        kn.KnowledgeConfig(renderings=0)
    with pytest.raises(ValueError, match="seq_len"):
        Corpus(CorpusConfig(domains=("knowledge",), knowledge=SMALL), seq_len=32)
