"""specialists_vs_generalists' config, run, summary and controls (the size control, chance rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.fleet.fleet import FleetConfig, ensure_fleet, load_fleet
from routerlab.fleet.tasks import CEILING
from routerlab.report import mean_ci
from routerlab.report.stats import holm, paired_t_pvalue
from routerlab.report.controls import Control, gate, paired_control
from routerlab.rundir import RunDir

__all__ = ["SpecialistsConfig", "run", "summarize", "verdict", "wilson_interval", "model_interval", "baselines",
           "informative", "size_control", "size_metric", "family_outcomes", "s3_verdict", "s6_verdict", "PLUMBING",
           "SIZE_MEASURES", "NLL_FLOOR"]

#: How close to the ceiling counts as "at ceiling" (exact match): one point. A model that
#: misses 6 of 3,200 queries is not evidence that a family separates models; without a
#: tolerance the informativeness test turned on the fifth decimal of an interval.
CEILING_TOL = 0.01

#: What the size control may compare: test exact match, or the test answers' negative
#: log-likelihood (nats per query; ``fleet.json``'s ``answer_nll``).
SIZE_MEASURES = ("exact_match", "answer_nll")

#: Under ``answer_nll``, a family where every generalist's mean answer NLL is below this many
#: nats per query (the gold answers' geometric-mean probability above 0.99) is at the floor: the
#: loss analogue of the exact-match ceiling, where a size step is a difference in the last digits.
NLL_FLOOR = 0.01

def check_size_measure(measure: str) -> None:
    """A one-line ConfigError naming ``size_measure`` unless ``measure`` is one of :data:`SIZE_MEASURES`."""
    check(measure in SIZE_MEASURES, "size_measure", f"must be one of {', '.join(SIZE_MEASURES)}; got {measure!r}")


#: The first line of every report written at smoke scale.
PLUMBING = ("**Plumbing check at smoke scale, not a result**: the models train for seconds and sit near chance; "
            "run `--scale quick` for numbers.")


@dataclass(frozen=True)
class SpecialistsConfig:
    """Attributes:
      fleet: the fleet (shared with the other fleet experiments at the same scale).
      size_ratio: a generalist counts as "much larger" at >= this many times the parameters.
      size_families: families on which the size control (each larger generalist beats the
        next smaller one, paired over seeds, 95% interval above 0) must resolve before the
        study states a specialist-vs-generalist verdict.
      size_alpha: the size control's two-sided error rate (0.05: 95% intervals). A design
        that looks at the control more than once (seeds added after a failed look) spends its
        error over the looks: Pocock's nominal 0.0294 per look for two
        (docs/fleet_calibration.md, design 4's second look).
      size_measure: what the size control compares (:data:`SIZE_MEASURES`): ``exact_match``
        (test exact match, higher is better) or ``answer_nll`` (test answers' teacher-forced
        negative log-likelihood, nats per query, lower is better: the held-out loss that the
        known result "a larger model is better at equal tokens" is stated in). The claims are
        read in exact match either way.
    """

    fleet: FleetConfig = field(default_factory=FleetConfig)
    size_ratio: float = 10.0
    size_families: int = 3
    size_alpha: float = 0.05
    size_measure: str = "exact_match"

    def __post_init__(self):
        check(self.size_ratio > 0, "size_ratio", f"must be > 0; got {self.size_ratio}")
        check(1 <= self.size_families <= 5, "size_families", f"must be in [1, 5]; got {self.size_families}")
        check(0 < self.size_alpha < 1, "size_alpha", f"must be in (0, 1); got {self.size_alpha}")
        check_size_measure(self.size_measure)


def _runs_root(rundir: RunDir) -> Path:
    return rundir.path.parent.parent


def verdict(diffs: list[float]) -> dict[str, Any]:
    """Mean and t-interval of paired differences, and ``beats`` / ``loses`` / ``tie``."""
    ci = mean_ci(diffs)
    word = "beats" if ci.lo > 0 else ("loses" if ci.hi < 0 else "tie")
    if len(diffs) == 1:  # one seed: no interval, say so
        word = "beats (1 seed)" if ci.mean > 0 else ("loses (1 seed)" if ci.mean < 0 else "tie (1 seed)")
    return {**ci._asdict(), "verdict": word}


def run(cfg: SpecialistsConfig, rundir: RunDir) -> dict[str, Any]:
    fleet = ensure_fleet(cfg.fleet, _runs_root(rundir))
    done = rundir.completed_units()
    for seed in fleet.seeds:
        unit = f"seed{seed}"
        if unit in done:
            continue
        entry = fleet.meta["seeds"][str(seed)]
        rundir.log({"unit": unit, "seed": seed, "fleet": f"_fleets/{fleet.path.name}", "accuracy": entry["accuracy"],
                    "answer_nll": entry.get("answer_nll"),  # None: a fleet built before it was recorded
                    "loss_curve": entry["loss_curve"], "queries": entry["queries"], "chance": entry.get("chance")})
    return summarize(rundir, cfg)


def wilson_interval(hits: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` (95% by default); ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def model_interval(per_seed: list[float], queries_per_seed: int) -> tuple[float, float]:
    """Where a model's accuracy on a family may lie: the union of the 95% t-interval over seeds
    and the Wilson interval of the test queries pooled over seeds (so that one seed, or seeds
    that agree exactly, still get the interval their finite test set allows)."""
    ci = mean_ci(per_seed)
    n = queries_per_seed * len(per_seed)
    lo, hi = wilson_interval(float(np.mean(per_seed)) * n, n)
    if len(per_seed) > 1 and np.isfinite(ci.lo):
        lo, hi = max(0.0, min(lo, ci.lo)), min(1.0, max(hi, ci.hi))
    return lo, hi


def baselines(records: list[dict[str, Any]], families: list[str]) -> dict[str, dict[str, Any]] | None:
    """Per family, over seeds: the majority-answer and uniform-guess accuracy on test (mean and
    t-interval) and the ceiling (:data:`routerlab.fleet.tasks.CEILING`). None for fleets built
    before the fleet recorded them."""
    if any(not r.get("chance") for r in records):
        return None
    out = {}
    for f in families:
        maj = [r["chance"]["test"][f]["majority"] for r in records]
        uni = [r["chance"]["test"][f]["uniform"] for r in records]
        best = [max(a, b) for a, b in zip(maj, uni, strict=True)]
        out[f] = {"majority": mean_ci(maj)._asdict(), "uniform": mean_ci(uni)._asdict(),
                  "chance_hi": float(np.max(best) if len(best) == 1 else max(mean_ci(best).hi, np.max(best))),
                  "ceiling": CEILING}
    return out


def informative(intervals: dict[str, tuple[float, float]], chance_hi: float, ceiling: float = CEILING
                ) -> tuple[bool, str]:
    """``(informative, reason)`` of a family from its models' intervals.

    A model is *at chance* when its interval reaches down to the chance row's upper end
    (``lo <= chance_hi``) and *at ceiling* when it reaches within :data:`CEILING_TOL` of the
    ceiling (``hi >= ceiling - CEILING_TOL``).
    The family is uninformative when every model is at chance, or every model is at ceiling:
    then any difference between them is a tie by construction, not evidence.
    """
    at_chance = [lo <= chance_hi for lo, _ in intervals.values()]
    at_ceiling = [hi >= ceiling - CEILING_TOL for _, hi in intervals.values()]
    if all(at_chance):
        return False, "every model at chance"
    if all(at_ceiling):
        return False, "every model at ceiling"
    return True, ""


def size_metric(per_seed: list[dict[str, Any]], names: list[str], families: list[str],
                measure: str = "exact_match") -> dict[str, dict[str, list[float]]]:
    """``{model: {family: [test value per seed]}}`` of ``measure`` from per-seed entries that hold
    ``accuracy`` and (for ``answer_nll``) ``answer_nll`` (``fleet.json``'s seeds, or this study's
    records); a fleet built before answer NLL was recorded is a one-line ConfigError."""
    check_size_measure(measure)
    key = "accuracy" if measure == "exact_match" else "answer_nll"
    check(all(e.get(key) for e in per_seed), "size_measure",
          f"{measure}: this fleet does not record it (built before 2026-12-02's answer NLL); remove its "
          "runs/_fleets/<key> folder to rebuild it")
    return {n: {f: [e[key][n]["test"][f] for e in per_seed] for f in families} for n in names}


def size_control(acc: dict[str, dict[str, list[float]]], generalists: list[dict[str, Any]], families: list[str],
                 needed: int, alpha: float = 0.05, measure: str = "exact_match",
                 also_saturated: Sequence[str] = ()) -> tuple[dict[str, Any], Control]:
    """Does size buy quality? Per family, each generalist against the next smaller one
    (paired over seeds, :func:`routerlab.report.controls.paired_control`); a family resolves when
    every step of the size ladder resolves (e.g. gen-l > gen-m and gen-m > gen-s).

    ``acc`` holds ``measure`` (:func:`size_metric`): exact match (higher is better) or answer
    NLL (lower is better; each step's ``delta`` is then the smaller model's NLL minus the
    larger's, so ``delta > 0`` means size helped either way).

    A family where every generalist's mean is within :data:`CEILING_TOL` of the ceiling (under
    ``answer_nll``: below :data:`NLL_FLOOR`), or that is in ``also_saturated`` (under
    ``answer_nll`` the study passes the families at the exact-match ceiling: a gain in confidence
    on answers every generalist already gets right tells no exact-match claim anything), cannot
    show a size effect: it is listed under ``at_ceiling`` and neither counts nor decides (its
    steps are still reported), so "3 of 5" is 3 of the families that can tell.

    Returns the summary entry ``{"families_resolved", "families", "resolved", "needed",
    "at_ceiling", "level", "measure", "per_family"}`` and one :class:`Control` for :func:`gate`: the deciding
    comparison, i.e. the weakest step of the ``needed``-th best family that is not at ceiling
    (ranked by the lower end of its weakest step), so it is resolved exactly when at least
    ``needed`` families are.
    """
    ladder = sorted(generalists, key=lambda g: g["params"])
    per_family, weakest = {}, {}
    check_size_measure(measure)
    nll = measure == "answer_nll"
    saturated = (lambda v: np.mean(v) < NLL_FLOOR) if nll else (lambda v: np.mean(v) >= CEILING - CEILING_TOL)
    at_ceiling = [f for f in families if f in also_saturated or all(saturated(acc[g["name"]][f]) for g in ladder)]
    for f in families:
        steps = [paired_control(f"size {f}: {big['name']} > {small['name']}", acc[big["name"]][f],
                                acc[small["name"]][f], lower_is_better=nll, alpha=alpha)
                 for small, big in zip(ladder, ladder[1:])]
        per_family[f] = {"steps": [{"name": c.name, **c.to_json()} for c in steps],
                         "resolved": all(c.resolved for c in steps)}
        weakest[f] = min(steps, key=lambda c: c.ci[0] if np.isfinite(c.ci[0]) else -np.inf)
    telling = [f for f in families if f not in at_ceiling]
    resolved = [f for f in telling if per_family[f]["resolved"]]
    rank = sorted(telling or families, key=lambda f: weakest[f].ci[0] if np.isfinite(weakest[f].ci[0]) else -np.inf,
                  reverse=True)  # with every family at ceiling, the name still shows the nearest step
    k = min(needed, len(rank))
    deciding = weakest[rank[k - 1]]
    ok = len(resolved) >= needed
    where = "at the exact-match ceiling or the NLL floor" if nll else "at ceiling"
    ceiling_note = f", {', '.join(at_ceiling)} {where}" if at_ceiling else ""
    on = " on answer NLL" if nll else ""
    control = replace(deciding, name=f"size ({len(resolved)}/{len(families)} families resolved{on}{ceiling_note}, "
                                     f"{needed} needed; deciding: {deciding.name})", resolved=ok)
    return {"families_resolved": len(resolved), "families": resolved, "resolved": ok, "needed": needed,
            "at_ceiling": at_ceiling, "level": 1 - alpha, "measure": measure, "per_family": per_family}, control


def summarize(rundir: RunDir, cfg: SpecialistsConfig | None = None) -> dict[str, Any]:
    records = [r for r in rundir.records() if "accuracy" in r]
    fleet = load_fleet(_runs_root(rundir) / records[0]["fleet"])  # relative to the runs root (--out)
    ratio = cfg.size_ratio if cfg else rundir.config["size_ratio"]
    needed = cfg.size_families if cfg else rundir.config.get("size_families", 3)
    alpha = cfg.size_alpha if cfg else rundir.config.get("size_alpha", 0.05)
    measure = cfg.size_measure if cfg else rundir.config.get("size_measure", "exact_match")
    models = fleet.models
    controls = fleet.meta.get("controls", [])
    families = fleet.meta["families"]
    acc = {m["name"]: {f: [r["accuracy"][m["name"]]["test"][f] for r in records] for f in families}
           for m in models + controls}
    n_test = {f: records[0]["queries"][f] // 2 for f in families}  # val and test hold as many queries each
    table = {m["name"]: {"role": m["role"], "family": m["family"], "params": m["params"],
                         "flops_per_token": m["flops_per_token"], "price_per_1k": m["price_per_1k"],
                         "lr": m.get("lr"),
                         "accuracy": {f: mean_ci(acc[m["name"]][f])._asdict() for f in families},
                         "interval": {f: model_interval(acc[m["name"]][f], n_test[f]) for f in families}}
             for m in models + controls}
    base = baselines(records, families)
    family_flags = {}
    for f in families:
        if base is None:
            family_flags[f] = {"informative": True, "reason": "no chance rows recorded"}
            continue
        # the models that compete on f: the generalists and f's specialist (others never trained on f)
        rivals = [m for m in models if m["family"] in (None, f)]
        ok, why = informative({m["name"]: table[m["name"]]["interval"][f] for m in rivals}, base[f]["chance_hi"])
        family_flags[f] = {"informative": ok, "reason": why}
    generalists = [m for m in models if m["role"] == "generalist"]
    claims = []
    for s in (m for m in models if m["role"] == "specialist"):
        f = s["family"]
        for g in generalists:
            if g["params"] < ratio * s["params"]:
                continue
            diffs = [a - b for a, b in zip(acc[s["name"]][f], acc[g["name"]][f], strict=True)]
            v = verdict(diffs)
            if not family_flags[f]["informative"]:
                v["verdict"] = f"uninformative ({family_flags[f]['reason']})"
            elif base is not None:  # the two compared models both at chance, or both at the ceiling
                ok, why = informative({n: table[n]["interval"][f] for n in (s["name"], g["name"])},
                                      base[f]["chance_hi"])
                if not ok:
                    v["verdict"] = f"uninformative ({why.replace('every model', 'both')})"
            claims.append({"specialist": s["name"], "family": f, "generalist": g["name"],
                           "size_ratio": g["params"] / s["params"], **v, "p": paired_t_pvalue(diffs)})
    # Holm over the informative claim-1 comparisons on the seed's specialities (S3's family of tests)
    tested = [c for c in claims if c["specialist"] != "spec-knowledge" and not c["verdict"].startswith("uninformative")]
    for c, p in zip(tested, holm([c["p"] for c in tested])):
        c["p_holm"] = p
    largest = max(generalists, key=lambda g: g["params"])
    knowledge = None
    if "spec-knowledge" in acc:
        knowledge = {"generalist": largest["name"], "specialist": "spec-knowledge",
                     **verdict(_paired(acc, largest["name"], "spec-knowledge", "knowledge")),
                     **_knowledge_setup(fleet.meta["config"], families),
                     "controls": _knowledge_controls(acc, models, controls, largest["name"])}
        pair = {n: table[n]["interval"]["knowledge"] for n in (largest["name"], "spec-knowledge")}
        if not family_flags["knowledge"]["informative"]:
            knowledge["verdict"] = f"uninformative ({family_flags['knowledge']['reason']})"
        elif base is not None and not informative(pair, base["knowledge"]["chance_hi"])[0]:
            why = informative(pair, base["knowledge"]["chance_hi"])[1]
            knowledge["verdict"] = f"uninformative ({why.replace('every model', 'both')})"
    size, size_gate = None, None
    if len(generalists) >= 2:
        metric = size_metric(records, [g["name"] for g in generalists], families, measure)
        em, em_gate = size_control(acc, generalists, families, needed, alpha)
        if measure == "exact_match":
            size, size_gate = em, em_gate
        else:  # exact match's ceiling families neither count nor decide; its reading is kept beside
            size, size_gate = size_control(metric, generalists, families, needed, alpha, measure,
                                           also_saturated=em["at_ceiling"])
            size["exact_match_reading"] = {k: em[k] for k in ("families_resolved", "families", "resolved",
                                                              "at_ceiling", "per_family")}
        ladder_failed = [f for f in families if not size["per_family"][f]["resolved"]]
        for c in claims:  # a family's claims are read only where its own size ladder resolved
            if c["family"] in ladder_failed and not c["verdict"].startswith("uninformative"):
                c["ladder_resolved"] = False
        if knowledge is not None and "knowledge" in ladder_failed and not knowledge["verdict"].startswith("uninformative"):
            knowledge["ladder_resolved"] = False
    if all(r.get("answer_nll") for r in records):  # the claims on answer NLL too: a secondary reading
        nll = {m["name"]: {f: [r["answer_nll"][m["name"]]["test"][f] for r in records] for f in families}
               for m in models + controls}
        for c in claims:  # > 0: the specialist's answers are likelier (lower NLL) than the generalist's
            c["answer_nll"] = verdict(_paired(nll, c["generalist"], c["specialist"], c["family"]))
        if knowledge is not None:  # > 0: the generalist's are likelier
            knowledge["answer_nll"] = verdict(_paired(nll, "spec-knowledge", knowledge["generalist"], "knowledge"))
    summary = {"seeds": [r["seed"] for r in records], "families": families, "models": table, "claims": claims,
               "knowledge_claim": knowledge, "size_ratio": ratio, "baselines": base, "family_flags": family_flags,
               "order": [m["name"] for m in models + controls],
               "spec_params": min(m["params"] for m in models), "largest_params": largest["params"],
               "training": _training(fleet.meta["config"])}
    summary["controls"] = {"size": size} if size else {}
    gates = [size_gate] if size_gate else []
    summary["verdict"] = gate(_claims_verdict(summary), gates)
    # The paper's claims table reads these (routerlab.report.paper.CLAIMS): S3 and S6, each gated
    # by the size control like the study's own verdict.
    summary["claim_verdicts"] = {"S3": gate(s3_verdict(summary), gates), "S6": gate(s6_verdict(summary), gates)}
    return summary


def family_outcomes(claims: list[dict[str, Any]]) -> dict[str, str]:
    """Claim 1 per family, from its specialist's comparisons with the >= ``size_ratio`` x generalists.

    A comparison counts as a win or a loss when its interval says so *and*, where the summary
    holds them, its Holm-adjusted p-value (``p_holm``, over every informative claim-1 comparison)
    is below 0.05; otherwise it is a tie. Per family: ``wins`` (beats every one), ``split`` (beats
    one, not all), ``loses`` (loses to one, beats none), ``tie`` (ties them all), ``uninformative``
    (every comparison at chance or ceiling), ``underpowered`` (the family's own size ladder did
    not resolve, ``ladder_resolved`` false: its comparisons are not read). The knowledge specialist
    is left out: the seed's specialities are code, math, logic and planning, and knowledge is the
    generalists' claim."""
    out: dict[str, str] = {}
    for f in dict.fromkeys(c["family"] for c in claims if c["specialist"] != "spec-knowledge"):
        own = [c for c in claims if c["family"] == f and c["specialist"] != "spec-knowledge"]
        words = [_effective_word(c) for c in own]
        told = [w for w in words if w != "uninformative"]
        if told and any(c.get("ladder_resolved") is False for c in own):
            out[f] = "underpowered"
        elif not told:
            out[f] = "uninformative"
        elif all(w == "beats" for w in told):
            out[f] = "wins"
        elif "beats" in told:
            out[f] = "split"
        elif "loses" in told:
            out[f] = "loses"
        else:
            out[f] = "tie"
    return out


def _effective_word(c: dict[str, Any]) -> str:
    """A comparison's word for the claims: a one-seed difference (no interval) or one that does
    not survive Holm is a tie."""
    word = c["verdict"].split(" ")[0]
    if word in ("beats", "loses") and ("(1 seed)" in c["verdict"]
                                       or (c.get("p_holm") is not None and not c["p_holm"] < 0.05)):
        return "tie"
    return word


_OUTCOME_LABEL = {"tie": "tie (not resolved: a tie in exact match is not parity)",
                  "underpowered": "underpowered (the family's own size ladder did not resolve)"}


def _by_outcome(outcomes: dict[str, str]) -> str:
    order = ("wins", "split", "tie", "loses", "underpowered", "uninformative")
    return "; ".join(f"{_OUTCOME_LABEL.get(w, w)}: {', '.join(f for f, o in outcomes.items() if o == w)}"
                     for w in order if w in outcomes.values())


def _reasoning_word(outcomes: dict[str, str]) -> str:
    """holds / depends / fails / not resolved / not told, from :func:`family_outcomes` (families
    that are uninformative or whose size ladder failed tell nothing)."""
    told = [o for o in outcomes.values() if o not in ("uninformative", "underpowered")]
    if not told:
        return "not told"
    if all(o == "wins" for o in told):
        return "holds"
    if any(o in ("wins", "split") for o in told):
        return "depends"
    return "fails" if "loses" in told else "not resolved"


def s3_verdict(s: dict[str, Any]) -> str:
    """The seed's S3 (small specialists beat large generalists on their specialities) in one
    sentence whose verdict word :func:`routerlab.report.paper.claim_verdict` reads: ``holds``
    when every informative family's specialist beats every >= ``size_ratio`` x generalist,
    ``depends`` when some family's specialist beats one, ``fails`` when none does and one loses,
    ``is not resolved`` when every comparison is a tie, and no verdict word (not testable) when
    no family is informative (:func:`family_outcomes`: Holm-adjusted where the summary holds
    ``p_holm``)."""
    outcomes = family_outcomes(s["claims"])
    holm_note = ", Holm-adjusted" if any("p_holm" in c for c in s["claims"]) else ""
    head = (f"S3 (a small specialist beats >= {s['size_ratio']:.0f}x larger generalists on its own family: "
            f"code, math, logic, planning{holm_note})")
    word = _reasoning_word(outcomes)
    detail = _by_outcome(outcomes)
    return {"not told": f"{head}: no family separates the models ({detail})",
            "holds": f"{head} holds on every informative family ({detail})",
            "depends": f"{head} depends on the family ({detail})",
            "fails": f"{head} fails: no specialist beats them on its family ({detail})",
            "not resolved": f"{head} is not resolved: every comparison is a tie ({detail})"}[word]


def s6_verdict(s: dict[str, Any]) -> str:
    """The seed's S6 (large models dominate knowledge while small specialists win on reasoning):
    claim 2 (the largest generalist beats the knowledge specialist on knowledge) and claim 1 on the
    reasoning families (:func:`s3_verdict`'s families but knowledge), joined: ``holds`` when both
    halves hold, ``fails`` when either half is resolved against the claim, ``depends`` when one
    half holds and the other depends, ``is not resolved`` otherwise (no verdict word when a half
    cannot be told at all)."""
    k = s.get("knowledge_claim")
    head = "S6 (large models dominate knowledge while small specialists win on reasoning)"
    if not k:
        return f"{head}: no knowledge specialist in this fleet"
    word = "tie" if "(1 seed)" in k["verdict"] else k["verdict"].split(" ")[0]
    know = {"beats": "holds", "loses": "fails", "tie": "not resolved"}.get(word, "not told")
    if k.get("ladder_resolved") is False:  # knowledge's own size ladder did not resolve: not read
        know = "not told"
    know_text = f"knowledge: {k['generalist']} minus spec-knowledge {k['mean']:+.3f} [{k['lo']:+.3f}, {k['hi']:+.3f}] ({k['verdict']})"
    outcomes = family_outcomes(s["claims"])
    reason = _reasoning_word(outcomes)
    detail = f"{know_text}; reasoning: {_by_outcome(outcomes) or 'no specialist'}"
    if "fails" in (know, reason):
        return f"{head} fails ({detail})"
    if know == reason == "holds":
        return f"{head} holds ({detail})"
    if {know, reason} == {"holds", "depends"}:
        return f"{head} depends on the family ({detail})"
    if "not told" in (know, reason):
        return f"{head}: one half cannot be told here ({detail})"
    return f"{head} is not resolved ({detail})"


def _training(fleet_cfg: dict[str, Any]) -> dict[str, Any]:
    """The training design: equal tokens per model (steps x batch), learning rates per size."""
    return {"design": "equal tokens per model", "steps": fleet_cfg["steps"], "batch_size": fleet_cfg["batch_size"],
            "sequences_per_model": fleet_cfg["steps"] * fleet_cfg["batch_size"]}


def _claims_verdict(s: dict[str, Any]) -> str:
    """Both seed claims in one line (what :func:`gate` lets through when the size control holds)."""
    parts = []
    claims = [c for c in s["claims"] if c["specialist"] != "spec-knowledge"]
    if claims:
        words = [c["verdict"].split(" ")[0] for c in claims]
        counts = ", ".join(f"{w} {words.count(w)}" for w in sorted(set(words)))
        parts.append(f"claim 1 (specialist beats >= {s['size_ratio']:.0f}x generalists on its family; 95% intervals, "
                     f"before Holm): {counts} of {len(claims)} comparisons")
    k = s.get("knowledge_claim")
    if k:
        parts.append(f"claim 2 (generalists keep the lead on knowledge): {k['generalist']} vs spec-knowledge "
                     f"{k['verdict']} ({k['mean']:+.3f})")
    return "; ".join(parts) or "no claims"


def _paired(acc: dict[str, dict[str, list[float]]], a: str, b: str, family: str) -> list[float]:
    """Per-seed accuracy differences ``a - b`` on ``family``."""
    return [x - y for x, y in zip(acc[a][family], acc[b][family], strict=True)]


def _knowledge_setup(fleet_cfg: dict[str, Any], families: list[str]) -> dict[str, Any]:
    """The fact base's size and the training queries per fact of the specialist and of a generalist."""
    tasks = fleet_cfg["tasks"]
    n, digits = tasks["num_facts"], tasks.get("fact_digits")
    seen = fleet_cfg["steps"] * fleet_cfg["batch_size"]
    out = {"num_facts": n, "fact_digits": digits, "exposure_specialist": seen / n,
           "exposure_generalist": seen / len(families) / n}
    if digits is not None:  # fleets built before the knob existed had 3-bit word values
        out |= {"bits": n * digits * float(np.log2(10)), "chance": 10.0**-digits}
    return out


def _knowledge_controls(acc: dict[str, dict[str, list[float]]], models: list[dict[str, Any]],
                        controls: list[dict[str, Any]], largest: str) -> list[dict[str, Any]]:
    """Paired knowledge differences that hold capacity or exposure fixed, from the models at hand.

    ``twin``: a model of the knowledge specialist's size trained on the mixture (a mixture
    control, else a generalist of that size); ``big``: the largest knowledge-only control.
    Each entry: ``label``, ``a``, ``b`` and the :func:`verdict` of ``a - b``.
    """
    spec = next(m for m in models if m["name"] == "spec-knowledge")
    same = [m for m in controls if m["family"] is None and m["params"] == spec["params"]]
    same += [m for m in models if m["role"] == "generalist" and m["params"] == spec["params"] and m["name"] != largest]
    big = max((m for m in controls if m["family"] == "knowledge" and m["params"] > spec["params"]),
              key=lambda m: m["params"], default=None)
    pairs = []
    if same:
        twin = same[0]["name"]
        pairs += [("capacity at the generalists' exposure", largest, twin),
                  ("exposure at the specialist's size", "spec-knowledge", twin)]
    if big:
        pairs += [("capacity at the specialist's exposure", big["name"], "spec-knowledge"),
                  ("exposure (knowledge only vs mixture) for larger models", big["name"], largest)]
    return [{"label": label, "a": a, "b": b, **verdict(_paired(acc, a, b, "knowledge"))} for label, a, b in pairs]


