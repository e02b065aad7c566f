"""The ``prose`` domain of the generated corpus: sentences of a small English grammar.

Subject-verb agreement across an optional prepositional phrase and a conjoined clause is
the long-range structure a byte model must learn; the vocabulary is small, so most of the
loss left after training is in which words follow which (the corpus's capacity-bound domain
at quick scale, see experiments/moe_vs_dense.py). Split out of :mod:`routerlab.models.corpus`.
"""

from __future__ import annotations

import random

__all__ = ["prose_doc"]

_DETS_SG = ("the", "a", "this", "one")
_DETS_PL = ("the", "some", "these", "two")
_ADJS = ("old", "small", "red", "quiet", "bright", "tall", "green", "slow", "happy", "cold")
_NOUNS = ("cat", "dog", "bird", "farmer", "child", "river", "stone", "teacher", "horse", "tree", "ship", "king")
_PLURALS = {"child": "children", "river": "rivers"}
_VERBS = ("see", "chase", "find", "follow", "watch", "push", "love", "help")
_INTRANS = ("sleep", "run", "sing", "wait", "fall")
_PREPS = ("near", "under", "behind", "with")
_ADVS = ("slowly", "today", "again", "quietly")


def _noun_phrase(rng: random.Random, depth: int = 0) -> tuple[str, bool]:
    plural = rng.random() < 0.4
    noun = rng.choice(_NOUNS)
    if plural:
        noun = _PLURALS.get(noun, noun + "s")
    words = [rng.choice(_DETS_PL if plural else _DETS_SG)]
    if rng.random() < 0.45:
        words.append(rng.choice(_ADJS))
    words.append(noun)
    if depth == 0 and rng.random() < 0.25:
        obj, _ = _noun_phrase(rng, depth + 1)
        words += [rng.choice(_PREPS), obj]
    return " ".join(words), plural


def _sentence(rng: random.Random) -> str:
    subject, plural = _noun_phrase(rng)
    if rng.random() < 0.7:
        verb = rng.choice(_VERBS)
        obj, _ = _noun_phrase(rng)
        predicate = f"{verb if plural else verb + ('es' if verb.endswith(('ch', 'sh', 's')) else 's')} {obj}"
    else:
        verb = rng.choice(_INTRANS)
        predicate = verb if plural else verb + "s"
    if rng.random() < 0.3:
        predicate += " " + rng.choice(_ADVS)
    text = f"{subject} {predicate}"
    if rng.random() < 0.15:
        more, more_plural = _noun_phrase(rng)
        verb = rng.choice(_INTRANS)
        text += f" and {more} {verb if more_plural else verb + 's'}"
    return text[0].upper() + text[1:] + "."


def prose_doc(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randrange(2, 6))) + "\n"
