"""One LM routing study: variants plus controls, summary, verdict, report and paper hook.

Every study (one module each in this package) gives a :class:`Study` its variants, its
analysis (derived numbers), its verdict (one sentence on its question) and its prose. The
``Study`` adds what all of them share:

* the positive controls' arms (:meth:`LMStudyConfig.control_variants`) next to the study's
  own, trained on the same tokens, and the controls computed from them (:func:`controls`);
* the summary (``summary.json``): ``variants`` (each at its chosen rate), ``analysis``,
  ``tuning`` (each variant's chosen rate and mean validation loss per rate), ``controls``
  (``{"capacity": ..., "switch_vs_dense": ...}``, :meth:`routerlab.report.controls.Control.to_json`)
  and ``verdict`` (:func:`routerlab.report.controls.gate`: it starts with ``underpowered``
  unless both controls resolve);
* Holm's correction over the study's paired comparisons: every analysis entry made by
  :func:`paired_diff` carries ``p`` (two-sided paired t) and ``p_holm`` (adjusted over the
  study), and :func:`sign_verdict` calls a difference resolved only when ``p_holm < 0.05``.

Comparisons and controls read the study's **declared measure** (``cfg.measure``,
:mod:`routerlab.studies.lm.measure`: the corpus test loss, or the knowledge domain's fact loss on
its test prompts; :func:`paired_measure`); learning rates are chosen on the validation loss
(:func:`routerlab.studies.lm.runner.choose_lr`), so no number is read on the split that picked
it. Readings of a validation *curve* (step speed-ups) necessarily use validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import ConfigError
from routerlab.report import MeanCI, fmt_ci, mean_ci
from routerlab.report.controls import Control, format_control, gate, paired_control
from routerlab.report.stats import holm, paired_t_pvalue
from routerlab.rundir import RunDir, atomic_write_text
from routerlab.studies.lm import lr_transfer
from routerlab.studies.lm.config import LMStudyConfig
from routerlab.studies.lm.measure import MEASURES, measure_name, measure_of
from routerlab.studies.lm.runner import by_variant, run_variants

__all__ = ["Study", "controls", "paired_diff", "paired_measure", "sign_verdict", "ci", "variant_summary", "COLUMNS",
           "CONTROL_PREFIX"]

CONTROL_PREFIX = "control:"
ALPHA = 0.05


def ci(values: Sequence[float]) -> dict[str, float]:
    return mean_ci(values)._asdict()


def paired_diff(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str = "test_loss") -> dict[str, float]:
    """95% interval of ``a - b`` paired by seed, and the two-sided paired-t p-value ``p``."""
    if [r["seed"] for r in a] != [r["seed"] for r in b]:
        raise ValueError(f"paired_diff: seeds differ: {[r['seed'] for r in a]} vs {[r['seed'] for r in b]}")
    diffs = [x[key] - y[key] for x, y in zip(a, b)]
    return {**ci(diffs), "p": paired_t_pvalue(diffs)}


def paired_measure(cfg: LMStudyConfig, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, float]:
    """:func:`paired_diff` of ``a - b`` on the study's declared measure (``cfg.measure``)."""
    values = lambda rows: [{"seed": r["seed"], "measure": measure_of(cfg, r)} for r in rows]  # noqa: E731
    return paired_diff(values(a), values(b), key="measure")


def _holm_in_place(analysis: Any) -> None:
    """Adds ``p_holm`` to every entry holding a ``p`` (found anywhere in ``analysis``), adjusted together."""
    entries: list[dict[str, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "p" in x and isinstance(x["p"], float):
                entries.append(x)
            for v in x.values():
                walk(v)

    walk(analysis)
    for entry, adj in zip(entries, holm([e["p"] for e in entries])):
        entry["p_holm"] = adj


def sign_verdict(entry: dict[str, Any]) -> str:
    """A paired loss difference: ``better`` / ``worse`` when Holm-adjusted p < 0.05, else ``not resolved``."""
    p = entry.get("p_holm", entry.get("p"))
    if entry.get("n", 0) < 2 or p is None or not np.isfinite(p) or p >= ALPHA:
        return "not resolved" if entry.get("n", 0) >= 2 else "not resolved (1 seed)"
    return "better" if entry["mean"] < 0 else "worse"


def fmt_diff(entry: dict[str, Any], digits: int = 3) -> str:
    """``-0.120 ± 0.050 (Holm p 0.012)`` for one paired difference."""
    base = fmt_ci(MeanCI(entry["mean"], entry["lo"], entry["hi"], entry["n"]), digits)
    p = entry.get("p_holm")
    return base if p is None or not np.isfinite(p) else f"{base} (Holm p {p:.3g})"


def controls(cfg: LMStudyConfig, groups: dict[str, list[dict[str, Any]]]) -> dict[str, Control]:
    """Capacity (dense ``capacity_mult x`` wider beats dense) and switch_vs_dense (Switch top-1
    with ``control_experts`` experts beats dense at equal active FLOPs), on ``cfg.measure``, paired by seed."""
    (dense, _), (wide, _), (switch, _) = cfg.control_variants()
    loss = lambda name: [measure_of(cfg, r) for r in groups[name]]  # noqa: E731
    return {"capacity": paired_control("capacity", loss(wide), loss(dense), lower_is_better=True),
            "switch_vs_dense": paired_control("switch_vs_dense", loss(switch), loss(dense), lower_is_better=True)}


def variant_summary(rows: list[dict[str, Any]], tuning: dict[str, Any], cfg: Any = None) -> dict[str, Any]:
    """One arm at its chosen rate; with ``cfg`` whose measure is not the test loss, that measure too."""
    entry: dict[str, Any] = {
        "seeds": len(rows),
        "steps": rows[0]["steps"],
        "tokens": rows[0].get("tokens"),
        "lr": tuning["lr"],
        "params": rows[0]["params"],
        "flops_per_token": rows[0]["flops_per_token"],
        "train_flops": rows[0]["train_flops_per_step"] * rows[0]["steps"],
        "final_val_loss": ci([r["final_val_loss"] for r in rows]),
        "test_loss": ci([r["test_loss"] for r in rows]),
    }
    if cfg is not None and cfg.measure != "test_loss":
        entry[cfg.measure] = ci([measure_of(cfg, r) for r in rows])
    if "test_loss_by_domain" in rows[0]:  # each domain reported separately (reasoning vs recall vs prose)
        entry["test_loss_by_domain"] = {d: ci([r["test_loss_by_domain"][d] for r in rows])
                                        for d in rows[0]["test_loss_by_domain"]}
    if "routing" in rows[0]:
        entry["routing"] = {k: ci([r["routing"][k] for r in rows]) for k in rows[0]["routing"]}
    return entry


COLUMNS = ["variant", "lr", "params (total)", "FLOPs/token (active)", "train FLOPs", "val loss", "test loss", "MaxVio",
           "dead", "dropped"]


def columns(summary: dict[str, Any]) -> list[str]:
    """:data:`COLUMNS`, with the declared measure's column after test loss when it is another one."""
    measure = summary.get("measure", "test_loss")
    return COLUMNS if measure == "test_loss" else [*COLUMNS[:7], measure.replace("_", " "), *COLUMNS[7:]]


def table_rows(summary: dict[str, Any], order: Sequence[str]) -> list[dict[str, Any]]:
    measure = summary.get("measure", "test_loss")
    rows = []
    for name in order:
        if name not in summary["variants"]:
            continue
        entry = summary["variants"][name]
        routing = entry.get("routing")
        cell = lambda k, d=3: fmt_ci(MeanCI(**routing[k]), d) if routing else "-"  # noqa: E731
        rows.append({
            "variant": name,
            "lr": f"{entry['lr']:g}",
            "params (total)": entry["params"]["total"],
            "FLOPs/token (active)": f"{entry['flops_per_token']['active']:.3g}",
            "train FLOPs": f"{entry['train_flops']:.3g}",
            "val loss": fmt_ci(MeanCI(**entry["final_val_loss"])),
            "test loss": fmt_ci(MeanCI(**entry["test_loss"])),
            # a summary written before variants carried the measure (moe_vs_dense before 0420ff8): "-"
            **({measure.replace("_", " "): fmt_ci(MeanCI(**entry[measure])) if measure in entry else "-"}
               if measure != "test_loss" else {}),
            "MaxVio": cell("max_vio", 2),
            "dead": cell("dead", 2),
            "dropped": cell("dropped_frac", 3),
        })
    return rows


def _loss_name(cfg: LMStudyConfig) -> str:
    return "cross-entropy (nats/byte)" if cfg.causal else "masked-byte cross-entropy (nats per masked byte)"


def _ylabel(cfg: LMStudyConfig) -> str:
    return "validation loss (nats/byte)" if cfg.causal else "val. masked-byte loss (nats)"


def figure(groups: dict[str, list[dict[str, Any]]], order: Sequence[str], title: str, ylabel: str):
    """Validation loss against training FLOPs, one line per variant (mean, 95% band over seeds)."""
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style

    setup_style()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name in order:
        rows = groups.get(name)
        if not rows:
            continue
        flops = np.asarray(rows[0]["eval_steps"], np.float64) * rows[0]["train_flops_per_step"]
        losses = np.array([r["val_loss"] for r in rows])
        mean = losses.mean(axis=0)
        (line,) = ax.plot(flops, mean, marker="o", markersize=2.5, label=name)
        if len(rows) > 1:
            half = np.array([mean_ci(col).half_width for col in losses.T])
            ax.fill_between(flops, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set(xscale="log", xlabel="training FLOPs (active)", ylabel=ylabel, title=title)
    ax.legend(fontsize=6, ncol=2)
    return fig


def default_setup(cfg: LMStudyConfig) -> str:
    if not cfg.causal:
        return (f"Bidirectional encoder d_model={cfg.d_model}, {cfg.n_layers} layers, context {cfg.seq_len}, "
                f"dense/expert width {cfg.d_ff}, trained to predict masked bytes "
                f"({getattr(cfg, 'mask_rate', 0.15):g} of each sequence replaced by MASK)")
    return (f"Decoder d_model={cfg.d_model}, {cfg.n_layers} layers, context {cfg.seq_len}, "
            f"dense/expert width {cfg.d_ff}")


def controls_text(summary: dict[str, Any]) -> str:
    lines = []
    for name, c in summary["controls"].items():
        control = Control(name, c["delta"], tuple(np.nan if b is None else b for b in c["ci"]), c["n"], c["resolved"])
        lines.append(f"- {name}: {format_control(control)}: {'resolved' if c['resolved'] else 'NOT resolved'}")
    return "\n".join(lines)


def train(cfg: Any, rundir: RunDir, variants: Sequence[tuple], desc: str, **kw: Any) -> None:
    """:func:`~routerlab.studies.lm.runner.run_variants`, with the knowledge readout when the measure needs it."""
    if getattr(cfg, "measure", "test_loss") == "fact_loss":
        from routerlab.studies.lm.knowledge import run_knowledge_variants  # it imports this module

        run_knowledge_variants(cfg, rundir, variants, desc, **kw)
    else:
        run_variants(cfg, rundir, variants, desc, **kw)


@dataclass(frozen=True)
class Study:
    """One LM routing study: its variants, derived numbers, verdict and prose."""

    name: str
    title: str
    config: type
    variants: Callable[[Any], list[tuple]]
    analysis: Callable[[Any, dict[str, list[dict]]], dict[str, Any]]
    text: Callable[[Any, dict[str, Any]], str]
    verdict: Callable[[Any, dict[str, Any]], str]
    setup: Callable[[Any], str] = default_setup
    headline: tuple[str, ...] = ()  # analysis keys also written at the top of summary.json (the output contract)
    # The arms tuned at every rate under lr_policy="transfer" to check it (lr_transfer); None: the first arm.
    sentinels: Callable[[Any], tuple[str, ...]] | None = None

    def sentinel_arms(self, cfg: Any) -> tuple[str, ...]:
        """The study's declared sentinel arms (:mod:`routerlab.studies.lm.lr_transfer`). A name that is
        none of its arms is a bug in the study: ValueError (a study whose sentinel may not exist at
        some config leaves it out itself, as capacity does with no dropping capacity factor)."""
        names = self.order(cfg)
        chosen = tuple(self.sentinels(cfg)) if self.sentinels is not None else tuple(names[:1])
        missing = [n for n in chosen if n not in names]
        if missing:
            raise ValueError(f"study {self.name}: sentinel arm(s) {', '.join(map(repr, missing))} are not among its "
                             f"arms ({', '.join(names)})")
        return chosen

    def transfer_plan(self, cfg: Any) -> dict[str, dict[str, Any]]:
        """:func:`routerlab.studies.lm.lr_transfer.plan` of the study's arms and sentinels."""
        return lr_transfer.plan(cfg, self.variants(cfg), self.sentinel_arms(cfg))

    def _cfg(self, rundir: RunDir) -> Any:
        from routerlab.config import from_dict

        return from_dict(self.config, rundir.config)

    def order(self, cfg: Any) -> list[str]:
        """The study's own variant names, in its order (control arms not included)."""
        return [v[0] for v in self.variants(cfg)]

    def all_variants(self, cfg: Any) -> list[tuple]:
        """The study's variants, then the controls' arms (trained once: identical configs share units)."""
        return [*self.variants(cfg), *cfg.control_variants()]

    def check(self, cfg: Any) -> None:
        """Build every arm's run config, so a config that some arm cannot take is refused with
        one line (:class:`~routerlab.config.ConfigError`, naming the field and the arm) before
        anything is written. Experiment files export it as their ``check(cfg)``."""
        try:
            arms = self.all_variants(cfg)
        except ConfigError as err:
            raise ConfigError(err.field, f"{err.message} (in an arm of the {self.name} study)") from None
        for name, run_cfg, *rest in arms:
            if rest and not run_cfg.train.router_noise:
                raise ConfigError("train.router_noise", f"arm {name!r} is trained as RL-R, which samples experts "
                                  "with the router_noise key")
        if getattr(cfg, "lr_policy", "per_arm") == "transfer":
            the_plan = self.transfer_plan(cfg)
            if lr_transfer.transferred_arms(the_plan) and not lr_transfer.checking_sentinels(the_plan):
                raise ConfigError("lr_policy", f"transfer: the {self.name} study has no sentinel arm unlike the "
                                  "controls here, so nothing would check the transferred rates; use per_arm")

    def run(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        """Train every variant and control arm at every rate for every seed; return :meth:`summarize`.

        With ``measure="fact_loss"`` every record carries the knowledge readout
        (:func:`routerlab.studies.lm.knowledge.run_knowledge_variants`, cached apart from plain units).
        With ``lr_policy="transfer"`` the control arms train first at every rate, then each study
        arm at its control's chosen rate, the sentinels at every rate
        (:mod:`routerlab.studies.lm.lr_transfer`); a resume skips every recorded unit either way."""
        if getattr(cfg, "lr_policy", "per_arm") == "transfer":
            train(cfg, rundir, cfg.control_variants(), f"{self.name} controls")
            _, tuning = by_variant(rundir)
            arms = self.variants(cfg)
            the_plan = self.transfer_plan(cfg)
            rates = {n: (cfg.lr_grid if p["tuned"] else (tuning[p["control"]]["lr"],)) for n, p in the_plan.items()}
            train(cfg, rundir, arms, self.name, rates=rates)
        else:
            train(cfg, rundir, self.all_variants(cfg), self.name)
        return self.summarize(cfg, rundir)

    def summarize(self, cfg: Any, rundir: RunDir) -> dict[str, Any]:
        groups, tuning = by_variant(rundir)
        names = [v[0] for v in self.all_variants(cfg)]
        summary: dict[str, Any] = {
            "variants": {name: variant_summary(groups[name], tuning[name], cfg) for name in names if name in groups},
            "tuning": {"lr_grid": list(cfg.lr_grid), "chosen_on": "mean final validation loss over seeds",
                       **{name: tuning[name] for name in names if name in tuning}},
        }
        analysis = self.analysis(cfg, groups)
        _holm_in_place(analysis)
        summary["analysis"] = analysis
        for key in self.headline:
            summary[key] = analysis[key]
        found = controls(cfg, groups)
        summary["controls"] = {k: c.to_json() for k, c in found.items()}  # the output contract's keys
        summary["measure"] = cfg.measure  # what the controls and every comparison read
        summary["verdict"] = gate(self.verdict(cfg, summary), found.values())
        if getattr(cfg, "lr_policy", "per_arm") == "transfer":
            self._transfer_summary(cfg, summary, tuning)
        return summary

    def _transfer_summary(self, cfg: Any, summary: dict[str, Any], tuning: dict[str, Any]) -> None:
        """``summary["lr_transfer"]``; each arm's tuning entry's ``lr_source``, and for a transferred
        arm its source control's ``at_grid_edge``; a verdict that says so when a sentinel's
        validation-chosen rate is not the transferred one, or when no sentinel checked it."""
        the_plan = self.transfer_plan(cfg)
        summary["lr_transfer"] = lr_transfer.transfer_summary(the_plan, tuning)
        for name, p in the_plan.items():
            if name in summary["tuning"]:
                summary["tuning"][name]["lr_source"] = p["source"]
                if not p["tuned"] and p["control"] in tuning:  # at the control's rate: at its edge, if it is
                    summary["tuning"][name]["at_grid_edge"] = tuning[p["control"]]["at_grid_edge"]
        if not lr_transfer.transfer_held(summary["lr_transfer"]):
            summary["verdict"] += " " + lr_transfer.transfer_note(summary["lr_transfer"])

    def _header(self, cfg: Any) -> str:
        grid = ", ".join(f"{lr:g}" for lr in cfg.lr_grid)
        tokens = cfg.steps * cfg.batch_size * cfg.seq_len
        how = (f"learning rate per arm from {{{grid}}} on validation loss" if cfg.lr_policy == "per_arm" else
               f"learning rate chosen from {{{grid}}} on validation loss for the control arms and the sentinels "
               f"({', '.join(lr_transfer.checking_sentinels(self.transfer_plan(cfg))) or 'none'}), transferred "
               "from a control to every other arm")
        return (f"{self.setup(cfg)}; {cfg.steps} steps of {cfg.batch_size} sequences ({tokens:,} tokens per arm); "
                f"{cfg.num_seeds} seeds; {how}. "
                f"Losses are {_loss_name(cfg)}; comparisons and controls read the {MEASURES[cfg.measure]}, "
                "intervals are 95% Student-t over seeds, p-values paired t with Holm's correction over the study.")

    def findings(self, cfg: Any, summary: dict[str, Any]) -> str:
        """The verdict, the controls, then the study's own prose."""
        edge = [n for n, t in summary["tuning"].items() if isinstance(t, dict) and t.get("at_grid_edge")]
        given = " or, for an arm trained at a transferred rate, its control's" if "lr_transfer" in summary else ""
        note = (f"\n\nThe best learning rate{given} lies at an end of the grid for: {', '.join(edge)} (their optimum "
                "may lie outside it)." if edge else "")
        if "lr_transfer" in summary:
            note += "\n\n" + lr_transfer.transfer_note(summary["lr_transfer"])
        return (f"**Verdict:** {summary['verdict']}{note}\n\n"
                f"Positive controls ({measure_name(cfg)}, paired by seed; > 0 means the "
                f"known result holds):\n{controls_text(summary)}\n\n" + self.text(cfg, summary))

    def report(self, rundir: RunDir) -> str:
        """Markdown: setup, verdict, controls, the derived numbers, the table; the figure in ``artifacts/``."""
        from routerlab.report import markdown_table, save_figure

        cfg = self._cfg(rundir)
        summary = rundir.summary
        groups, _ = by_variant(rundir)
        save_figure(figure(groups, self.order(cfg), self.title, _ylabel(cfg)), rundir.artifacts / self.name)
        names = [v[0] for v in self.all_variants(cfg)]
        return (f"## {self.title}\n\n{self._header(cfg)}\n\n" + self.findings(cfg, summary) + "\n"
                + markdown_table(table_rows(summary, names), columns(summary)) + f"\n![{self.name}]({self.name}.png)\n")

    def paper(self, rundir: RunDir, out: Path, provenance: str) -> list[Path]:
        """``tables/<name>.tex``, ``tables/<name>_findings.tex`` (the report's verdicts) and ``figures/<name>.pdf``."""
        from routerlab.report import latex_table, save_figure
        from routerlab.report.paper import write_findings

        cfg = self._cfg(rundir)
        summary = rundir.summary
        unit = "nats/byte" if cfg.causal else "masked-byte cross-entropy, nats per masked byte"
        names = [v[0] for v in self.all_variants(cfg)]
        extra = "" if cfg.measure == "test_loss" else f", {measure_name(cfg)} (nats per fact)"
        table = latex_table(table_rows(summary, names), columns(summary),
                            caption=(f"{self.title} ({cfg.num_seeds} seeds, {cfg.steps} steps, learning rate "
                                     + ("per arm chosen on validation" if cfg.lr_policy == "per_arm" else
                                        "chosen on validation for the controls and sentinels, transferred to the "
                                        "other arms")
                                     + f"): final validation and test loss ({unit}){extra} and "
                                     "routing metrics, mean $\\pm$ 95\\% t-interval half-width over seeds; "
                                     f"comparisons and controls read the {measure_name(cfg)}."),
                            label=f"tab:{self.name}")
        tex = out / "tables" / f"{self.name}.tex"
        atomic_write_text(tex, f"% {provenance}\n" + table)
        groups, _ = by_variant(rundir)
        fig = figure(groups, self.order(cfg), self.title, _ylabel(cfg))
        return [tex, write_findings(out, self.name, self.findings(cfg, summary), provenance),
                *save_figure(fig, out / "figures" / self.name, subject=provenance, png=False)]
