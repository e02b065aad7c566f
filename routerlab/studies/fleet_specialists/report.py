"""specialists_vs_generalists' report, findings and paper table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from routerlab.report.controls import level_text
from routerlab.rundir import RunDir, atomic_write_text
from routerlab.studies.fleet_specialists.study import PLUMBING

__all__ = ["report", "paper", "findings", "size_text", "knowledge_text"]


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
                   "verdict": c["verdict"] + (" (its family's size ladder did not resolve: not read)"
                                              if c.get("ladder_resolved") is False else ""),
                   **({"answer NLL, generalist minus specialist (secondary)":
                       f"{c['answer_nll']['mean']:+.3f} [{c['answer_nll']['lo']:+.3f}, {c['answer_nll']['hi']:+.3f}]"}
                      if c.get("answer_nll") else {})} for c in s["claims"]]
    lines = [PLUMBING, ""] if rundir.header.get("scale") == "smoke" else []
    lines += [f"**Verdict**: {s['verdict']}", ""]
    lines += [f"**{label}** (the paper's claims table): {text}" for label, text in s.get("claim_verdicts", {}).items()]
    lines += ["", size_text(s), ""]
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
        "quick scale; see docs/fleet_calibration.md).",
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
    nll = c.get("measure") == "answer_nll"
    what = ("on the test answers' negative log-likelihood (nats per query; smaller generalist's minus the larger's, "
            "so > 0 means size helped)" if nll else "on test exact match (larger generalist minus the next smaller one)")
    saturated = ("at the exact-match ceiling or below the NLL floor (the gold answers' geometric-mean probability "
                 "above 0.99)" if nll else "at ceiling")
    telling = len(c["per_family"]) - len(c.get("at_ceiling", []))
    return (f"Size control (known result: at equal tokens a larger model is at least as good; required before a "
            f"specialist-vs-generalist verdict), {what}, each step of the size ladder paired over seeds, "
            f"{level_text(c.get('level', 0.95))} t-interval; {c['families_resolved']} of the {telling} families that can "
            f"tell resolved "
            f"({', '.join(c['families']) or 'none'}), {c['needed']} needed"
            + (f"; {saturated} for every generalist, so neither counted nor deciding: {', '.join(c['at_ceiling'])}"
               if c.get("at_ceiling") else "") + ": "
            f"{'passes' if c['resolved'] else 'FAILS'}. " + "; ".join(parts) + "." + _exact_match_reading(c))


def _exact_match_reading(c: dict[str, Any]) -> str:
    em = c.get("exact_match_reading")
    if not em:
        return ""
    telling = len(em["per_family"]) - len(em.get("at_ceiling", []))
    return (f" For the record, not deciding: on test exact match {em['families_resolved']} of the "
            f"{telling} families that can tell resolve ({', '.join(em['families']) or 'none'}"
            + (f"; at ceiling: {', '.join(em['at_ceiling'])}" if em.get("at_ceiling") else "") + ").")


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
        lines += [f"{label}: {text}" for label, text in s.get("claim_verdicts", {}).items()]
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
