"""Loaders for RouteLLM's evaluation outcomes (Ong et al., "RouteLLM: Learning to Route
LLMs with Preference Data", 2024; files from lm-sys/RouteLLM ``routellm/evals/``).

``root`` is a directory laid out like RouteLLM's ``evals/``::

    mmlu/mmlu_<subject>.csv, mmlu/contaminated_prompts.jsonl
    gsm8k/gsm8k_responses.csv, gsm8k/contaminated_prompts.jsonl
    mt_bench/judgements.jsonl, mt_bench/question.jsonl, mt_bench/contaminated_prompts.jsonl

Two models answered every prompt: :data:`WEAK` (Mixtral-8x7B-Instruct) and :data:`STRONG`
(GPT-4-1106-preview). Decontamination follows RouteLLM's ``evals/benchmarks.py``: a prompt
is dropped when it equals an ``eval_prompt`` of ``contaminated_prompts.jsonl`` (for
MT-Bench, when either turn does).

Costs use :data:`ROUTELLM_PRICES` (USD per 1M tokens: GPT-4 $10 in / $30 out, Mixtral
$0.6 / $0.6, the prices RouterBench uses) and token counts approximated by
:func:`~routerlab.data.schema.approx_tokens` (4 characters per token), since no
tokenizer may be downloaded:

* input tokens: the prompt as stored (MMLU prompts include the options and ``Answer:``);
* output tokens: the full response where the files have it (GSM8K; MT-Bench answers are
  recovered from the judge prompts); MMLU keeps only correctness, and the models answer
  with one letter, so every MMLU answer counts :data:`MMLU_OUTPUT_TOKENS` = 1 token.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from routerlab.data.schema import (
    DEFAULT_FRACTIONS,
    ModelOutcomes,
    PriceTable,
    RoutingLogError,
    approx_tokens,
    assign_splits,
    wide_log,
)
from routerlab.data.table import FrameReader, read_table, text_tokens

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
MODELS: tuple[str, str] = (WEAK, STRONG)
ROUTELLM_PRICES = PriceTable({STRONG: (10.0, 30.0), WEAK: (0.6, 0.6)}, per=1_000_000)
MMLU_OUTPUT_TOKENS = 1


def contaminated_prompts(path: str | Path) -> set[str]:
    """The ``eval_prompt`` values of a ``contaminated_prompts.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return {json.loads(line)["eval_prompt"] for line in f if line.strip()}


def load_mmlu(
    root: str | Path,
    *,
    decontaminate: bool = True,
    prices: PriceTable = ROUTELLM_PRICES,
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> datasets.Dataset:
    """MMLU: one query per question of ``mmlu/mmlu_<subject>.csv``; task = subject.

    Query ids are ``mmlu/<subject>/<row>`` (row counted from 1 in its file); quality is
    1.0 when the model's answer was correct. On RouteLLM's files: 14,042 questions, 14,037
    after decontamination.
    """
    root = Path(root) / "mmlu"
    files = sorted(root.glob("mmlu_*.csv"))
    if not files:
        raise FileNotFoundError(f"no mmlu_*.csv files in {root}")
    drop = contaminated_prompts(root / "contaminated_prompts.jsonl") if decontaminate else set()
    ids, tasks, prompts, quality = [], [], [], {m: [] for m in MODELS}
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        reader = FrameReader(read_table(path), str(path))
        text = reader.strings("prompt")
        keep = ~np.isin(text, list(drop))
        ids.append(np.array([f"mmlu/{subject}/{row}" for row in np.flatnonzero(keep) + 1], dtype=object))
        tasks.append(np.full(keep.sum(), subject, dtype=object))
        prompts.append(text[keep])
        for model in MODELS:
            quality[model].append(reader.quality(model, "error")[0][keep])
    query_ids, prompt_text = np.concatenate(ids), np.concatenate(prompts)
    tokens_in = text_tokens(prompt_text)
    tokens_out = np.full(len(query_ids), MMLU_OUTPUT_TOKENS, dtype=np.int64)
    outcomes = {
        m: ModelOutcomes(np.concatenate(quality[m]), prices.cost(m, tokens_in, tokens_out), tokens_in, tokens_out)
        for m in MODELS
    }
    splits = assign_splits(query_ids, split_seed, fractions)
    return wide_log(query_ids, splits, np.concatenate(tasks), prompt_text, outcomes, str(root))


def load_gsm8k(
    root: str | Path,
    *,
    decontaminate: bool = True,
    prices: PriceTable = ROUTELLM_PRICES,
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> datasets.Dataset:
    """GSM8K: one query per row of ``gsm8k/gsm8k_responses.csv``; task ``"gsm8k"``.

    Query ids are ``gsm8k/<row>``; quality is 1.0 for a correct final answer; output
    tokens come from the ``<model>_response`` columns. On RouteLLM's files: 1,319
    questions, 1,307 after decontamination.
    """
    root = Path(root) / "gsm8k"
    path = root / "gsm8k_responses.csv"
    reader = FrameReader(read_table(path), str(path))
    text = reader.strings("prompt")
    drop = contaminated_prompts(root / "contaminated_prompts.jsonl") if decontaminate else set()
    keep = ~np.isin(text, list(drop))
    query_ids = np.array([f"gsm8k/{row}" for row in np.flatnonzero(keep) + 1], dtype=object)
    prompts = text[keep]
    tokens_in = text_tokens(prompts)
    outcomes = {}
    for model in MODELS:
        tokens_out = text_tokens(reader.strings(f"{model}_response", missing="")[keep])
        quality = reader.quality(model, "error")[0][keep]
        outcomes[model] = ModelOutcomes(quality, prices.cost(model, tokens_in, tokens_out), tokens_in, tokens_out)
    splits = assign_splits(query_ids, split_seed, fractions)
    tasks = np.full(len(query_ids), "gsm8k", dtype=object)
    return wide_log(query_ids, splits, tasks, prompts, outcomes, str(path))


_SINGLE_ANSWER = ("[The Start of Assistant's Answer]\n", "\n[The End of Assistant's Answer]")
_CONVERSATION = (
    "<|The Start of Assistant A's Conversation with User|>",
    "<|The End of Assistant A's Conversation with User|>",
)
_ASSISTANT_TURN = "### Assistant A:\n"


def _answer(judge_prompt: str, turn: int) -> str | None:
    """The judged answer inside an MT-Bench (FastChat) judge prompt, or None if absent.

    Turn 1 prompts quote the answer between ``[The Start/End of Assistant's Answer]``;
    turn 2 prompts quote the conversation, whose last ``### Assistant A:`` block is the
    second answer.
    """
    if turn == 1:
        start, end = _SINGLE_ANSWER
        begin = judge_prompt.find(start)
        stop = judge_prompt.rfind(end)
        return judge_prompt[begin + len(start) : stop] if 0 <= begin < stop else None
    start, end = _CONVERSATION
    begin, stop = judge_prompt.find(start), judge_prompt.rfind(end)
    if not 0 <= begin < stop:
        return None
    conversation = judge_prompt[begin:stop]
    last = conversation.rfind(_ASSISTANT_TURN)
    return conversation[last + len(_ASSISTANT_TURN) :].strip() if last >= 0 else None


def load_mt_bench(
    root: str | Path,
    *,
    per_turn: bool = False,
    decontaminate: bool = True,
    prices: PriceTable = ROUTELLM_PRICES,
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> datasets.Dataset:
    """MT-Bench: GPT-4-judge scores (1-10) of both models on two-turn questions.

    quality = score / 10. Task = MT-Bench category. Costs price each turn separately: turn
    1 reads the first question and writes answer 1; turn 2 reads question 1, answer 1 and
    question 2 and writes answer 2 (answers recovered from the judge prompts).

    * ``per_turn=False`` (default, as RouteLLM's ``benchmarks.py`` scores a routed question
      by the mean of its two turn scores): one query per question, id
      ``mt_bench/<question_id>``, quality = mean of the two turns' score / 10, cost and
      tokens summed over both turns, prompt = the first turn (RouteLLM routes on it).
    * ``per_turn=True``: one query per turn, id ``mt_bench/<question_id>/turn<t>``,
      prompt = that turn's question. Splits are still assigned per question, so both
      turns of a conversation land in the same split.

    On RouteLLM's files: 80 questions, 72 after decontamination.
    """
    root = Path(root) / "mt_bench"
    questions = read_table(root / "question.jsonl")
    drop = contaminated_prompts(root / "contaminated_prompts.jsonl") if decontaminate else set()
    questions = questions[[not (set(turns) & drop) for turns in questions["turns"]]]
    judgements_path = root / "judgements.jsonl"
    judgements = FrameReader(read_table(judgements_path), str(judgements_path))
    scores = judgements.numbers("score")
    judgements.raise_first(~((scores >= 0) & (scores <= 10)), "score", lambda i: f"must be in [0, 10], got {scores[i]}")
    key = pd.MultiIndex.from_arrays(
        [
            judgements.numbers("question_id").astype(np.int64),
            judgements.strings("model"),
            judgements.numbers("turn").astype(np.int64),
        ]
    )
    repeated = key.duplicated()
    judgements.raise_first(repeated, "turn", lambda i: f"second judgement of {key[i]}")
    judge_prompts = judgements.strings("user_prompt")
    row_of = pd.Series(np.arange(len(key)), index=key)

    def outcome(question_id: int, model: str, turn: int) -> tuple[float, str]:
        if (question_id, model, turn) not in row_of.index:
            raise RoutingLogError(
                str(judgements_path), f"no judgement of question {question_id}, model {model!r}, turn {turn}"
            )
        i = int(row_of[(question_id, model, turn)])
        answer = _answer(judge_prompts[i], turn)
        if answer is None:
            raise judgements.error(f"cannot find the judged answer of turn {turn}", index=i, column="user_prompt")
        return scores[i] / 10.0, answer

    qids = questions["question_id"].to_numpy(dtype=np.int64)
    turns = [list(t) for t in questions["turns"]]
    n = len(qids)
    quality = {m: np.empty((n, 2)) for m in MODELS}
    tokens_in = {m: np.empty((n, 2), dtype=np.int64) for m in MODELS}
    tokens_out = {m: np.empty((n, 2), dtype=np.int64) for m in MODELS}
    for model in MODELS:
        for k, (qid, (first, second)) in enumerate(zip(qids, turns, strict=True)):
            q1, a1 = outcome(int(qid), model, 1)
            q2, a2 = outcome(int(qid), model, 2)
            quality[model][k] = (q1, q2)
            tokens_in[model][k] = (
                approx_tokens(first),
                approx_tokens(first) + approx_tokens(a1) + approx_tokens(second),
            )
            tokens_out[model][k] = (approx_tokens(a1), approx_tokens(a2))

    conversation_ids = np.array([f"mt_bench/{q}" for q in qids], dtype=object)
    splits = assign_splits(conversation_ids, split_seed, fractions)
    categories = questions["category"].to_numpy(dtype=object)
    if per_turn:
        outcomes = {
            m: ModelOutcomes(
                quality[m].reshape(-1),
                prices.cost(m, tokens_in[m], tokens_out[m]).reshape(-1),
                tokens_in[m].reshape(-1),
                tokens_out[m].reshape(-1),
            )
            for m in MODELS
        }
        query_ids = np.array([f"{c}/turn{t}" for c in conversation_ids for t in (1, 2)], dtype=object)
        prompts = np.array([text for pair in turns for text in pair], dtype=object)
        return wide_log(query_ids, np.repeat(splits, 2), np.repeat(categories, 2), prompts, outcomes, str(root))
    outcomes = {
        m: ModelOutcomes(
            quality[m].mean(axis=1),
            prices.cost(m, tokens_in[m], tokens_out[m]).sum(axis=1),
            tokens_in[m].sum(axis=1),
            tokens_out[m].sum(axis=1),
        )
        for m in MODELS
    }
    prompts = np.array([pair[0] for pair in turns], dtype=object)
    return wide_log(conversation_ids, splits, categories, prompts, outcomes, str(root))
