"""A generated, multi-domain, byte-level corpus: no downloads, same bytes on every machine.

Five text domains (:data:`TEXT_DOMAINS`, the default), each a generator of short ASCII
*documents* (every one ends in ``"\\n"``) with structure that rewards capacity, so that experts
have something to specialise on; a sixth, ``knowledge``, is a fact table with controlled
exposures (:mod:`routerlab.models.knowledge`), mixed in or alone:

``arith``
    Integer expressions with their values, ``(37+8)*4=180``: the answer digits need
    carrying and operator precedence.
``code``
    Programs in a small imperative language (``let``, assignment, ``if``/``while`` blocks
    with braces and indentation, ``print(x); # 12``): each ``print`` comment is the value
    the program computes, so predicting it means tracking variables.
``prose``
    Sentences from a fixed probabilistic grammar over a fixed vocabulary, with
    subject-verb number agreement (``the old cats near a river chase the dog.``).
``dyck``
    Balanced strings over ``()[]{}<>``: every closing bracket is determined by a stack.
``recall``
    Key-value lists followed by queries, ``c=4 x=7 q=1 ?x=7 ?c=4``: associative recall.

Determinism and splits.
    Each domain draws from its own :class:`random.Random` seeded by ``crc32(domain)`` and
    the corpus seed (Python's Mersenne Twister; its integer seeding, ``random``, ``randrange``
    and ``choice`` are stable across platforms and Python versions), so adding a domain
    never changes another. A document goes to ``train``/``val``/``test`` by a hash of its
    text, so identical documents (short sums recur) always land in the same split and the
    splits are disjoint as sets of documents. Within a split, a domain's documents are
    concatenated and cut into non-overlapping windows of ``seq_len + 1`` bytes, one domain
    per window, whose label is kept for routing analysis.

Batches.
    :meth:`Corpus.batch` reads ``train`` in epochs: epoch ``e`` is a permutation of all
    windows keyed by ``fold_in(data_key, e)``, and step ``s`` takes positions
    ``[s B, (s + 1) B)`` of the concatenated epochs. A batch is therefore a pure function of
    ``(data_key, step)``: a resumed run sees exactly the batches an uninterrupted one does.
"""

from __future__ import annotations

import functools
import random
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import numpy as np

from routerlab.config import check
from routerlab.models import knowledge
from routerlab.models.knowledge import KNOWLEDGE, KnowledgeConfig
from routerlab.models.prose import prose_doc as _prose_doc

__all__ = [
    "DOMAINS",
    "TEXT_DOMAINS",
    "SPLITS",
    "VOCAB_SIZE",
    "CorpusConfig",
    "Corpus",
    "Batch",
    "build_corpus",
    "generate_documents",
    "split_of",
    "encode",
    "decode",
]

#: Domain names, in label order (``Batch.domain`` holds indices into this tuple).
DOMAINS: tuple[str, ...] = ("arith", "code", "prose", "dyck", "recall", KNOWLEDGE)
#: The generated text domains: the default corpus.
TEXT_DOMAINS: tuple[str, ...] = DOMAINS[:5]
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Every byte of the corpus is printable ASCII or ``"\n"``: token ids are in ``[0, 128)``.
VOCAB_SIZE = 128


@dataclass(frozen=True)
class CorpusConfig:
    """Size and composition of the generated corpus.

    Attributes:
      seed: corpus seed; the text depends only on it and ``bytes_per_domain``.
      bytes_per_domain: bytes generated per domain, before splitting.
      val_fraction: expected fraction of documents hashed into ``val``.
      test_fraction: likewise for ``test``.
      domains: which of :data:`DOMAINS` to include (label indices stay those of ``DOMAINS``).
      knowledge: the ``knowledge`` domain's table and renderings (defaults when ``None``);
        ``bytes_per_domain`` does not apply to it.
    """

    seed: int = 0
    bytes_per_domain: int = 400_000
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    domains: tuple[str, ...] = TEXT_DOMAINS
    knowledge: KnowledgeConfig | None = None

    def __post_init__(self) -> None:
        check(self.bytes_per_domain >= 1_000, "bytes_per_domain", f"must be >= 1000; got {self.bytes_per_domain}")
        check(0 < self.val_fraction < 0.5, "val_fraction", f"must be in (0, 0.5); got {self.val_fraction}")
        check(0 < self.test_fraction < 0.5, "test_fraction", f"must be in (0, 0.5); got {self.test_fraction}")
        check(len(self.domains) > 0, "domains", "must name at least one domain")
        for name in self.domains:
            check(name in DOMAINS, "domains", f"unknown domain {name!r}; allowed: {', '.join(DOMAINS)}")
        check(len(set(self.domains)) == len(self.domains), "domains", f"has duplicates: {list(self.domains)}")


# ---------------------------------------------------------------------------------------
# Domain generators: each takes a random.Random and returns one document ending in "\n".
# ---------------------------------------------------------------------------------------


def _arith_expr(rng: random.Random, depth: int) -> str:
    """A random expression over non-negative integers with ``+ - *`` and parentheses.

    Right operands of ``*`` are single literals below 13, which keeps values learnable.
    """
    if depth == 0 or rng.random() < 0.3:
        return str(rng.randrange(0, 100 if rng.random() < 0.7 else 1000))
    op = rng.choice("++-*")
    left = _arith_expr(rng, depth - 1)
    right = str(rng.randrange(0, 13)) if op == "*" else _arith_expr(rng, depth - 1)
    text = f"{left}{op}{right}"
    return f"({text})" if rng.random() < 0.4 else text


def _eval_infix(text: str) -> int:
    """Evaluate integers with ``+ - *`` and parentheses under the usual precedence."""
    tokens = re.findall(r"\d+|[-+*()]", text)
    pos = 0

    def atom() -> int:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = expr()
            pos += 1  # ")"
            return value
        return int(tok)

    def term() -> int:
        nonlocal pos
        value = atom()
        while pos < len(tokens) and tokens[pos] == "*":
            pos += 1
            value *= atom()
        return value

    def expr() -> int:
        nonlocal pos
        value = term()
        while pos < len(tokens) and tokens[pos] in "+-":
            op = tokens[pos]
            pos += 1
            value = value + term() if op == "+" else value - term()
        return value

    return expr()


def _arith_doc(rng: random.Random) -> str:
    text = _arith_expr(rng, depth=rng.choice((1, 1, 2, 3)))
    return f"{text}={_eval_infix(text)}\n"


_VARS = tuple("abcdefghkmnpxyz")


def _code_doc(rng: random.Random) -> str:
    """A small program whose ``print`` comments are the values it computes."""
    env: dict[str, int] = {}
    lines: list[str] = []

    def operand() -> tuple[str, int]:
        if env and rng.random() < 0.6:
            name = rng.choice(sorted(env))
            return name, env[name]
        value = rng.randrange(0, 10)
        return str(value), value

    def statement(indent: str, depth: int) -> None:
        kind = rng.random()
        if not env or kind < 0.3:
            name = rng.choice(_VARS)
            text, value = operand()
            env[name] = value
            lines.append(f"{indent}let {name} = {text};")
        elif kind < 0.55:
            name = rng.choice(sorted(env))
            op = rng.choice("+-*")
            text, value = operand()
            if op == "*":  # products wrap modulo 1000 (Python's %), sums and differences do not
                env[name] = env[name] * value % 1000
                lines.append(f"{indent}{name} = {name} * {text} % 1000;")
            else:
                env[name] = env[name] + value if op == "+" else env[name] - value
                lines.append(f"{indent}{name} = {name} {op} {text};")
        elif kind < 0.75:
            name = rng.choice(sorted(env))
            lines.append(f"{indent}print({name}); # {env[name]}")
        elif depth < 2 and kind < 0.88:
            name = rng.choice(sorted(env))
            bound = rng.randrange(0, 20)
            taken = env[name] > bound
            lines.append(f"{indent}if ({name} > {bound}) {{")
            start = len(lines)
            saved = dict(env)
            for _ in range(rng.randrange(1, 3)):
                statement(indent + "  ", depth + 1)
            if not taken:  # the body is written but not run: undo it, blank its prints
                env.clear()
                env.update(saved)
                for k in range(start, len(lines)):
                    if " # " in lines[k]:
                        lines[k] = lines[k].split(" # ")[0] + " # -"
            lines.append(f"{indent}}}")
        elif depth < 2:
            name = rng.choice(_VARS)
            count = rng.randrange(1, 5)
            step = rng.randrange(1, 4)
            env[name] = 0
            lines.append(f"{indent}let {name} = 0;")
            lines.append(f"{indent}while ({name} < {count * step}) {{")
            lines.append(f"{indent}  {name} = {name} + {step};")
            lines.append(f"{indent}}}")
            env[name] = count * step
            lines.append(f"{indent}print({name}); # {env[name]}")
        else:
            name = rng.choice(sorted(env))
            lines.append(f"{indent}print({name}); # {env[name]}")

    for _ in range(rng.randrange(3, 9)):
        statement("", 0)
    return "\n".join(lines) + "\n\n"  # a blank line between programs


_BRACKETS = ("()", "[]", "{}", "<>")


def _dyck_doc(rng: random.Random) -> str:
    length = rng.randrange(4, 40)
    out: list[str] = []
    stack: list[str] = []
    while len(out) + len(stack) < length or stack:
        room = len(out) + len(stack) < length and len(stack) < 8
        if stack and (not room or rng.random() < 0.45):
            out.append(stack.pop())
        else:
            pair = rng.choice(_BRACKETS)
            out.append(pair[0])
            stack.append(pair[1])
    return "".join(out) + "\n"


_KEYS = "abcdefghijklmnopqrstuvwxyz"


def _recall_doc(rng: random.Random) -> str:
    keys = rng.sample(_KEYS, rng.randrange(3, 9))
    table = {k: rng.randrange(0, 10) for k in keys}
    queries = [rng.choice(keys) for _ in range(rng.randrange(1, 4))]
    pairs = " ".join(f"{k}={table[k]}" for k in keys)
    asks = " ".join(f"?{k}={table[k]}" for k in queries)
    return f"{pairs} {asks}\n"


_GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "arith": _arith_doc,
    "code": _code_doc,
    "prose": _prose_doc,
    "dyck": _dyck_doc,
    "recall": _recall_doc,
}


def generate_documents(domain: str, seed: int) -> Iterator[str]:
    """The infinite document stream of ``domain`` under ``seed`` (deterministic)."""
    rng = random.Random((seed << 32) ^ zlib.crc32(domain.encode()))
    make = _GENERATORS[domain]
    while True:
        yield make(rng)


def split_of(document: str, val_fraction: float, test_fraction: float) -> str:
    """The split a document belongs to: a function of its text alone."""
    u = zlib.crc32(document.encode()) / 2**32
    if u < val_fraction:
        return "val"
    if u < val_fraction + test_fraction:
        return "test"
    return "train"


def encode(text: str) -> np.ndarray:
    """ASCII text to uint8 token ids."""
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()


def decode(tokens: np.ndarray | jax.Array) -> str:
    """Token ids back to text."""
    return bytes(np.asarray(tokens, dtype=np.uint8).tolist()).decode("ascii")


@functools.lru_cache(maxsize=8)
def _domain_streams(domain: str, seed: int, nbytes: int, val_fraction: float, test_fraction: float) -> dict[str, bytes]:
    parts: dict[str, list[str]] = {s: [] for s in SPLITS}
    total = 0
    for doc in generate_documents(domain, seed):
        parts[split_of(doc, val_fraction, test_fraction)].append(doc)
        total += len(doc)
        if total >= nbytes:
            break
    return {s: "".join(docs).encode("ascii") for s, docs in parts.items()}


@dataclass(frozen=True)
class Batch:
    """A batch of windows: ``tokens[B, seq_len + 1]`` int32 and their ``domain[B]`` labels (with
    leading axes before ``B`` for :meth:`Corpus.batches`: ``tokens[steps, B, seq_len + 1]``)."""

    tokens: np.ndarray
    domain: np.ndarray

    @property
    def inputs(self) -> np.ndarray:
        return self.tokens[..., :-1]

    @property
    def targets(self) -> np.ndarray:
        return self.tokens[..., 1:]


class Corpus:
    """The generated corpus cut into windows of ``seq_len + 1`` bytes, per split."""

    def __init__(self, cfg: CorpusConfig, seq_len: int):
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1; got {seq_len}")
        self.cfg = cfg
        self.seq_len = seq_len
        self.windows: dict[str, np.ndarray] = {}
        self.domains: dict[str, np.ndarray] = {}
        self._orders: dict[tuple, np.ndarray] = {}
        width = seq_len + 1
        for split in SPLITS:
            rows, labels = [], []
            for name in cfg.domains:
                if name == KNOWLEDGE:  # one biography per window (exposures are counted in windows)
                    rows.append(knowledge.windows(cfg.seed, cfg.knowledge or KnowledgeConfig(), split, width))
                    labels.append(np.full((len(rows[-1]),), DOMAINS.index(name), dtype=np.int32))
                    continue
                stream = _domain_streams(name, cfg.seed, cfg.bytes_per_domain, cfg.val_fraction, cfg.test_fraction)[split]
                n = len(stream) // width
                rows.append(np.frombuffer(stream[: n * width], dtype=np.uint8).reshape(n, width))
                labels.append(np.full((n,), DOMAINS.index(name), dtype=np.int32))
            self.windows[split] = np.concatenate(rows).astype(np.int32)
            self.domains[split] = np.concatenate(labels)
            if len(self.windows[split]) == 0:
                raise ValueError(
                    f"split {split!r} has no window of {width} bytes; raise bytes_per_domain "
                    f"({cfg.bytes_per_domain}) or lower seq_len"
                )

    def num_windows(self, split: str) -> int:
        return len(self.windows[split])

    def _epoch_order(self, key: jax.Array, epoch: int) -> np.ndarray:
        cache = self._orders
        tag = (tuple(np.asarray(jax.random.key_data(key)).ravel().tolist()), epoch)
        if tag not in cache:
            if len(cache) > 4:
                cache.clear()
            cache[tag] = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), self.num_windows("train")))
        return cache[tag]

    def _train_rows(self, key: jax.Array, positions: np.ndarray) -> Batch:
        """The training windows at ``positions`` of the stream under ``key`` (epoch after epoch,
        each a fresh permutation of the training windows); any shape of ``positions``."""
        n = self.num_windows("train")
        index = np.empty(positions.shape, dtype=np.int64)
        epochs = positions // n
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            index[mask] = self._epoch_order(key, int(epoch))[positions[mask] % n]
        return Batch(self.windows["train"][index], self.domains["train"][index])

    def batch(self, key: jax.Array, step: int, batch_size: int) -> Batch:
        """The ``step``-th training batch under ``key``: a pure function of ``(key, step)``."""
        return self._train_rows(key, step * batch_size + np.arange(batch_size))

    def batches(self, key: jax.Array, steps: int, batch_size: int) -> Batch:
        """Training batches ``0 .. steps - 1`` under ``key`` at once (``tokens [steps, B, T + 1]``):
        ``batch(key, i, batch_size)`` for each ``i``, stacked, without a call per step."""
        return self._train_rows(key, np.arange(steps * batch_size).reshape(steps, batch_size))

    def eval_batches(self, split: str, batch_size: int, max_batches: int | None = None, *,
                     mixed: bool = False) -> Iterator[Batch]:
        """Fixed evaluation batches of ``split``: domain-pure, or (``mixed``) the same windows mixed.

        Domain-pure: for each domain in turn, up to ``max_batches`` full batches (all that fit
        when ``None``) of that domain's windows, taken at evenly spaced indices. Keeping a
        batch to one domain lets per-batch routing statistics (an MoE layer's expert load) be
        read per domain: the *specialisation* readout. A remainder smaller than a batch is left
        out, so shapes are static.

        ``mixed``: exactly those windows, dealt round-robin across the domains (the first
        window of each domain, then the second of each, ...) and cut into batches of
        ``batch_size``, so that every batch mixes the domains as the training batches do.
        Per-window losses are the same either way for a model whose routing does not depend on
        the rest of the batch (dense, top-k dropless); routing statistics, drops and dead
        experts under a capacity or expert-choice router are not, and are read on mixed batches.
        """
        if mixed:
            pure = list(self.eval_batches(split, batch_size, max_batches))
            per_domain: dict[int, list[int]] = {}
            for i, b in enumerate(pure):  # a domain's batches are consecutive
                per_domain.setdefault(int(b.domain[0]), []).append(i)
            rows = [np.concatenate([pure[i].tokens for i in idx]) for idx in per_domain.values()]
            labels = [np.concatenate([pure[i].domain for i in idx]) for idx in per_domain.values()]
            order = sorted(((j, d) for d, r in enumerate(rows) for j in range(len(r))))  # (rank, domain)
            tokens = np.stack([rows[d][j] for j, d in order])
            domain = np.array([labels[d][j] for j, d in order])
            for b in range(len(tokens) // batch_size):  # the total is a whole number of batches
                yield Batch(tokens[b * batch_size : (b + 1) * batch_size], domain[b * batch_size : (b + 1) * batch_size])
            return
        windows, labels = self.windows[split], self.domains[split]
        for name in self.cfg.domains:
            rows = np.flatnonzero(labels == DOMAINS.index(name))
            count = len(rows) // batch_size if max_batches is None else min(max_batches, len(rows) // batch_size)
            if count == 0:
                raise ValueError(
                    f"split {split!r} has {len(rows)} windows of domain {name!r}, fewer than one batch "
                    f"of {batch_size}; raise bytes_per_domain ({self.cfg.bytes_per_domain}) or lower batch_size"
                )
            pick = rows[np.linspace(0, len(rows) - 1, count * batch_size).round().astype(np.int64)]
            for b in range(count):
                index = pick[b * batch_size : (b + 1) * batch_size]
                yield Batch(windows[index], labels[index])


@functools.lru_cache(maxsize=4)
def build_corpus(cfg: CorpusConfig, seq_len: int) -> Corpus:
    """The corpus for ``cfg`` cut into ``seq_len + 1``-byte windows (memoised per process)."""
    return Corpus(cfg, seq_len)

