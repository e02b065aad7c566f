"""Specialists vs generalists on the task suite: per-family exact-match accuracy against size.

The fleet (:mod:`routerlab.fleet.fleet`): one small specialist per family, trained on that
family only, and generalists of several sizes trained on the uniform mixture, every model
for the same number of steps and examples. Accuracy is exact match under greedy decoding on
the suite's *test* queries (never seen in training, except for ``knowledge``, which is
recall of facts stated in training; see :mod:`routerlab.fleet.tasks`).

The seed's claims, as tests on this fleet, each over fleet seeds (paired by seed):

* **own family**: does the specialist of family ``f`` beat every generalist with at least
  10x its parameters on ``f``? (Paired difference specialist - generalist, mean and 95%
  t-interval over seeds; "beats" = interval above 0, "loses" = below 0, else "tie".)
* **knowledge**: do generalists keep the lead on knowledge: does the largest generalist
  beat the knowledge specialist there? (Paired difference generalist - specialist.)

Knowledge is recall of a synthetic fact base sized to load capacity (``num_facts`` facts of
``fact_digits`` random digits each; :mod:`routerlab.fleet.tasks`), so it separates models
only when it is not at ceiling. The comparison has an *exposure confound*: with equal steps
and batch, a generalist sees each fact ``1/F`` as often as the knowledge specialist (the
summary records the training queries per fact of each), which favours the specialist. The
fleet's controls (:class:`routerlab.fleet.fleet.ControlSpec`; rows ``ctl-*``, not routed to)
split the gap into paired differences that each hold one factor fixed:

* a model of the specialist's size on the mixture (``ctl-gen-xs``, or a generalist of that
  size): largest generalist - it is *capacity at the generalists' exposure*, knowledge
  specialist - it is *exposure (and no competing families) at the specialist's size*;
* a larger knowledge-only model (``ctl-know-m``): it - knowledge specialist is *capacity at
  the specialist's exposure*, it - largest generalist is *exposure for larger models*
  (conservative when the control is the smaller of the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.fleet.fleet import FleetConfig, ensure_fleet, load_fleet
from routerlab.fleet.tasks import CEILING
from routerlab.report import mean_ci
from routerlab.report.controls import Control, format_control, gate, paired_control
from routerlab.rundir import RunDir, atomic_write_text

__all__ = ["SpecialistsConfig", "run", "summarize", "report", "paper", "verdict", "knowledge_text",
           "wilson_interval", "model_interval", "baselines", "informative", "size_control", "PLUMBING"]

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
    """

    fleet: FleetConfig = field(default_factory=FleetConfig)
    size_ratio: float = 10.0
    size_families: int = 3

    def __post_init__(self):
        check(self.size_ratio > 0, "size_ratio", f"must be > 0; got {self.size_ratio}")
        check(1 <= self.size_families <= 5, "size_families", f"must be in [1, 5]; got {self.size_families}")


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
    (``lo <= chance_hi``) and *at ceiling* when it reaches the ceiling (``hi >= ceiling``).
    The family is uninformative when every model is at chance, or every model is at ceiling:
    then any difference between them is a tie by construction, not evidence.
    """
    at_chance = [lo <= chance_hi for lo, _ in intervals.values()]
    at_ceiling = [hi >= ceiling - 1e-12 for _, hi in intervals.values()]
    if all(at_chance):
        return False, "every model at chance"
    if all(at_ceiling):
        return False, "every model at ceiling"
    return True, ""


def size_control(acc: dict[str, dict[str, list[float]]], generalists: list[dict[str, Any]], families: list[str],
                 needed: int) -> tuple[dict[str, Any], Control]:
    """Does size buy quality? Per family, each generalist against the next smaller one
    (paired over seeds, :func:`routerlab.report.controls.paired_control`); a family resolves when
    every step of the size ladder resolves (e.g. gen-l > gen-m and gen-m > gen-s).

    Returns the summary entry ``{"families_resolved", "families", "resolved", "needed",
    "per_family"}`` and one :class:`Control` for :func:`gate`: the deciding comparison, i.e. the
    weakest step of the ``needed``-th best family (ranked by the lower end of its weakest step),
    so it is resolved exactly when at least ``needed`` families are.
    """
    ladder = sorted(generalists, key=lambda g: g["params"])
    per_family, weakest = {}, {}
    for f in families:
        steps = [paired_control(f"size {f}: {big['name']} > {small['name']}", acc[big["name"]][f],
                                acc[small["name"]][f], lower_is_better=False)
                 for small, big in zip(ladder, ladder[1:])]
        per_family[f] = {"steps": [{"name": c.name, **c.to_json()} for c in steps],
                         "resolved": all(c.resolved for c in steps)}
        weakest[f] = min(steps, key=lambda c: c.ci[0] if np.isfinite(c.ci[0]) else -np.inf)
    resolved = [f for f in families if per_family[f]["resolved"]]
    rank = sorted(families, key=lambda f: weakest[f].ci[0] if np.isfinite(weakest[f].ci[0]) else -np.inf,
                  reverse=True)
    k = min(needed, len(rank))
    deciding = weakest[rank[k - 1]]
    ok = len(resolved) >= needed
    control = replace(deciding, name=f"size ({len(resolved)}/{len(families)} families resolved, {needed} needed; "
                                     f"deciding: {deciding.name})", resolved=ok)
    return {"families_resolved": len(resolved), "families": resolved, "resolved": ok, "needed": needed,
            "per_family": per_family}, control


def summarize(rundir: RunDir, cfg: SpecialistsConfig | None = None) -> dict[str, Any]:
    records = [r for r in rundir.records() if "accuracy" in r]
    fleet = load_fleet(_runs_root(rundir) / records[0]["fleet"])  # relative to the runs root (--out)
    ratio = cfg.size_ratio if cfg else rundir.config["size_ratio"]
    needed = cfg.size_families if cfg else rundir.config.get("size_families", 3)
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
                           "size_ratio": g["params"] / s["params"], **v})
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
    size, size_gate = size_control(acc, generalists, families, needed) if len(generalists) >= 2 else (None, None)
    summary = {"seeds": [r["seed"] for r in records], "families": families, "models": table, "claims": claims,
               "knowledge_claim": knowledge, "size_ratio": ratio, "baselines": base, "family_flags": family_flags,
               "order": [m["name"] for m in models + controls],
               "spec_params": min(m["params"] for m in models), "largest_params": largest["params"],
               "training": _training(fleet.meta["config"])}
    summary["controls"] = {"size": size} if size else {}
    summary["verdict"] = gate(_claims_verdict(summary), [size_gate] if size_gate else [])
    return summary


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
        parts.append(f"claim 1 (specialist beats >= {s['size_ratio']:.0f}x generalists on its family): {counts} "
                     f"of {len(claims)} comparisons")
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


def _fmt(ci: dict[str, float]) -> str:
    return f"{ci['mean']:.2f} ± {(ci['hi'] - ci['lo']) / 2:.2f}"


def report(rundir: RunDir) -> str:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from routerlab.report import markdown_table, save_figure, setup_style

    s = rundir.summary
    fams = s["families"]
    rows = []
    for name in s["order"]:
        m = s["models"][name]
        rows.append({"model": name, "trained on": m["family"] or "mixture", "params": f"{m['params']:,}",
                     "MFLOPs/token": f"{m['flops_per_token'] / 1e6:.3f}",
                     "$/1K tok": m["price_per_1k"], "peak lr": f"{m['lr']:.0e}" if m.get("lr") else "",
                     **{f: _fmt(m["accuracy"][f]) for f in fams}})
    rows += _baseline_rows(s, {"trained on": "", "params": "", "MFLOPs/token": "", "$/1K tok": "", "peak lr": ""})
    claim_rows = [{"specialist": c["specialist"], "vs": c["generalist"], "size ratio": f"{c['size_ratio']:.0f}x",
                   "accuracy diff (own family)": f"{c['mean']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]",
                   "verdict": c["verdict"]} for c in s["claims"]]
    lines = [PLUMBING, ""] if rundir.header.get("scale") == "smoke" else []
    lines += [f"**Verdict**: {s['verdict']}", "", size_text(s), ""]
    lines += [
        f"Exact-match test accuracy per family (mean ± 95% t-interval over fleet seeds {s['seeds']}). "
        "Specialists train on their family only; generalists on the uniform mixture; same steps and batch, so a "
        f"generalist sees each family 1/{len(fams)} as often as that family's specialist (equal training compute per "
        "model, unequal exposure per family). Knowledge is recall of facts stated in training; a family where every "
        "model is near 1.0 is at ceiling and cannot separate them. Rows named ctl-* are controls: trained and scored "
        "like the fleet but not part of it (not routed to). Rows in italics are baselines: the majority answer "
        "(always the training pool's most frequent answer of the family), a uniform guess among the pool's "
        "answers, and the ceiling (exact match 1: every answer follows from the prompt or a stated fact). "
        f"Training: {s['training']['design']}, {s['training']['steps']:,} steps x {s['training']['batch_size']} "
        "sequences for every model, at the peak learning rate listed per model (tuned per size on validation at "
        "quick scale; see routerlab.fleet.fleet.scaled_fleet).",
        "",
        markdown_table(rows),
        _flags_text(s),
        "",
        f"Claim 1: a specialist beats generalists with >= {s['size_ratio']:.0f}x its parameters on its own family "
        "(paired differences over seeds; verdict from the 95% t-interval):",
        "",
        markdown_table(claim_rows) if claim_rows else "No generalist is that much larger.",
    ]
    k = s.get("knowledge_claim")
    if k:
        lines += ["", knowledge_text(s), ""]
    setup_style()
    fig, axes = plt.subplots(1, len(fams), figsize=(3.0 * len(fams), 3.0), sharey=True, squeeze=False)
    pal = sns.color_palette("colorblind", 3)
    gens = [(n, m) for n, m in s["models"].items() if m["role"] == "generalist"]
    for ax, f in zip(axes[0], fams, strict=True):
        x = [m["params"] for _, m in gens]
        y = [m["accuracy"][f]["mean"] for _, m in gens]
        err = [(m["accuracy"][f]["hi"] - m["accuracy"][f]["lo"]) / 2 for _, m in gens]
        ax.errorbar(x, y, yerr=err, marker="o", color=pal[0], label="generalists", capsize=2)
        sp = s["models"].get(f"spec-{f}")
        if sp:
            ax.errorbar([sp["params"]], [sp["accuracy"][f]["mean"]],
                        yerr=[(sp["accuracy"][f]["hi"] - sp["accuracy"][f]["lo"]) / 2],
                        marker="*", ms=10, color=pal[1], label=f"spec-{f}", capsize=2, ls="none")
        for n, m in s["models"].items():  # controls on the mixture, or on this family
            if m["role"] == "control" and m["family"] in (None, f):
                ax.errorbar([m["params"]], [m["accuracy"][f]["mean"]],
                            yerr=[(m["accuracy"][f]["hi"] - m["accuracy"][f]["lo"]) / 2], marker="x",
                            color=pal[2], capsize=2, ls="none")
                ax.annotate(n, (m["params"], m["accuracy"][f]["mean"]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        ax.set(xscale="log", title=f, xlabel="parameters")
    axes[0][0].set_ylabel("test exact match")
    axes[0][0].legend(fontsize=7)
    save_figure(fig, rundir.artifacts / "specialists_vs_generalists")
    lines += ["![accuracy vs parameters](specialists_vs_generalists.png)", ""]
    return "\n".join(lines)


def _baseline_rows(s: dict[str, Any], blank: dict[str, str]) -> list[dict[str, str]]:
    """The chance and ceiling rows of the accuracy table (empty for fleets that did not record them)."""
    b = s.get("baselines")
    if not b:
        return []
    fams = s["families"]
    return [{"model": "*majority answer*", **blank, **{f: _fmt(b[f]["majority"]) for f in fams}},
            {"model": "*uniform guess*", **blank, **{f: _fmt(b[f]["uniform"]) for f in fams}},
            {"model": "*ceiling*", **blank, **{f: f"{b[f]['ceiling']:.2f}" for f in fams}}]


def _flags_text(s: dict[str, Any]) -> str:
    flags = s.get("family_flags", {})
    bad = [f"{f} ({v['reason']})" for f, v in flags.items() if not v["informative"]]
    rule = ("a model is at chance when its interval (seeds and test queries pooled) reaches the chance row, at "
            "ceiling when it reaches 1; a comparison whose two models are both at chance, or both at ceiling, is "
            "'uninformative', not a tie")
    if not bad:
        return ("Every family separates some of its rivals (generalists and its specialist) from chance and "
                f"ceiling; {rule}.")
    return ("Uninformative families (every rival, i.e. every generalist and the family's specialist, at chance, or "
            f"every one at ceiling): {', '.join(bad)}; {rule}.")


def size_text(s: dict[str, Any]) -> str:
    """The size control in words: per family, each step of the generalists' size ladder."""
    c = (s.get("controls") or {}).get("size")
    if not c:
        return "No size control (fewer than two generalists)."
    parts = []
    for f in s["families"]:
        e = c["per_family"][f]
        steps = ", ".join(f"{st['name'].split(': ', 1)[1]} {st['delta']:+.3f} "
                          + (f"[{st['ci'][0]:+.3f}, {st['ci'][1]:+.3f}]" if st["ci"][0] is not None else "(1 seed)")
                          for st in e["steps"])
        parts.append(f"{f}: {steps} ({'resolved' if e['resolved'] else 'not resolved'})")
    return (f"Size control (known result: at equal tokens a larger model is at least as good; required before a "
            f"specialist-vs-generalist verdict): larger generalist minus the next smaller one, paired over seeds, "
            f"95% t-interval; {c['families_resolved']} of {len(c['per_family'])} families resolved "
            f"({', '.join(c['families']) or 'none'}), {c['needed']} needed: "
            f"{'passes' if c['resolved'] else 'FAILS'}. " + "; ".join(parts) + ".")


def _diff(v: dict[str, Any]) -> str:
    return f"{v['mean']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]"


def knowledge_text(s: dict[str, Any]) -> str:
    """The knowledge claim in words: verdict, paired difference, ceiling and exposure caveats, controls."""
    k = s["knowledge_claim"]
    g, models = k["generalist"], s["models"]
    acc_g, acc_s = models[g]["accuracy"]["knowledge"]["mean"], models["spec-knowledge"]["accuracy"]["knowledge"]["mean"]
    word = k["verdict"].split(" ")[0]
    outcome = {"beats": f"the generalist wins on knowledge: {g} beats spec-knowledge",
               "loses": f"the generalist does NOT keep the lead on knowledge: spec-knowledge beats {g}",
               "tie": f"not resolved: {g} and spec-knowledge tie on knowledge",
               "uninformative": f"not testable here: knowledge is {k['verdict']}"}[word]
    size = models[g]["params"] / models["spec-knowledge"]["params"]
    base = f"{k['num_facts']:,} facts"
    if k.get("fact_digits") is not None:
        base += (f" of {k['fact_digits']} random digits ({k['bits']:,.0f} bits; chance exact match "
                 f"{k['chance']:.3g})")
    text = (f"Claim 2 (generalists keep the lead on knowledge): {outcome} "
            f"({acc_g:.2f} vs {acc_s:.2f}; paired difference {g} - spec-knowledge {_diff(k)}, "
            f"{size:.0f}x the parameters; verdict from the 95% t-interval: {k['verdict']}). "
            f"Knowledge base: {base}. Exposure confound: in training the specialist saw each fact "
            f"~{k['exposure_specialist']:.0f} times, each generalist ~{k['exposure_generalist']:.0f} times "
            f"(1/{len(s['families'])}), which favours the specialist")
    text += {"beats": ", so the generalist's win holds despite it.",
             "loses": ": the loss may reflect exposure rather than capacity.",
             "tie": ".", "uninformative": "."}[word]
    accs = [m["accuracy"]["knowledge"]["mean"] for m in models.values()]
    if min(accs) >= 0.95:
        text += " Every model is at >= 0.95 on knowledge: the task is at ceiling and cannot separate them."
    if k.get("controls"):
        params = {n: m["params"] for n, m in models.items()}
        parts = [f"{c['label']}: {c['a']} ({params[c['a']]:,} params) - {c['b']} ({params[c['b']]:,}) = "
                 f"{_diff(c)} ({c['verdict']})" for c in k["controls"]]
        text += " Controls (paired differences on knowledge): " + "; ".join(parts) + "."
    return text


def findings(s: dict[str, Any]) -> str:
    """Both claims in words: specialist vs >= ``size_ratio`` x generalists on its own family, then knowledge."""
    claims = [c for c in s["claims"] if c["specialist"] != "spec-knowledge"]
    families = [f for f in s["families"] if f != "knowledge"]
    lines = []
    if "verdict" in s:
        lines += [f"Verdict: {s['verdict']}", size_text(s)]
    if claims:
        counts = {v: sum(c["verdict"] == v for c in claims) for v in sorted({c["verdict"] for c in claims})}
        beats = [f"{c['specialist']} vs {c['generalist']} ({c['size_ratio']:.0f}x) {_diff(c)}" for c in claims
                 if c["verdict"].startswith("beats")]
        how = "95% t-intervals" if len(s["seeds"]) > 1 else "one seed: no interval"
        lines.append(
            f"Claim 1 (a specialist beats generalists with >= {s['size_ratio']:.0f}x its parameters on its own "
            f"family; paired over {len(s['seeds'])} seeds, {how}): of {len(claims)} comparisons on "
            f"{', '.join(families)}: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + "."
            + (f" Wins: {'; '.join(beats)}." if beats else ""))
    if s.get("knowledge_claim"):
        lines.append(knowledge_text(s))
    return "\n\n".join(lines) + "\n"


def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``tables/specialists_vs_generalists.tex``, its findings and ``figures/specialists_vs_generalists.pdf``."""
    import matplotlib.pyplot as plt

    from routerlab.report import latex_table, save_figure
    from routerlab.report.paper import write_findings

    s = rundir.summary
    fams = s["families"]
    rows = [{"model": n, "params": f"{s['models'][n]['params']:,}",
             **{f: _fmt(s["models"][n]["accuracy"][f]) for f in fams}} for n in s["order"]]
    rows += [{**r, "model": r["model"].strip("*")} for r in _baseline_rows(s, {"params": ""})]
    table = latex_table(rows, ["model", "params", *fams],
                        caption=(f"Specialists vs generalists: test exact match per family, mean $\\pm$ 95\\% "
                                 f"t-interval half-width over {len(s['seeds'])} fleet seeds."
                                 + (" Rows ctl-* are controls, trained like the fleet but not routed to."
                                    if any(m["role"] == "control" for m in s["models"].values()) else "")),
                        label="tab:specialists")
    tex = out / "tables" / "specialists_vs_generalists.tex"
    tex.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tex, f"% {provenance}\n" + table)
    fig, ax = plt.subplots(figsize=(4, 3))
    for n in s["order"]:
        m = s["models"][n]
        if m["family"]:
            ax.scatter(m["params"], m["accuracy"][m["family"]]["mean"], marker="*", label=f"{n} (own family)")
        else:
            mean = np.mean([m["accuracy"][f]["mean"] for f in fams])
            ax.scatter(m["params"], mean, marker="o", label=f"{n} (mean over families)")
    ax.set(xscale="log", xlabel="parameters", ylabel="test exact match")
    ax.legend(fontsize=5)
    return [tex, write_findings(out, "specialists_vs_generalists", findings(s), provenance),
            *save_figure(fig, out / "figures" / "specialists_vs_generalists", subject=provenance, png=False)]
