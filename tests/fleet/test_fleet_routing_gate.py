"""fleet_routing judges S5 only on a fleet whose size control passes (a bigger generalist beats a
smaller one on enough families), read from the fleet's own accuracies."""

import pytest

from routerlab.config import ConfigError
from routerlab.studies.fleet_routing.study import fleet_size_control, gated_s5


def _meta(acc_by_seed):
    """A fleet.json's fields that the size control reads: three generalists, two families."""
    models = [{"name": n, "role": "generalist", "params": p} for n, p in (("gen-s", 10), ("gen-m", 40), ("gen-l", 90))]
    models.append({"name": "spec-a", "role": "specialist", "params": 5})
    seeds = {str(s): {"accuracy": {n: {"test": fam} for n, fam in acc.items()}} for s, acc in enumerate(acc_by_seed)}
    return {"models": models, "families": ["a", "b"], "seeds": seeds}


# Family a rises with size on every seed by +0.10 +- 0.01 per step (resolved); family b does not
# (gen-l - gen-m is +0.05, -0.05, +0.00: mean 0, interval across 0).
SEEDS = [
    {"gen-s": {"a": 0.20, "b": 0.5}, "gen-m": {"a": 0.30, "b": 0.6}, "gen-l": {"a": 0.40, "b": 0.65}},
    {"gen-s": {"a": 0.21, "b": 0.5}, "gen-m": {"a": 0.32, "b": 0.6}, "gen-l": {"a": 0.41, "b": 0.55}},
    {"gen-s": {"a": 0.19, "b": 0.5}, "gen-m": {"a": 0.28, "b": 0.6}, "gen-l": {"a": 0.39, "b": 0.60}},
]


def test_size_control_counts_the_families_whose_whole_ladder_resolves():
    one = fleet_size_control(_meta(SEEDS), needed=1)
    assert one == {"resolved": True, "families_resolved": 1, "families": 2, "needed": 1, "resolved_families": ["a"],
                   "at_ceiling": [], "measure": "exact_match"}
    two = fleet_size_control(_meta(SEEDS), needed=2)
    assert not two["resolved"] and two["families_resolved"] == 1


def test_s5_is_gated_by_the_size_control():
    s5 = "S5 (...) holds on the toy fleet: resolved ΔAIQ ..."
    assert gated_s5(s5, None) == s5  # runs made before the gate: unchanged
    assert gated_s5(s5, fleet_size_control(_meta(SEEDS), needed=1)) == s5
    gated = gated_s5(s5, fleet_size_control(_meta(SEEDS), needed=2))
    assert gated.startswith("underpowered: the fleet's size control is not resolved (1 of the 2 families")
    assert gated.endswith("For the record: " + s5)


def test_size_control_on_answer_nll_reads_lower_as_better():
    # answer NLL (nats per query): family a falls with size on every seed (gen-s 2.0, gen-m 1.5,
    # gen-l 1.0 +- 0.1), so each step's delta (smaller minus larger) is +0.5 and resolves; family b's
    # gen-l - gen-m pairs are -0.2, +0.2, 0.0: mean 0, not resolved. A fleet without answer_nll says so.
    nll = [{"gen-s": {"a": 2.0 + e, "b": 1.0}, "gen-m": {"a": 1.5 + e, "b": 0.8}, "gen-l": {"a": 1.0 + e, "b": 0.8 + d}}
           for e, d in ((0.0, 0.2), (0.1, -0.2), (-0.1, 0.0))]
    meta = _meta(SEEDS)
    for s, entry in enumerate(nll):
        meta["seeds"][str(s)]["answer_nll"] = {n: {"test": fam} for n, fam in entry.items()}
    got = fleet_size_control(meta, needed=1, measure="answer_nll")
    assert got["resolved"] and got["resolved_families"] == ["a"] and got["measure"] == "answer_nll"
    with pytest.raises(ConfigError, match="size_measure"):
        fleet_size_control(_meta(SEEDS), needed=1, measure="answer_nll")
