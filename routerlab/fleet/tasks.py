"""A procedurally generated, seeded task suite with exact-match answers, for a fleet of small LMs.

Five families, each a function ``(rng, cfg) -> (prompt, answer)`` over plain ASCII:

=========  =========================================================  ==========================
family     query (difficulty knob)                                     example
=========  =========================================================  ==========================
math       ``a+b``, ``a-b`` (``math_digits`` digits) or ``a*b%m``      ``47+85=`` -> ``132``
           (modular, ``m`` in ``2..math_modulus``)                     ``7*9%5=`` -> ``3``
code       a straight-line program over variables ``a..e``, every      ``a=3;b=a*4;b?`` -> ``2``
           value taken mod 10 (``code_statements`` assignments)
logic      a propositional formula over ``T``/``F`` with ``& | ~``     ``~(T&F)|F=`` -> ``T``
           (``logic_depth`` levels of nesting)
planning   sort a list of digits (``plan_length`` digits)              ``sort 3152=`` -> ``1235``
knowledge  recall a fixed synthetic fact: ``entity:relation`` ->       ``ycg:pin=`` -> ``319``
           a ``fact_digits``-digit code (``num_facts`` facts drawn
           once from ``fact_seed``)
=========  =========================================================  ==========================

Queries are byte sequences (:data:`ALPHABET`, :func:`encode`): ``BOS prompt answer EOS``,
right-padded to ``seq_len + 1``; models are trained with the loss on the answer and EOS only
(:func:`answer_mask`) and scored by greedy decoding plus exact match of ``answer EOS``.

Splits. For the four procedural families, :func:`make_suite` draws the evaluation queries
(val and test) first, then the training pool from a separate stream, dropping every
training prompt that also occurs in val or test, so the three splits are disjoint as
prompts (``tests/fleet/test_tasks.py`` checks it). ``knowledge`` is recall by definition:
the training pool is the fact base itself (every fact stated once), and the evaluation
queries ask those facts; val and test hold disjoint sets of facts, but every evaluated
fact was in training. That is what "broad knowledge" means for a toy LM: memorisation,
which favours capacity.

Knowledge load. A fact's value is a uniform ``fact_digits``-digit code, so the base holds
``num_facts * fact_digits * log2(10)`` bits and a guess is right with probability
``10 ** -fact_digits``; the prefix ``entity:relation=`` carries no information about the
code. The two knobs set how hard memorisation is: a small model runs out of capacity as
the number of facts grows (for the fleet's ~7k-parameter specialist, more so with many
facts than with many digits per fact), while a large model needs enough exposures per fact
(training queries / ``num_facts``). The fleet's scales pick a base that loads the
specialist's capacity but not a larger model's (:func:`routerlab.fleet.fleet.scaled_fleet`).
With word-valued relations of 8 values (3 bits a fact, the previous design) and 200 facts,
every fleet model memorised the base and the knowledge comparison sat at ceiling.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from routerlab.config import check

__all__ = [
    "FAMILIES",
    "ALPHABET",
    "PAD",
    "BOS",
    "EOS",
    "VOCAB_SIZE",
    "TaskConfig",
    "Suite",
    "RELATIONS",
    "facts",
    "knowledge_query_tokens",
    "generate",
    "make_suite",
    "encode",
    "encode_batch",
    "answer_mask",
    "decode_answer",
    "solve_code",
    "solve_logic",
    "CEILING",
    "guess_baselines",
    "chance_rates",
]

FAMILIES: tuple[str, ...] = ("math", "code", "logic", "planning", "knowledge")

#: Token ids: 0 = PAD, 1 = BOS, 2 = EOS, then these characters.
ALPHABET = string.digits + string.ascii_lowercase + "TF+-*%=?;:&|~() "
PAD, BOS, EOS = 0, 1, 2
VOCAB_SIZE = 3 + len(ALPHABET)
_CHAR_ID = {c: i + 3 for i, c in enumerate(ALPHABET)}

#: Relations of the knowledge base; every value is a ``fact_digits``-digit code, uniform over
#: all ``10 ** fact_digits`` codes, so a fact holds ``fact_digits * log2(10)`` bits.
RELATIONS: tuple[str, ...] = ("pin", "room", "zip")
#: Letters of an entity name (``26 ** ENTITY_LETTERS`` entities).
ENTITY_LETTERS = 3


def knowledge_query_tokens(fact_digits: int) -> int:
    """Tokens of the longest encoded knowledge query: BOS, ``entity:relation=``, the code, EOS."""
    return 1 + ENTITY_LETTERS + 1 + max(map(len, RELATIONS)) + 1 + fact_digits + 1


@dataclass(frozen=True)
class TaskConfig:
    """Difficulty knobs and sizes of the suite.

    Attributes:
      math_digits: operand digits of ``+`` and ``-`` queries.
      math_modulus: largest modulus of ``a*b%m`` queries (operands are single digits).
      code_statements: assignments in a program.
      logic_depth: nesting depth of a formula (1 = ``x op y``).
      plan_length: digits to sort.
      num_facts: facts in the knowledge base (distinct entity x relation pairs).
      fact_digits: digits of a fact's value (``10 ** fact_digits`` values per relation, so
        ``num_facts * fact_digits * log2(10)`` bits in the knowledge base; chance accuracy
        ``10 ** -fact_digits``).
      fact_seed: the seed of the knowledge base (fixed across fleet seeds).
      seq_len: model context; every encoded query fits in ``seq_len + 1`` tokens.
    """

    math_digits: int = 2
    math_modulus: int = 9
    code_statements: int = 3
    logic_depth: int = 2
    plan_length: int = 4
    num_facts: int = 300
    fact_digits: int = 3
    fact_seed: int = 1234
    seq_len: int = 24

    def __post_init__(self):
        check(1 <= self.math_digits <= 4, "math_digits", f"must be in [1, 4]; got {self.math_digits}")
        check(2 <= self.math_modulus <= 9, "math_modulus", f"must be in [2, 9]; got {self.math_modulus}")
        check(1 <= self.code_statements <= 5, "code_statements", f"must be in [1, 5]; got {self.code_statements}")
        check(1 <= self.logic_depth <= 3, "logic_depth", f"must be in [1, 3]; got {self.logic_depth}")
        check(2 <= self.plan_length <= 8, "plan_length", f"must be in [2, 8]; got {self.plan_length}")
        cap = 26**ENTITY_LETTERS * len(RELATIONS)
        check(8 <= self.num_facts <= cap, "num_facts", f"must be in [8, {cap}]; got {self.num_facts}")
        check(1 <= self.fact_digits <= 4, "fact_digits", f"must be in [1, 4]; got {self.fact_digits}")
        check(self.seq_len >= 8, "seq_len", f"must be >= 8; got {self.seq_len}")
        need = knowledge_query_tokens(self.fact_digits)
        check(need <= self.seq_len + 1, "seq_len",
              f"a knowledge query with fact_digits={self.fact_digits} needs {need} tokens > seq_len + 1 = "
              f"{self.seq_len + 1}; raise seq_len to >= {need - 1} or lower fact_digits")


# -- the families --------------------------------------------------------------------------


def _math(rng: np.random.Generator, cfg: TaskConfig) -> tuple[str, str]:
    kind = rng.integers(3)
    if kind == 2:
        a, b, m = rng.integers(0, 10), rng.integers(0, 10), rng.integers(2, cfg.math_modulus + 1)
        return f"{a}*{b}%{m}=", str((a * b) % m)
    hi = 10**cfg.math_digits
    a, b = int(rng.integers(0, hi)), int(rng.integers(0, hi))
    if kind == 0:
        return f"{a}+{b}=", str(a + b)
    a, b = max(a, b), min(a, b)  # non-negative differences
    return f"{a}-{b}=", str(a - b)


def solve_code(program: str) -> int:
    """The value of a straight-line program ``v=expr;...;v?`` (every value mod 10)."""
    env: dict[str, int] = {}
    *statements, query = program.split(";")
    for stmt in statements:
        name, expr = stmt.split("=")
        if len(expr) == 1:
            env[name] = int(expr) if expr.isdigit() else env[expr]
            continue
        x, op, y = expr[0], expr[1], expr[2]
        u = int(x) if x.isdigit() else env[x]
        v = int(y) if y.isdigit() else env[y]
        env[name] = {"+": u + v, "-": u - v, "*": u * v}[op] % 10
    return env[query.rstrip("?")]


def _code(rng: np.random.Generator, cfg: TaskConfig) -> tuple[str, str]:
    names = "abcde"
    stmts = [f"a={rng.integers(0, 10)}"]
    for i in range(1, cfg.code_statements):
        x = names[rng.integers(0, i)]
        y = str(rng.integers(0, 10)) if rng.random() < 0.5 else names[rng.integers(0, i)]
        if rng.random() < 0.5:
            x, y = y, x
        stmts.append(f"{names[i]}={x}{'+-*'[rng.integers(3)]}{y}")
    program = ";".join(stmts) + f";{names[cfg.code_statements - 1]}?"
    return program, str(solve_code(program))


def _formula(rng: np.random.Generator, depth: int) -> str:
    if depth == 0:
        return "TF"[rng.integers(2)]
    left = _formula(rng, depth - 1 if rng.random() < 0.7 else 0)
    right = _formula(rng, depth - 1 if rng.random() < 0.7 else 0)
    left = f"({left})" if len(left) > 1 else left
    right = f"({right})" if len(right) > 1 else right
    out = f"{left}{'&|'[rng.integers(2)]}{right}"
    return f"~({out})" if rng.random() < 0.3 else out


def solve_logic(formula: str) -> str:
    """``T`` or ``F``: the value of a formula over ``T F & | ~ ( )`` (``~`` binds tightest)."""
    pos = 0

    def atom() -> bool:
        nonlocal pos
        c = formula[pos]
        if c == "~":
            pos += 1
            return not atom()
        if c == "(":
            pos += 1
            v = expr()
            pos += 1  # ")"
            return v
        pos += 1
        return c == "T"

    def expr() -> bool:
        nonlocal pos
        v = atom()
        while pos < len(formula) and formula[pos] in "&|":
            op = formula[pos]
            pos += 1
            w = atom()
            v = (v and w) if op == "&" else (v or w)
        return v

    return "T" if expr() else "F"


def _logic(rng: np.random.Generator, cfg: TaskConfig) -> tuple[str, str]:
    f = _formula(rng, cfg.logic_depth)
    return f"{f}=", solve_logic(f)


def _planning(rng: np.random.Generator, cfg: TaskConfig) -> tuple[str, str]:
    digits = rng.integers(0, 10, cfg.plan_length)
    return "sort " + "".join(map(str, digits)) + "=", "".join(map(str, np.sort(digits)))


def facts(cfg: TaskConfig) -> list[tuple[str, str]]:
    """The knowledge base: ``num_facts`` distinct ``(entity:relation=, code)`` pairs from ``fact_seed``.

    Each fact draws an entity (``ENTITY_LETTERS`` random letters), a relation and a
    ``fact_digits``-digit code (leading zeros kept), all uniform; a repeated
    ``entity:relation`` key is redrawn. The first ``n`` facts do not depend on
    ``num_facts`` (only on ``fact_digits`` and ``fact_seed``), so larger bases extend smaller ones.
    """
    rng = np.random.default_rng(cfg.fact_seed)
    seen: dict[str, str] = {}
    letters = list(string.ascii_lowercase)
    while len(seen) < cfg.num_facts:
        entity = "".join(rng.choice(letters, ENTITY_LETTERS))
        rel = RELATIONS[rng.integers(len(RELATIONS))]
        code = f"{int(rng.integers(10**cfg.fact_digits)):0{cfg.fact_digits}d}"
        seen.setdefault(f"{entity}:{rel}=", code)
    return list(seen.items())


_GENERATORS: dict[str, Callable[[np.random.Generator, TaskConfig], tuple[str, str]]] = {
    "math": _math,
    "code": _code,
    "logic": _logic,
    "planning": _planning,
}


def generate(family: str, n: int, cfg: TaskConfig, seed: int) -> list[tuple[str, str]]:
    """``n`` random ``(prompt, answer)`` pairs of a procedural family (duplicates possible)."""
    check(family in _GENERATORS, "family", f"must be one of {', '.join(_GENERATORS)}; got {family!r}")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    return [_GENERATORS[family](rng, cfg) for _ in range(n)]


# -- splits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """Training pools and evaluation queries per family.

    ``train[f]``: the training pool of family ``f`` (prompt, answer) pairs; ``val[f]`` and
    ``test[f]``: evaluation queries, unique prompts, disjoint from each other and (for the
    procedural families) from the training pool.
    """

    cfg: TaskConfig
    families: tuple[str, ...]
    train: dict[str, list[tuple[str, str]]]
    val: dict[str, list[tuple[str, str]]]
    test: dict[str, list[tuple[str, str]]]


def _unique(pairs: Sequence[tuple[str, str]], exclude: set[str], limit: int) -> list[tuple[str, str]]:
    out, seen = [], set(exclude)
    for p, a in pairs:
        if p not in seen:
            seen.add(p)
            out.append((p, a))
            if len(out) == limit:
                break
    return out


def make_suite(
    cfg: TaskConfig,
    families: Sequence[str] = FAMILIES,
    *,
    train_size: int,
    eval_size: int,
    seed: int = 0,
) -> Suite:
    """Draw ``eval_size`` val and ``eval_size`` test queries and a ``train_size`` pool per family.

    Evaluation queries come from stream ``seed`` and the pool from stream ``seed + 10_000``;
    pool prompts that occur among the evaluation prompts are dropped (and redrawn), so
    the pool may be smaller than ``train_size`` only if the family has fewer distinct
    prompts. For ``knowledge`` the pool is the whole fact base and val/test split
    ``2 * eval_size`` of its facts (capped at the fact count) in half.
    """
    check(train_size >= 1 and eval_size >= 1, "sizes", "train_size and eval_size must be >= 1")
    fams = tuple(families)
    for f in fams:
        check(f in FAMILIES, "families", f"unknown family {f!r}; known: {', '.join(FAMILIES)}")
    train, val, test = {}, {}, {}
    for f in fams:
        if f == "knowledge":
            kb = facts(cfg)
            order = np.random.default_rng([seed, 99]).permutation(len(kb))
            n = min(eval_size, len(kb) // 2)
            val[f] = [kb[i] for i in order[:n]]
            test[f] = [kb[i] for i in order[n : 2 * n]]
            train[f] = kb
        else:
            evals = _unique(generate(f, 8 * eval_size, cfg, seed), set(), 2 * eval_size)
            val[f], test[f] = evals[0::2], evals[1::2]
            held = {p for p, _ in evals}
            train[f] = _unique(generate(f, 2 * train_size, cfg, seed + 10_000), held, train_size)
        for pair in train[f] + val[f] + test[f]:
            check(len(encode(*pair)) <= cfg.seq_len + 1, "seq_len",
                  f"{f} query {pair[0]!r} needs {len(encode(*pair))} tokens > seq_len + 1 = {cfg.seq_len + 1}")
    return Suite(cfg, fams, train, val, test)


# -- chance and ceiling -----------------------------------------------------------------

#: The ceiling of exact match on every family: each answer is a function of the prompt (the
#: procedural families) or a fact stated in training (knowledge), so a perfect model scores 1.
CEILING = 1.0


def guess_baselines(train: Sequence[tuple[str, str]], queries: Sequence[tuple[str, str]]
                    ) -> tuple[str, np.ndarray, np.ndarray]:
    """Two answers that ignore the prompt, scored on ``queries``: ``(majority, hit [N], p_uniform [N])``.

    ``majority`` is the most frequent answer of the training pool (ties go to the smallest
    string); ``hit[i]`` says whether it is query ``i``'s answer. ``p_uniform[i]`` is the
    chance that a guess drawn uniformly from the pool's ``K`` distinct answers is right:
    ``1 / K`` when query ``i``'s answer is among them, else 0.
    """
    check(len(train) > 0, "train", "needs at least one training pair")
    counts: dict[str, int] = {}
    for _, a in train:
        counts[a] = counts.get(a, 0) + 1
    majority = min(counts, key=lambda a: (-counts[a], a))
    hit = np.array([a == majority for _, a in queries], dtype=bool)
    p_uniform = np.array([1.0 / len(counts) if a in counts else 0.0 for _, a in queries])
    return majority, hit, p_uniform


def chance_rates(suite: Suite, split: str = "test") -> dict[str, dict[str, float]]:
    """Per family of ``suite``: ``majority`` (always the pool's most frequent answer) and
    ``uniform`` (a uniform guess among the pool's answers) accuracy on ``split``, and ``ceiling``."""
    check(split in ("val", "test"), "split", f"must be val or test; got {split!r}")
    out = {}
    for f in suite.families:
        _, hit, p = guess_baselines(suite.train[f], getattr(suite, split)[f])
        out[f] = {"majority": float(hit.mean()), "uniform": float(p.mean()), "ceiling": CEILING}
    return out


# -- encoding ----------------------------------------------------------------------------


def encode(prompt: str, answer: str = "") -> list[int]:
    """``[BOS] prompt answer [EOS]`` as token ids (no EOS when ``answer`` is empty)."""
    ids = [BOS] + [_CHAR_ID[c] for c in prompt]
    if answer:
        ids += [_CHAR_ID[c] for c in answer] + [EOS]
    return ids


def encode_batch(pairs: Sequence[tuple[str, str]], seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tokens [N, seq_len + 1], prompt_len [N], answer_len [N])``: right-padded with PAD.

    ``prompt_len`` counts BOS; ``answer_len`` counts EOS.
    """
    n = len(pairs)
    tokens = np.zeros((n, seq_len + 1), np.int32)
    plen = np.zeros(n, np.int32)
    alen = np.zeros(n, np.int32)
    for i, (p, a) in enumerate(pairs):
        ids = encode(p, a)
        if len(ids) > seq_len + 1:
            raise ValueError(f"query {p!r} -> {a!r} needs {len(ids)} tokens > seq_len + 1 = {seq_len + 1}")
        tokens[i, : len(ids)] = ids
        plen[i] = len(p) + 1
        alen[i] = len(a) + 1
    return tokens, plen, alen


def answer_mask(plen: np.ndarray, alen: np.ndarray, seq_len: int) -> np.ndarray:
    """``[N, seq_len]`` float mask over *target* positions (``tokens[:, 1:]``) that hold the answer or EOS."""
    pos = np.arange(seq_len)[None, :] + 1  # target position t predicts token t + 1
    return ((pos >= plen[:, None]) & (pos < (plen + alen)[:, None])).astype(np.float32)


def decode_answer(ids: Sequence[int]) -> str:
    """Characters up to the first EOS (or PAD/BOS); unknown ids become ``?``."""
    chars = []
    for t in ids:
        t = int(t)
        if t in (EOS, PAD, BOS):
            break
        chars.append(ALPHABET[t - 3] if 3 <= t < VOCAB_SIZE else "?")
    return "".join(chars)
