"""The ``knowledge`` domain: a fixed table of synthetic facts, rendered as short biographies.

Memorising facts is where parameters matter: the loss on a fact's value can only fall if the
model stores that value, so the domain is capacity-bound once the table holds more bits than
the model can store (Allen-Zhu & Li, ICLR 2025, "Physics of Language Models: Part 3.3,
Knowledge Capacity Scaling Laws", arXiv:2404.05405; their bioS data, in miniature).

The table.
    ``entities`` people, each with a distinct name of ``NAME_LEN`` one-byte *syllables* drawn
    from the 40 characters of :data:`SYLLABLES` (so a name is 3 tokens of the byte-level
    model: byte-level names of longer syllables failed to be stored in a pilot), and one value
    per attribute of :data:`ATTRIBUTES`, drawn uniformly from that attribute's vocabulary
    (``choices`` fixed-length strings: 3-letter pseudo-words, or two digits for the birth
    year). A *fact* is ``(entity, attribute)``; fact ``f = entity * K + attribute``. Every value
    string of an attribute has the same length, so the summed cross-entropy of its bytes is
    ``-log p(value)`` under a proper distribution over the ``choices`` strings.

Renderings.
    A biography is ``"<name> <clause>, <clause>, <clause>, <clause>.\\n"``: one clause per
    attribute, in a random order, each from one of the attribute's 3 templates
    (``"lives in vok"``, ``"was born 1937"``, ...). A *rendering* is the pair (clause order,
    template per attribute): 24 x 81 = 1,944 per entity. The ``train`` split holds
    ``renderings`` distinct renderings of every entity; ``val`` and ``test`` hold one more
    each, distinct from those and from each other. Every biography fills one window of
    ``seq_len + 1`` bytes, padded with ``"\\n"``, so an *exposure* of a fact is a window read
    in training: after ``e`` epochs over a knowledge-only corpus every fact has been seen
    exactly ``e x renderings`` times (:func:`exposures_per_epoch`).

Val and test are the same facts.
    Memorisation is the point, so no fact is held out: ``val`` and ``test`` are *renderings*
    of the trained facts that training never shows. Learning rates are chosen on ``val`` (its
    loss, the framework's rule); bits stored are read on ``test``'s prompts
    (:func:`readout` ``"test"``: every fact as the first clause of a biography, under each of
    its 3 templates, the cross-entropy averaged over them), never on ``val``.

Determinism: everything is drawn from one :class:`random.Random` seeded by the corpus seed
and ``crc32("knowledge")``; the table, the renderings and the windows are functions of
``(seed, KnowledgeConfig)`` alone.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from dataclasses import dataclass

import numpy as np

from routerlab.config import check

__all__ = ["KNOWLEDGE", "SYLLABLES", "NAME_LEN", "ATTRIBUTES", "Attribute", "KnowledgeConfig", "FactTable",
           "fact_table", "render", "windows", "readout", "Readout", "exposures_per_epoch", "max_document_len",
           "bits_stored"]

KNOWLEDGE = "knowledge"
#: The name inventory: 40 one-byte syllables (a name is ``NAME_LEN`` of them: 64,000 possible names).
SYLLABLES = "ABCDEFGHIJKLMNOPQRSTUVWXYZbdfghjklmnprst"
NAME_LEN = 3
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class Attribute:
    """One attribute: ``choices`` values of fixed length; ``templates`` hold ``{}`` where the value goes."""

    name: str
    choices: int
    templates: tuple[str, ...]
    digits: bool = False  # values are two digits ("00".."99"), else 3-letter pseudo-words


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("city", 64, ("lives in {}", "resides in {}", "is from {}")),
    Attribute("job", 32, ("works as {}", "is a {}", "job: {}")),
    Attribute("year", 100, ("born 19{}", "was born 19{}", "b. 19{}"), digits=True),
    Attribute("pet", 48, ("owns a {}", "has a {}", "pet: {}")),
)


@dataclass(frozen=True)
class KnowledgeConfig:
    """Size of the fact table and of the training stream.

    Attributes:
      entities: people in the table (each has one value per attribute: ``4 x entities`` facts).
      renderings: distinct biographies of each entity in ``train``: one epoch exposes every
        fact this many times.
    """

    entities: int = 500
    renderings: int = 4

    def __post_init__(self) -> None:
        check(1 <= self.entities <= 20_000, "entities", f"must be in [1, 20000]; got {self.entities}")
        check(1 <= self.renderings <= 64, "renderings", f"must be in [1, 64]; got {self.renderings}")


@dataclass(frozen=True)
class FactTable:
    """``names[N]``, ``values[N, K]`` (indices into each attribute's ``vocab``) and the vocabularies."""

    names: tuple[str, ...]
    values: np.ndarray
    vocab: tuple[tuple[str, ...], ...]

    @property
    def num_facts(self) -> int:
        return self.values.size

    def log2_choices(self) -> np.ndarray:
        """``log2 |choices|`` of every fact, in fact order (``entity * K + attribute``)."""
        per_attr = np.array([math.log2(a.choices) for a in ATTRIBUTES])
        return np.tile(per_attr, len(self.names))

    def value(self, entity: int, attribute: int) -> str:
        return self.vocab[attribute][int(self.values[entity, attribute])]

    def marginal_bits(self) -> float:
        """What :func:`bits_stored` credits a model that knows no person, only how often each
        value occurs in the table: ``sum_f (log2 |choices_f| + log2 p_a(v_f))``, ``p_a`` the
        value's frequency over entities for the fact's attribute. A finite table's empirical
        frequencies are uneven, so this is > 0 (about 190 bits for 256 entities); bits stored
        above it are bits tied to the entity (a referee's point: without it a name-blind model
        would look like it had stored facts).
        """
        total = 0.0
        for a, attr in enumerate(ATTRIBUTES):
            column = self.values[:, a]
            freq = np.bincount(column, minlength=attr.choices)[column] / len(self.names)
            total += float(np.sum(math.log2(attr.choices) + np.log2(freq)))
        return total


def _rng(seed: int) -> random.Random:
    return random.Random((seed << 32) ^ zlib.crc32(KNOWLEDGE.encode()))


def _vocabulary(rng: random.Random, attr: Attribute) -> tuple[str, ...]:
    if attr.digits:
        return tuple(f"{i:02d}" for i in range(attr.choices))
    words = sorted({c1 + v + c2 for c1 in _CONSONANTS for v in _VOWELS for c2 in _CONSONANTS})
    return tuple(rng.sample(words, attr.choices))


@functools.lru_cache(maxsize=8)
def _generated(seed: int, cfg: KnowledgeConfig) -> tuple[FactTable, dict[str, list[list[tuple]]]]:
    """The table and every entity's renderings per split (``(order, templates)`` pairs)."""
    rng = _rng(seed)
    vocab = tuple(_vocabulary(rng, a) for a in ATTRIBUTES)
    names_pool = len(SYLLABLES) ** NAME_LEN
    codes = rng.sample(range(names_pool), cfg.entities)
    names = tuple("".join(SYLLABLES[c // len(SYLLABLES) ** i % len(SYLLABLES)] for i in range(NAME_LEN))
                  for c in codes)
    values = np.array([[rng.randrange(a.choices) for a in ATTRIBUTES] for _ in range(cfg.entities)], np.int64)
    k = len(ATTRIBUTES)
    renders: dict[str, list[list[tuple]]] = {"train": [], "val": [], "test": []}
    for _ in range(cfg.entities):
        seen: set[tuple] = set()
        for split, count in (("train", cfg.renderings), ("val", 1), ("test", 1)):
            mine = []
            while len(mine) < count:
                order = tuple(rng.sample(range(k), k))
                templates = tuple(rng.randrange(len(a.templates)) for a in ATTRIBUTES)
                if (order, templates) not in seen:  # renderings are distinct within and across splits
                    seen.add((order, templates))
                    mine.append((order, templates))
            renders[split].append(mine)
    return FactTable(names, values, vocab), renders


def fact_table(seed: int, cfg: KnowledgeConfig) -> FactTable:
    """The fixed table of ``cfg.entities x len(ATTRIBUTES)`` facts under corpus seed ``seed``."""
    return _generated(seed, cfg)[0]


def render(table: FactTable, entity: int, order: tuple[int, ...], templates: tuple[int, ...]) -> tuple[str, list[tuple[int, int, int]]]:
    """One biography and its value spans ``[(attribute, start, end)]`` (character offsets)."""
    text = table.names[entity] + " "
    spans = []
    for i, a in enumerate(order):
        if i:
            text += ", "
        before, after = ATTRIBUTES[a].templates[templates[a]].split("{}")
        text += before
        value = table.value(entity, a)
        spans.append((a, len(text), len(text) + len(value)))
        text += value + after
    return text + ".\n", spans


def max_document_len() -> int:
    """Bytes of the longest possible biography (the longest template of every attribute)."""
    longest = sum(max(len(t) for t in a.templates) - 2 + (3 if not a.digits else 2) for a in ATTRIBUTES)
    return NAME_LEN + 1 + longest + 2 * (len(ATTRIBUTES) - 1) + 2


def _pad(texts: list[str], width: int, what: str) -> np.ndarray:
    out = np.full((len(texts), width), ord("\n"), np.int32)
    for i, text in enumerate(texts):
        if len(text) > width:
            raise ValueError(f"seq_len: a knowledge {what} needs {len(text)} bytes, more than a window of {width} "
                             f"(seq_len + 1); use seq_len >= {max_document_len() - 1}")
        out[i, : len(text)] = np.frombuffer(text.encode("ascii"), np.uint8)
    return out


def windows(seed: int, cfg: KnowledgeConfig, split: str, width: int) -> np.ndarray:
    """``split``'s biographies, one per window of ``width`` bytes (``"\\n"``-padded), entity-major."""
    table, renders = _generated(seed, cfg)
    texts = [render(table, e, *r)[0] for e in range(cfg.entities) for r in renders[split][e]]
    return _pad(texts, width, "biography")


def exposures_per_epoch(cfg: KnowledgeConfig) -> int:
    """Windows (hence exposures) of every fact in one epoch over the ``train`` split."""
    return cfg.renderings


@dataclass(frozen=True)
class Readout:
    """Prompts whose value bytes are scored: ``tokens[n, L + 1]``; ``fact[n, L]`` is the fact
    whose value byte is the *target* at that position (``-1`` elsewhere); a fact's cross-entropy
    is the sum over its targets divided by ``renderings[f]`` (its number of prompts)."""

    tokens: np.ndarray
    fact: np.ndarray
    renderings: np.ndarray


def readout(seed: int, cfg: KnowledgeConfig, kind: str, width: int) -> Readout:
    """``"test"``: every fact as the first clause after its entity's name, once per template of
    its attribute (the reported bits). ``"val"``: every entity's held-out ``val`` biography, each
    fact in its place (a diagnostic on the renderings that choose learning rates)."""
    table, renders = _generated(seed, cfg)
    k = len(ATTRIBUTES)
    texts, spans = [], []
    if kind == "test":
        for e in range(cfg.entities):
            for a, attr in enumerate(ATTRIBUTES):
                for t in range(len(attr.templates)):
                    templates = tuple(t if b == a else 0 for b in range(k))
                    text, span = render(table, e, (a,), templates)
                    texts.append(text)
                    spans.append([(e * k + a, s, end) for _, s, end in span])
        per_fact = np.tile([len(a.templates) for a in ATTRIBUTES], cfg.entities)
    elif kind == "val":
        for e in range(cfg.entities):
            text, span = render(table, e, *renders["val"][e][0])
            texts.append(text)
            spans.append([(e * k + a, s, end) for a, s, end in span])
        per_fact = np.ones(cfg.entities * k, np.int64)
    else:
        raise ValueError(f"unknown readout {kind!r}; expected 'test' or 'val'")
    tokens = _pad(texts, width, "prompt")
    fact = np.full((len(texts), width - 1), -1, np.int32)
    for i, span in enumerate(spans):
        for f, start, end in span:
            fact[i, start - 1 : end - 1] = f  # the byte at offset c is the target of position c - 1
    return Readout(tokens, fact, per_fact.astype(np.int64))


def bits_stored(ce_nats: np.ndarray, log2_choices: np.ndarray, *, clip: bool = False) -> float:
    """Knowledge bits stored, as Allen-Zhu & Li (ICLR 2025, Part 3.3) bound them for the attribute values.

    ``sum_f (log2 |choices_f| - CE_f / ln 2)`` over facts ``f``, where ``CE_f`` is the model's
    cross-entropy of ``f``'s value bytes given the name and the attribute's prompt, in nats.
    Their bit-complexity lower bound for bioS(N) is ``N log2(N0 / e^{p1}) + N log2(S0 / e^{p2})``:
    ``N0`` possible names, ``S0`` possible value combinations of a person, ``p1`` and ``p2`` the
    loss (nats) on the name and on the value tokens, summed over a person's tokens and averaged
    over persons. This is the second (value) term, ``N log2 S0 - N p2 / ln 2`` written per fact:
    an aggregate, **not clipped per fact** (a confidently wrong fact lowers the total). The name
    term is left out: names are given in our prompts, not generated. ``clip=True`` clips each
    fact at 0 (a diagnostic: the bits of the facts the model does store).
    """
    ce_nats = np.asarray(ce_nats, np.float64)
    log2_choices = np.asarray(log2_choices, np.float64)
    if ce_nats.shape != log2_choices.shape:
        raise ValueError(f"bits_stored: ce_nats {ce_nats.shape} and log2_choices {log2_choices.shape} differ in shape")
    per_fact = log2_choices - ce_nats / math.log(2)
    return float(np.sum(np.maximum(per_fact, 0.0) if clip else per_fact))
