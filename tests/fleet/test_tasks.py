"""The task suite: answers are right, generation is seeded, splits are disjoint, encoding round-trips."""

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.fleet.tasks import (
    BOS,
    EOS,
    FAMILIES,
    RELATIONS,
    TaskConfig,
    answer_mask,
    decode_answer,
    encode,
    encode_batch,
    chance_rates,
    facts,
    generate,
    guess_baselines,
    knowledge_query_tokens,
    make_suite,
    solve_code,
    solve_logic,
)


def test_hand_worked_answers():
    assert solve_code("a=3;b=a*4;c=b+a;c?") == 5  # b = 12 % 10 = 2, c = 5
    assert solve_code("a=7;b=a-9;b?") == 8  # -2 mod 10
    assert solve_logic("~(T&F)|F") == "T"
    assert solve_logic("~T|F") == "F"
    assert solve_logic("(T|F)&~(F|F)") == "T"
    assert solve_logic("T&F|T") == "T"  # left to right: (T&F)|T


def test_every_answer_checks_against_an_independent_solver():
    cfg = TaskConfig()
    for p, a in generate("math", 300, cfg, seed=3):
        expr = p.rstrip("=")
        assert str(eval(expr)) == a, p  # Python's own + - * %
    for p, a in generate("code", 300, cfg, seed=3):
        env: dict = {}
        *stmts, q = p.split(";")
        for s in stmts:
            name, expr = s.split("=")
            env[name] = eval(expr, {}, dict(env)) % 10
        assert str(env[q.rstrip("?")]) == a, p
    for p, a in generate("logic", 300, cfg, seed=3):
        py = p.rstrip("=").replace("~", " not ").replace("&", " and ").replace("|", " or ")
        py = py.replace("T", " True ").replace("F", " False ")
        # Python's `and` binds tighter than `or`; ours is left to right, so compare only formulas
        # without mixed unparenthesised operators (every binary node here is parenthesised or atomic).
        assert ("T" if eval(py) else "F") == a, p
    for p, a in generate("planning", 300, cfg, seed=3):
        assert a == "".join(sorted(p.removeprefix("sort ").rstrip("="))), p


def test_generation_is_seeded_and_knobs_change_difficulty():
    cfg = TaskConfig()
    assert generate("code", 50, cfg, 1) == generate("code", 50, cfg, 1)
    assert generate("code", 50, cfg, 1) != generate("code", 50, cfg, 2)
    long = TaskConfig(code_statements=5, plan_length=7, math_digits=3)
    assert all(p.count(";") == 5 for p, _ in generate("code", 50, long, 0))
    assert all(len(a) == 7 for _, a in generate("planning", 50, long, 0))
    assert max(len(a) for p, a in generate("math", 200, long, 0) if "+" in p) == 4
    with pytest.raises(ConfigError, match="code_statements"):
        TaskConfig(code_statements=0)


def test_splits_are_disjoint_and_knowledge_is_recall():
    cfg = TaskConfig(num_facts=60)
    suite = make_suite(cfg, train_size=2000, eval_size=100, seed=0)
    for f in FAMILIES:
        val, test, train = ({p for p, _ in getattr(suite, s)[f]} for s in ("val", "test", "train"))
        assert len(val) == len(suite.val[f]) and len(test) == len(suite.test[f])  # unique prompts
        assert not val & test
        if f == "knowledge":
            assert val | test <= train  # recall: every asked fact was stated in training
            assert len(val) == 30
        else:
            assert not (val | test) & train, f
            assert len(val) == 100
    kb = dict(facts(cfg))
    assert len(kb) == 60 and facts(cfg) == facts(TaskConfig(num_facts=60))
    assert all(kb[p] == a for p, a in suite.test["knowledge"])


def test_encoding_and_answer_mask():
    pairs = [("12+3=", "15"), ("sort 31=", "13")]
    tokens, plen, alen = encode_batch(pairs, seq_len=16)
    assert tokens[0, 0] == BOS and tokens[0, len(encode(*pairs[0])) - 1] == EOS
    assert list(plen) == [6, 9] and list(alen) == [3, 3]
    mask = answer_mask(plen, alen, 16)
    targets = tokens[:, 1:]
    assert decode_answer(targets[0][mask[0] > 0]) == "15"
    assert targets[0][mask[0] > 0][-1] == EOS
    assert mask.sum() == 6
    with pytest.raises(ValueError, match="needs"):
        encode_batch([("a=1;b=a+1;c=b*b;d=c-a;e=d+d;e?", "5")], seq_len=16)
    assert np.array_equal(encode("7=", "1")[:3], encode("7=")[:3])


def test_knowledge_base_is_seeded_distinct_and_nested():
    cfg = TaskConfig(num_facts=500, fact_digits=3)
    kb = facts(cfg)
    assert kb == facts(TaskConfig(num_facts=500, fact_digits=3))  # deterministic
    assert kb != facts(TaskConfig(num_facts=500, fact_digits=3, fact_seed=7))
    assert facts(TaskConfig(num_facts=200, fact_digits=3)) == kb[:200]  # a larger base extends a smaller one
    keys = [p for p, _ in kb]
    assert len(set(keys)) == 500
    for p, a in kb:
        entity, rel = p.rstrip("=").split(":")
        assert len(entity) == 3 and entity.isalpha() and rel in RELATIONS, p
        assert len(a) == 3 and a.isdigit(), a  # leading zeros kept: exactly fact_digits digits
    # codes are uniform: every digit shows up in every position
    assert all(len({a[i] for _, a in kb}) == 10 for i in range(3))


def test_knowledge_answers_fit_seq_len_and_bad_knobs_fail_clearly():
    for d in (1, 2, 3, 4):
        kb = facts(TaskConfig(num_facts=300, fact_digits=d))
        longest = max(len(encode(p, a)) for p, a in kb)
        assert longest <= knowledge_query_tokens(d) <= 24 + 1  # fits the default seq_len
        assert any(p.endswith(":room=") for p, _ in kb) and longest == knowledge_query_tokens(d)  # tight bound
        tokens, _, alen = encode_batch(kb, 24)
        assert set(alen) == {d + 1}  # the code and EOS
    with pytest.raises(ConfigError, match="fact_digits"):
        TaskConfig(fact_digits=0)
    with pytest.raises(ConfigError, match="fact_digits"):
        TaskConfig(fact_digits=5)
    with pytest.raises(ConfigError, match="num_facts"):
        TaskConfig(num_facts=26**3 * len(RELATIONS) + 1)
    with pytest.raises(ConfigError, match=r"seq_len.*needs 15 tokens"):
        TaskConfig(fact_digits=4, seq_len=12)
    TaskConfig(fact_digits=4, seq_len=14)  # exactly enough


def test_knowledge_splits_with_a_large_base():
    cfg = TaskConfig(num_facts=2000, fact_digits=2)
    suite = make_suite(cfg, ("knowledge",), train_size=10, eval_size=200, seed=1)
    val, test = ({p for p, _ in getattr(suite, s)["knowledge"]} for s in ("val", "test"))
    assert len(val) == len(test) == 200 and not val & test
    assert len(suite.train["knowledge"]) == 2000  # the pool is the base: every fact stated once
    other = make_suite(cfg, ("knowledge",), train_size=10, eval_size=200, seed=2)
    assert {p for p, _ in other.test["knowledge"]} != test  # the fleet seed picks the evaluated facts


def test_guess_baselines_hand_worked():
    # pool answers 3, 5, 3, 7, 5, 3: "3" is the majority (3 of 6); K = 3 distinct answers {3, 5, 7}.
    # queries answered 3, 5, 9: the majority hits only the first; a uniform guess is right with
    # probability 1/3 on the first two and 0 on "9", which the pool never answers.
    pool = [(f"p{i}", a) for i, a in enumerate("353753")]
    majority, hit, p = guess_baselines(pool, [("q0", "3"), ("q1", "5"), ("q2", "9")])
    assert majority == "3"
    assert hit.tolist() == [True, False, False]
    np.testing.assert_allclose(p, [1 / 3, 1 / 3, 0.0])
    # ties go to the smallest string: "5" and "7" twice each -> "5"
    assert guess_baselines([("a", "7"), ("b", "5"), ("c", "7"), ("d", "5")], [("q", "5")])[0] == "5"


def test_chance_rates_match_a_direct_count():
    suite = make_suite(TaskConfig(), ("logic", "planning"), train_size=400, eval_size=30, seed=1)
    rates = chance_rates(suite, "test")
    answers = [a for _, a in suite.train["logic"]]
    top = max(sorted(set(answers)), key=answers.count)  # "T" or "F"
    assert rates["logic"]["majority"] == pytest.approx(np.mean([a == top for _, a in suite.test["logic"]]))
    assert rates["logic"]["uniform"] == pytest.approx(0.5)  # both answers occur in the pool
    assert rates["planning"]["ceiling"] == 1.0 and 0 <= rates["planning"]["majority"] < 0.2
    with pytest.raises(ConfigError, match="split"):
        chance_rates(suite, "train")
