"""The fleet study's calibration: Wilson intervals, chance/ceiling flags, the size control and its
gate, and the deployable-protocol statistics, each on hand-worked numbers."""

import numpy as np
import pytest

from routerlab.fleet.routers import SingleModelRouter, Split
from routerlab.fleet.protocol import one_pass_points, realised_point
from routerlab.report.paper import claim_verdict
from routerlab.studies.fleet_specialists import (family_outcomes, informative, model_interval, s3_verdict, s6_verdict,
                                                 size_control, wilson_interval)


def test_wilson_interval_hand_worked():
    # 8 of 10, z = 1.959964: p = 0.8, z^2 = 3.841459; denominator 1 + z^2/n = 1.384146;
    # centre = (0.8 + 3.841459 / 20) / 1.384146 = 0.716741;
    # half = z * sqrt(0.8 * 0.2 / 10 + 3.841459 / 400) / 1.384146 = 1.959964 * 0.160012 / 1.384146 = 0.226577
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx((0.490164, 0.943318), abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_model_interval_is_the_union_of_seed_and_query_intervals():
    # seeds agree exactly (t-interval of width 0), so the pooled Wilson interval (300 queries) decides
    lo, hi = model_interval([0.5, 0.5, 0.5], 100)
    assert (lo, hi) == pytest.approx(wilson_interval(150, 300))
    # seeds disagree: the t-interval (mean 0.5, s 0.1, half 4.302653 * 0.1 / sqrt 3 = 0.248414) is wider
    lo, hi = model_interval([0.4, 0.5, 0.6], 100)
    assert (lo, hi) == pytest.approx((0.5 - 0.248414, 0.5 + 0.248414), abs=1e-5)
    assert model_interval([0.1, 0.5, 0.9], 100) == (0.0, 1.0)  # clipped to what an accuracy can be


def test_families_at_chance_or_ceiling_are_uninformative():
    chance_hi = 0.2
    assert informative({"a": (0.1, 0.25), "b": (0.15, 0.3)}, chance_hi) == (False, "every model at chance")
    assert informative({"a": (0.97, 1.0), "b": (0.99, 1.0)}, chance_hi) == (False, "every model at ceiling")
    # one at chance, one at ceiling: the comparison can be made
    assert informative({"a": (0.1, 0.25), "b": (0.97, 1.0)}, chance_hi) == (True, "")
    assert informative({"a": (0.4, 0.6), "b": (0.5, 0.7)}, chance_hi) == (True, "")


GENS = [{"name": "gen-s", "params": 1}, {"name": "gen-m", "params": 2}, {"name": "gen-l", "params": 3}]


def test_size_control_passes_and_fails_on_hand_worked_ladders():
    # family a: gen-l - gen-m = gen-m - gen-s = 0.20, 0.20, 0.25 per seed: mean 0.216667, s = 0.0288675,
    # half = 4.302653 * 0.0288675 / sqrt(3) = 0.0717109 -> CI [0.144956, 0.288378]: both steps resolve.
    # family b: gen-l - gen-m = 0.3, -0.1, 0.1: mean 0.1, s = 0.2, half 0.496828 -> CI [-0.396828, 0.596828].
    acc = {"gen-s": {"a": [0.1, 0.2, 0.2], "b": [0.1, 0.1, 0.1]},
           "gen-m": {"a": [0.3, 0.4, 0.45], "b": [0.5, 0.5, 0.5]},
           "gen-l": {"a": [0.5, 0.6, 0.7], "b": [0.8, 0.4, 0.6]}}
    entry, control = size_control(acc, GENS, ["a", "b"], needed=1)
    assert entry["families"] == ["a"] and entry["families_resolved"] == 1 and entry["resolved"]
    step = entry["per_family"]["a"]["steps"][1]
    assert step["name"] == "size a: gen-l > gen-m"
    assert step["ci"] == pytest.approx([0.144956, 0.288378], abs=1e-6)
    assert control.resolved
    entry, control = size_control(acc, GENS, ["a", "b"], needed=2)
    assert not entry["resolved"] and not control.resolved
    # the deciding comparison is the 2nd-best family's weakest step: b's gen-l > gen-m
    assert "size b: gen-l > gen-m" in control.name
    assert control.ci == pytest.approx((-0.396828, 0.596828), abs=1e-6)


def test_size_control_with_one_seed_never_resolves():
    acc = {g["name"]: {"a": [0.1 * (i + 1)]} for i, g in enumerate(GENS)}
    entry, control = size_control(acc, GENS, ["a"], needed=1)
    assert entry["families_resolved"] == 0 and not control.resolved and control.n == 1


def _claim(spec: str, family: str, gen: str, word: str) -> dict:
    return {"specialist": spec, "family": family, "generalist": gen, "verdict": word, "mean": 0.1, "lo": 0.0, "hi": 0.2}


def _summary(words: dict[str, tuple[str, str]], knowledge: str | None = "beats") -> dict:
    """A specialists_vs_generalists summary with claim 1 per family (vs gen-m, vs gen-l) and claim 2."""
    claims = [_claim(f"spec-{f}", f, g, w) for f, pair in words.items() for g, w in zip(("gen-m", "gen-l"), pair)]
    k = None if knowledge is None else {"generalist": "gen-l", "verdict": knowledge, "mean": 0.5, "lo": 0.4, "hi": 0.6}
    return {"claims": claims, "knowledge_claim": k, "size_ratio": 10.0}


@pytest.mark.parametrize("words, outcomes, s3, s6", [
    # every informative family's specialist beats both generalists; planning at ceiling is left out
    ({"math": ("beats", "beats"), "code": ("beats", "beats"), "planning": ("uninformative (x)",) * 2},
     {"math": "wins", "code": "wins", "planning": "uninformative"}, "holds", "holds"),
    # math wins, logic loses to both: depends on the family (and so does S6, whose knowledge half holds)
    ({"math": ("beats", "beats"), "logic": ("loses", "loses")}, {"math": "wins", "logic": "loses"}, "depends", "depends"),
    # a win beside a tie is a split: some specialist beats a large generalist, so S3 depends
    ({"code": ("beats", "tie"), "logic": ("loses", "tie")}, {"code": "split", "logic": "loses"}, "depends", "depends"),
    # no win anywhere and one loss: S3 fails (and so does S6)
    ({"code": ("tie", "tie"), "logic": ("loses", "tie")}, {"code": "tie", "logic": "loses"}, "fails", "fails"),
    # ties only: not resolved (the claims table reads it as underpowered)
    ({"math": ("tie", "tie")}, {"math": "tie"}, "underpowered", "underpowered"),
    # nothing informative: no verdict word, so "not testable here"
    ({"planning": ("uninformative (x)",) * 2}, {"planning": "uninformative"}, "not testable here", "not testable here"),
])
def test_s3_and_s6_verdict_words(words, outcomes, s3, s6):
    s = _summary(words)
    assert family_outcomes(s["claims"]) == outcomes
    assert claim_verdict({"claim_verdicts": {"S3": s3_verdict(s)}}, "S3")[0] == s3
    assert claim_verdict({"claim_verdicts": {"S6": s6_verdict(s)}}, "S6")[0] == s6


def test_claim_1_wins_and_losses_count_only_after_holm():
    s = _summary({"math": ("beats", "beats"), "code": ("beats", "beats")})
    for c, p in zip(s["claims"], (0.001, 0.004, 0.03, 0.02)):
        c["p_holm"] = p
    # code's two wins have Holm-adjusted p 0.03 and 0.02 in this summary: below 0.05, wins; at 0.06, ties
    assert family_outcomes(s["claims"]) == {"math": "wins", "code": "wins"}
    s["claims"][2]["p_holm"] = 0.06
    assert family_outcomes(s["claims"]) == {"math": "wins", "code": "split"}
    assert "Holm-adjusted" in s3_verdict(s) and claim_verdict({"verdict": s3_verdict(s)})[0] == "depends"


def test_ceiling_tolerance_in_flags_and_in_the_size_ladder():
    # a model 0.995-1.0 and one 0.9891-0.99999 are both within one point of the ceiling
    assert informative({"a": (0.995, 1.0), "b": (0.9891, 0.99999)}, 0.2) == (False, "every model at ceiling")
    assert informative({"a": (0.97, 0.985), "b": (0.995, 1.0)}, 0.2) == (True, "")
    # family p: every generalist's mean >= 0.99; its steps resolve (+0.002 each seed) but it neither
    # counts nor decides; family a (the hand-worked ladder above) resolves: 1 of the 1 family that can tell
    acc = {"gen-s": {"a": [0.1, 0.2, 0.2], "p": [0.994, 0.994, 0.995]},
           "gen-m": {"a": [0.3, 0.4, 0.45], "p": [0.996, 0.996, 0.997]},
           "gen-l": {"a": [0.5, 0.6, 0.7], "p": [0.998, 0.998, 0.999]}}
    entry, control = size_control(acc, GENS, ["a", "p"], needed=2)
    assert entry["at_ceiling"] == ["p"] and entry["per_family"]["p"]["resolved"]
    assert entry["families"] == ["a"] and entry["families_resolved"] == 1 and not entry["resolved"]
    assert "size a:" in control.name and not control.resolved


def test_every_family_at_ceiling_resolves_nothing():
    acc = {g["name"]: {"p": [0.995 + 0.002 * i, 0.996 + 0.002 * i]} for i, g in enumerate(GENS)}
    entry, control = size_control(acc, GENS, ["p"], needed=1)
    assert entry["per_family"]["p"]["resolved"]  # +0.002 at both seeds: the steps resolve ...
    assert entry["at_ceiling"] == ["p"] and entry["families_resolved"] == 0  # ... but a ceiling family counts not
    assert not entry["resolved"] and not control.resolved and "p at ceiling" in control.name


def test_one_seed_wins_tell_nothing():
    s = _summary({"math": ("beats (1 seed)", "beats (1 seed)")}, knowledge="beats (1 seed)")
    assert family_outcomes(s["claims"]) == {"math": "tie"}
    assert claim_verdict({"verdict": s3_verdict(s)})[0] == "underpowered"
    assert claim_verdict({"verdict": s6_verdict(s)})[0] == "underpowered"


def test_s6_fails_when_the_generalist_does_not_lead_on_knowledge():
    wins = {"math": ("beats", "beats")}
    assert claim_verdict({"verdict": s6_verdict(_summary(wins, knowledge="loses"))})[0] == "fails"
    assert claim_verdict({"verdict": s6_verdict(_summary(wins, knowledge="tie"))})[0] == "underpowered"
    assert claim_verdict({"verdict": s6_verdict(_summary(wins, knowledge=None))})[0] == "not testable here"
    text = s6_verdict(_summary(wins, knowledge="uninformative (every model at ceiling)"))
    assert claim_verdict({"verdict": text})[0] == "not testable here" and "cannot be told" in text
    # the knowledge specialist's own claim-1 row never counts as a reasoning family
    s = _summary(wins)
    s["claims"].append(_claim("spec-knowledge", "knowledge", "gen-l", "loses"))
    assert family_outcomes(s["claims"]) == {"math": "wins"}
    assert "code, math, logic, planning" in s3_verdict(s)


def _two_model_split(n: int, cheap_quality: np.ndarray) -> Split:
    quality = np.stack([cheap_quality, np.ones(n)], axis=1)
    cost = np.stack([np.full(n, 1.0), np.full(n, 10.0)], axis=1)
    return Split(np.zeros((n, 2), np.float32), np.array(["t"] * n, dtype=object), quality, cost, ("cheap", "dear"))


def test_realised_point_pays_test_cost_and_counts_misses():
    train = _two_model_split(8, np.zeros(8))
    test = _two_model_split(10, np.zeros(10))
    dear = SingleModelRouter("dear").fit(train, train)
    r = realised_point(dear, train, test, ref=1, target=0.95, n_boot=50, seed=0)
    # the reference itself: cost ratio 1, quality ratio 1, never below 95% of itself
    assert (r["cost_ratio"], r["quality_ratio"], r["miss_rate"], r["miss"]) == (1.0, 1.0, 0.0, False)
    cheap = SingleModelRouter("cheap").fit(train, train)
    r = realised_point(cheap, train, test, ref=1, target=0.95, n_boot=50, seed=0)
    # always the cheap model, which is always wrong: cost 1 / 10, quality 0 < 0.95 on every resample
    assert r["cost_ratio"] == pytest.approx(0.1) and r["quality"] == 0.0 and r["miss_rate"] == 1.0


def test_one_pass_serves_every_query_exactly_once():
    # With a huge cost weight LinUCB always takes the cheap arm, so the pass's mean quality is exactly
    # the cheap model's mean over the split (7 of 20 right = 0.35), in every order; a replay that
    # draws with replacement would not give 0.35 exactly.
    rng = np.random.default_rng(0)
    cheap_q = np.zeros(20)
    cheap_q[rng.choice(20, 7, replace=False)] = 1
    train = _two_model_split(20, cheap_q)
    split = _two_model_split(20, cheap_q)
    out = one_pass_points(train, split, np.array([1e6]), orders=3, seed=0)
    assert np.asarray(out["quality"]).shape == (1, 3)
    np.testing.assert_allclose(out["quality"][0], [0.35] * 3, atol=1e-6)
    np.testing.assert_allclose(out["cost"][0], [1.0] * 3, atol=1e-6)


def test_s5_verdict_holm_corrects_over_the_candidate_routers():
    from routerlab.report.paper import claim_verdict
    from routerlab.studies.fleet_routing.study import s5_verdict

    def cell(mean, half):  # a 95% t-interval over 3 seeds: half-width = t(0.975, 2) x se = 4.303 se
        return {"delta_aiq": {"mean": mean, "lo": mean - half, "hi": mean + half, "n": 3}}

    # se = 0.01 / 4.303; t = 0.05 / se = 21.5 -> p = 0.0022; times 3 routers (Holm) = 0.0065 < 0.05
    routers = {"knn": cell(0.05, 0.01), "mlp": cell(0.0, 0.05), "mf": cell(-0.01, 0.05), "single:gen-l": cell(0.9, 0.01),
               "oracle": cell(0.9, 0.01), "random": cell(0.5, 0.01)}
    text = s5_verdict(routers, 3)
    assert claim_verdict({"verdict": text})[0] == "holds" and "knn +0.050" in text and "Holm over 3 routers" in text
    # interval barely above 0 (t = 4.4, p = 0.048), but Holm over 3 routers: p = 0.14 -> not resolved
    routers["knn"] = cell(0.0102, 0.01)
    assert "is not resolved" in s5_verdict(routers, 3)
    below = {n: cell(-0.1, 0.05) for n in ("knn", "mlp")}
    assert claim_verdict({"verdict": s5_verdict(below, 3)})[0] == "fails"


def test_size_control_at_a_sequential_level_is_wider():
    # family a's gen-l > gen-m as in the hand-worked ladder: mean 0.216667, s = 0.0288675, n = 3.
    # At Pocock's two-look alpha 0.0294: t(2, 1 - 0.0147) = 5.702724 (scipy), half = 5.702724 * 0.0288675 / sqrt 3
    # = 0.095045 -> [0.121621, 0.311712], still above 0; the 95% interval (half 0.0717109) is narrower.
    acc = {"gen-s": {"a": [0.1, 0.2, 0.2]}, "gen-m": {"a": [0.3, 0.4, 0.45]}, "gen-l": {"a": [0.5, 0.6, 0.7]}}
    entry, control = size_control(acc, GENS, ["a"], needed=1, alpha=0.0294)
    step = entry["per_family"]["a"]["steps"][1]
    assert step["ci"] == pytest.approx([0.121621, 0.311712], abs=1e-5) and step["level"] == pytest.approx(0.9706)
    assert entry["level"] == pytest.approx(0.9706) and control.resolved
    from routerlab.report.controls import format_control

    assert "97.06% CI" in format_control(control)
    from routerlab.studies.fleet_specialists import size_text

    assert "97.06% t-interval" in size_text({"families": ["a"], "controls": {"size": entry}})
    # a step that resolves at 95% but not at 97.06%: gen-l - gen-m = 0.1, 0.2, 0.15, 0.05 (mean 0.125,
    # s 0.0645497; 95% half = 3.182446 * 0.0645497 / 2 = 0.102713 -> lo +0.022; 97.06% half =
    # t(3, 0.9853) 3.926408 * 0.0645497 / 2 = 0.126724 -> lo -0.0017); gen-m - gen-s is 0.1 at every seed
    acc = {"gen-s": {"a": [0.0] * 4}, "gen-m": {"a": [0.1] * 4}, "gen-l": {"a": [0.2, 0.3, 0.25, 0.15]}}
    assert size_control(acc, GENS, ["a"], needed=1)[1].resolved
    assert not size_control(acc, GENS, ["a"], needed=1, alpha=0.0294)[1].resolved


def test_size_ladder_on_answer_nll_and_its_floor():
    # NLL falls with size in family a (deltas smaller-minus-larger: gen-m over gen-s 0.5, 0.4, 0.6;
    # gen-l over gen-m 0.3, 0.3, 0.4: both resolve); family f sits below NLL_FLOOR for every
    # generalist (0.001-0.006 nats: every answer at p > 0.99), its steps resolve (+0.002 a seed)
    # but it neither counts nor decides: 1 of the 1 family that can tell.
    acc = {"gen-s": {"a": [2.0, 1.9, 2.1], "f": [0.006, 0.006, 0.006]},
           "gen-m": {"a": [1.5, 1.5, 1.5], "f": [0.004, 0.004, 0.004]},
           "gen-l": {"a": [1.2, 1.2, 1.1], "f": [0.002, 0.002, 0.002]}}
    entry, control = size_control(acc, GENS, ["a", "f"], needed=1, measure="answer_nll")
    assert entry["measure"] == "answer_nll" and entry["at_ceiling"] == ["f"]
    steps = {st["name"]: st for st in entry["per_family"]["a"]["steps"]}
    assert steps["size a: gen-m > gen-s"]["delta"] == pytest.approx(0.5)
    assert steps["size a: gen-l > gen-m"]["delta"] == pytest.approx((0.3 + 0.3 + 0.4) / 3)
    assert entry["families"] == ["a"] and entry["resolved"] and control.resolved
    assert "on answer NLL" in control.name and "f at the exact-match ceiling or the NLL floor" in control.name
    # read as exact match instead, the same numbers say the opposite: size "hurts"
    entry, _ = size_control(acc, GENS, ["a"], needed=1)
    assert not entry["resolved"]


def test_size_measure_is_validated():
    from routerlab.config import ConfigError
    from routerlab.studies.fleet_specialists import SpecialistsConfig

    assert SpecialistsConfig(size_measure="answer_nll").size_measure == "answer_nll"
    with pytest.raises(ConfigError, match="size_measure"):
        SpecialistsConfig(size_measure="bleu")


def test_under_answer_nll_the_exact_match_ceiling_families_neither_count_nor_decide():
    # family p: NLL falls with size (0.30 -> 0.20 -> 0.10 nats, resolved, above the NLL floor), but
    # every generalist is at the exact-match ceiling, so a confidence gain there tells no claim anything
    acc = {"gen-s": {"a": [2.0, 1.9, 2.1], "p": [0.30, 0.31, 0.29]},
           "gen-m": {"a": [1.5, 1.5, 1.5], "p": [0.20, 0.21, 0.19]},
           "gen-l": {"a": [1.2, 1.2, 1.1], "p": [0.10, 0.11, 0.09]}}
    entry, _ = size_control(acc, GENS, ["a", "p"], needed=2, measure="answer_nll")
    assert entry["families_resolved"] == 2 and entry["resolved"]  # without the exact-match ceiling: 2 of 2
    entry, control = size_control(acc, GENS, ["a", "p"], needed=2, measure="answer_nll", also_saturated=["p"])
    assert entry["at_ceiling"] == ["p"] and entry["per_family"]["p"]["resolved"]
    assert entry["families"] == ["a"] and not entry["resolved"] and not control.resolved


def test_a_family_whose_size_ladder_failed_is_not_read():
    # math's specialist beats both generalists, but math's own size ladder did not resolve: its
    # claims are "underpowered", not a win, and S3 rests on the families that can tell (code: a loss)
    s = _summary({"math": ("beats", "beats"), "code": ("loses", "loses")})
    for c in s["claims"]:
        if c["family"] == "math":
            c["ladder_resolved"] = False
    assert family_outcomes(s["claims"]) == {"math": "underpowered", "code": "loses"}
    assert claim_verdict({"verdict": s3_verdict(s)})[0] == "fails"
    assert "the family's own size ladder did not resolve" in s3_verdict(s)
    for c in s["claims"]:
        c["ladder_resolved"] = False
    assert claim_verdict({"verdict": s3_verdict(s)})[0] == "not testable here"
