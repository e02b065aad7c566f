"""RouteLLM loaders: a tiny synthetic copy of the layout, then the real files when present."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routerlab.data import RoutingLogError, load_gsm8k, load_mmlu, load_mt_bench, to_matrices
from routerlab.data.routellm import STRONG, WEAK

REAL_ROOT = Path(__file__).resolve().parents[2] / "../shared/data/routellm"


def _jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _contaminated(path: Path, prompts) -> None:
    _jsonl(path, [{"train_prompt": p, "eval_prompt": p, "train_idx": 0, "eval_idx": 0} for p in prompts])


def _single_judge_prompt(question: str, answer: str) -> str:
    return (
        f"[Instruction]\nRate it.\n\n[Question]\n{question}\n\n"
        f"[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
    )


def _multi_judge_prompt(q1: str, a1: str, q2: str, a2: str) -> str:
    return (
        "<|The Start of Assistant A's Conversation with User|>\n\n"
        f"### User:\n{q1}\n\n### Assistant A:\n{a1}\n\n### User:\n{q2}\n\n### Assistant A:\n{a2}\n\n"
        "<|The End of Assistant A's Conversation with User|>"
    )


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    mmlu = tmp_path / "mmlu"
    mmlu.mkdir()
    pd.DataFrame({"prompt": ["Q1 abcd", "Q2"], WEAK: [True, False], STRONG: [True, True]}).to_csv(
        mmlu / "mmlu_alpha.csv", index=False
    )
    pd.DataFrame({"prompt": ["Q3 leaked"], WEAK: [False], STRONG: [False]}).to_csv(mmlu / "mmlu_beta.csv", index=False)
    _contaminated(mmlu / "contaminated_prompts.jsonl", ["Q3 leaked"])

    gsm8k = tmp_path / "gsm8k"
    gsm8k.mkdir()
    pd.DataFrame(
        {
            "prompt": ["abcd" * 25, "leaked"],
            WEAK: [False, True],
            STRONG: [True, True],
            f"{WEAK}_response": ["w" * 40, "x"],
            f"{STRONG}_response": ["s" * 400, "y"],
        }
    ).to_csv(gsm8k / "gsm8k_responses.csv", index=False)
    _contaminated(gsm8k / "contaminated_prompts.jsonl", ["leaked"])

    mt = tmp_path / "mt_bench"
    questions = [
        {"question_id": 81, "category": "writing", "turns": ["abcdabcd", "abcd"]},
        {"question_id": 82, "category": "math", "turns": ["clean", "leaked turn"]},
    ]
    _jsonl(mt / "question.jsonl", questions)
    _contaminated(mt / "contaminated_prompts.jsonl", ["leaked turn"])
    answers = {WEAK: ("x" * 12, "y" * 4, 6, 8), STRONG: ("z" * 8, "w" * 20, 9, 10)}
    judgements = []
    for q in questions:
        q1, q2 = q["turns"]
        for model, (a1, a2, s1, s2) in answers.items():
            judgements.append({"question_id": q["question_id"], "model": model, "turn": 1, "score": s1,
                               "user_prompt": _single_judge_prompt(q1, a1)})  # fmt: skip
            judgements.append({"question_id": q["question_id"], "model": model, "turn": 2, "score": s2,
                               "user_prompt": _multi_judge_prompt(q1, a1, q2, a2)})  # fmt: skip
    _jsonl(mt / "judgements.jsonl", judgements)
    return tmp_path


def test_mmlu_layout_and_decontamination(fake_root):
    m = to_matrices(load_mmlu(fake_root))
    assert list(m.query_ids) == ["mmlu/alpha/1", "mmlu/alpha/2"] and list(m.tasks) == ["alpha", "alpha"]
    assert m.models == (WEAK, STRONG)
    np.testing.assert_array_equal(m.quality, [[1, 1], [0, 1]])
    # "Q1 abcd": ceil(7/4) = 2 tokens in, 1 out. Mixtral: 3 * 0.6e-6; GPT-4: 2 * 10e-6 + 1 * 30e-6 = 5e-5.
    np.testing.assert_allclose(m.cost[0], [1.8e-6, 5e-5])
    assert to_matrices(load_mmlu(fake_root, decontaminate=False)).query_ids[-1] == "mmlu/beta/1"


def test_gsm8k_costs_from_responses(fake_root):
    ds = load_gsm8k(fake_root)
    m = to_matrices(ds)
    assert list(m.query_ids) == ["gsm8k/1"] and list(m.tasks) == ["gsm8k"]
    np.testing.assert_array_equal(m.quality, [[0, 1]])
    # 100 chars -> 25 tokens in. Mixtral: (25 + 40/4) * 0.6e-6 = 2.1e-5.
    # GPT-4: 25 * 10e-6 + (400/4) * 30e-6 = 2.5e-4 + 3e-3 = 3.25e-3.
    np.testing.assert_allclose(m.cost, [[2.1e-5, 3.25e-3]])
    assert list(ds.to_pandas()["tokens_out"]) == [10, 100]
    assert load_gsm8k(fake_root, decontaminate=False).num_rows == 4


def test_mt_bench_turns_and_costs(fake_root):
    m = to_matrices(load_mt_bench(fake_root))
    assert list(m.query_ids) == ["mt_bench/81"] and list(m.tasks) == ["writing"] and list(m.prompts) == ["abcdabcd"]
    # quality = mean(score) / 10: Mixtral (6 + 8) / 20 = 0.7, GPT-4 (9 + 10) / 20 = 0.95.
    np.testing.assert_allclose(m.quality, [[0.7, 0.95]])
    # Mixtral tokens: turn 1 in 2 ("abcdabcd"), out 3; turn 2 in 2 + 3 + 1 = 6, out 1 -> 8 in, 4 out.
    #   cost = 12 * 0.6e-6 = 7.2e-6.
    # GPT-4: turn 1 in 2, out 2; turn 2 in 2 + 2 + 1 = 5, out 5 -> 7 in, 7 out.
    #   cost = 7 * 10e-6 + 7 * 30e-6 = 2.8e-4.
    np.testing.assert_allclose(m.cost, [[7.2e-6, 2.8e-4]])

    turns = load_mt_bench(fake_root, per_turn=True, decontaminate=False)
    t = to_matrices(turns)
    assert list(t.query_ids) == ["mt_bench/81/turn1", "mt_bench/81/turn2", "mt_bench/82/turn1", "mt_bench/82/turn2"]
    np.testing.assert_allclose(t.quality[:2], [[0.6, 0.9], [0.8, 1.0]])
    np.testing.assert_allclose(t.cost[1], [(6 + 1) * 0.6e-6, 5 * 10e-6 + 5 * 30e-6])
    assert t.splits[0] == t.splits[1] and t.splits[2] == t.splits[3]  # a conversation stays in one split


def test_mt_bench_missing_answer_is_located(fake_root):
    path = fake_root / "mt_bench" / "judgements.jsonl"
    lines = path.read_text().splitlines()
    broken = json.loads(lines[0]) | {"user_prompt": "no answer here"}
    path.write_text("\n".join([json.dumps(broken), *lines[1:]]) + "\n")
    with pytest.raises(RoutingLogError, match="row 1, column 'user_prompt': cannot find the judged answer of turn 1"):
        load_mt_bench(fake_root)


@pytest.fixture(scope="module")
def real_root() -> Path:
    if not REAL_ROOT.is_dir():
        pytest.skip(f"RouteLLM evaluation files not found at {REAL_ROOT} (they live in the repo's sibling shared/)")
    return REAL_ROOT


def test_real_mmlu_matches_provenance(real_root):
    m = to_matrices(load_mmlu(real_root))
    # PROVENANCE.md: Mixtral 0.681, GPT-4 0.806, oracle 0.859 on 14,037 prompts after decontamination.
    assert len(m.query_ids) == 14_037 and len(set(m.tasks)) == 57
    np.testing.assert_allclose(m.quality.mean(axis=0), [0.681, 0.806], atol=5e-4)
    assert m.quality.max(axis=1).mean() == pytest.approx(0.859, abs=5e-4)
    # Mean USD per query (4 chars/token, 1 output token), measured once: the strong model costs ~17x more.
    np.testing.assert_allclose(m.cost.mean(axis=0), [7.075e-5, 1.1991e-3], rtol=1e-3)
    assert load_mmlu(real_root, decontaminate=False).num_rows == 2 * 14_042


def test_real_gsm8k_matches_provenance(real_root):
    m = to_matrices(load_gsm8k(real_root))
    # PROVENANCE.md: Mixtral 0.637, GPT-4 0.858, oracle 0.930 on 1,307 prompts.
    assert len(m.query_ids) == 1_307
    np.testing.assert_allclose(m.quality.mean(axis=0), [0.637, 0.858], atol=5e-4)
    assert m.quality.max(axis=1).mean() == pytest.approx(0.930, abs=5e-4)
    np.testing.assert_allclose(m.cost.mean(axis=0), [8.170e-5, 3.7574e-3], rtol=1e-3)


def test_real_mt_bench(real_root):
    m = to_matrices(load_mt_bench(real_root))
    # 80 questions, 8 of them contaminated (RouteLLM prints 72 after decontamination).
    assert len(m.query_ids) == 72 and len(set(m.tasks)) == 8
    np.testing.assert_allclose(m.quality.mean(axis=0), [0.8281, 0.9212], atol=5e-4)
    assert load_mt_bench(real_root, per_turn=True).num_rows == 2 * 2 * 72
