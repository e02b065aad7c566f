"""LM routing studies: the batched trainer against the single-model path, and moe_vs_dense at smoke
scale end to end (controls, verdict, dense frontier, resume, paper hook)."""


import jax
import numpy as np
import pytest

from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.registry import execute, load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm_sweep import eval_points, train_seeds
from routerlab.train import train
from routerlab.train.config import LMRunConfig, TrainConfig


def test_batched_trainer_equals_single_model_train(tmp_path):
    """Seed 1 trained by the vmapped sweep gives the loss curve of routerlab.train.train for seed 1
    (DeepSeek router, so the non-Param router bias path is exercised too)."""
    moe = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, router="deepseek", renormalize=False,
                    load_balance_weight=0.0, dropless_block_size=8)
    cfg = LMRunConfig(
        model=LMConfig(d_model=16, n_layers=2, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=moe),
        data=CorpusConfig(bytes_per_domain=20_000),
        train=TrainConfig(steps=12, batch_size=4, warmup_steps=2, eval_every=6, eval_batches=1, log_every=3,
                          ckpt_every=12),
        seed=1,
    )
    sweep = train_seeds(cfg, [1], keep_params=True)
    run = RunDir.create(tmp_path, "single", cfg)
    train(cfg, run)
    records = list(run.records())
    train_rec = {r["step"]: r["loss"] for r in records if r["split"] == "train"}
    val_rec = {r["step"]: r["loss"] for r in records if r["split"] == "val"}
    test_rec = [r["loss"] for r in records if r["split"] == "test"]
    assert sorted(val_rec) == list(sweep["eval_steps"]) == [6, 12]
    np.testing.assert_allclose([train_rec[s] for s in (3, 6, 9, 12)], sweep["train_loss"][0, [2, 5, 8, 11]], rtol=1e-5)
    np.testing.assert_allclose([val_rec[s] for s in (6, 12)], sweep["val_loss"][0], rtol=1e-5)
    np.testing.assert_allclose(test_rec, sweep["test"]["loss"], rtol=1e-5)
    assert sweep["val"]["routing"]["0"]["load"].shape == (1, 4)
    # Routing on mixed batches and the per-domain (domain-pure) readout agree between the paths.
    last_val = [r for r in records if r["split"] == "val"][-1]
    for layer in ("0", "1"):
        np.testing.assert_allclose(sweep["val"]["routing"][layer]["load"][0], last_val["routing"][layer]["load"],
                                   rtol=1e-5, atol=1e-7)
        for d, by_layer in last_val["routing_by_domain"].items():
            np.testing.assert_allclose(sweep["val"]["routing_by_domain"][d][layer]["load"][0], by_layer[layer]["load"],
                                       rtol=1e-5, atol=1e-7)
    # keep_params hands back the trained parameters with the seed axis in front
    leaves = jax.tree.leaves(sweep["final_params"])
    assert leaves and all(leaf.shape[0] == 1 and np.isfinite(leaf).all() for leaf in leaves)
    # ... and the rest of the state: the DeepSeek router biases moved away from their initial values
    # (the knowledge readout of a loss-free balanced MoE reads with them).
    from routerlab.train.loop import init_state

    trained, initial = jax.tree.leaves(sweep["final_rest"]), jax.tree.leaves(init_state(cfg).rest)
    assert len(trained) == len(initial) and all(t.shape == (1, *np.shape(i)) for t, i in zip(trained, initial))
    assert any(not np.allclose(t[0], i) for t, i in zip(trained, initial))

    # Another rate of a grid runs the same compiled program (the rate is optimiser state:
    # tests/train/test_engine.py checks it trains as a program compiled at that rate).
    from dataclasses import replace

    from routerlab.studies.lm_sweep import _segment_fn

    from routerlab.studies.lm_sweep import _program_config

    built = _segment_fn.cache_info().misses
    program = _segment_fn(cfg.model, _program_config(cfg.train), cfg.train.router_noise, None, "vmap")
    compiled = program._cache_size()  # XLA executables of that jitted function
    faster = train_seeds(replace(cfg, train=replace(cfg.train, lr=1e-2)), [1])
    assert _segment_fn.cache_info().misses == built and program._cache_size() == compiled
    assert not np.allclose(faster["train_loss"][0, -1], sweep["train_loss"][0, -1])


@pytest.mark.slow
def test_batched_trainer_equals_single_model_train_masked_encoder(tmp_path):
    """The same agreement for a bidirectional encoder on masked bytes: both paths draw the
    ("mask", step) training masks and the fixed evaluation masks alike. (Dense, to keep the
    compile short; the encoder's MoE routers run in the encoder_routers smoke test.)"""
    cfg = LMRunConfig(
        model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, causal=False),
        data=CorpusConfig(bytes_per_domain=20_000),
        train=TrainConfig(steps=6, batch_size=4, warmup_steps=1, eval_every=6, eval_batches=1, log_every=3,
                          ckpt_every=6, objective="masked"),
        seed=2,
    )
    sweep = train_seeds(cfg, [2])
    run = RunDir.create(tmp_path, "single", cfg)
    train(cfg, run)
    records = list(run.records())
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "train"], sweep["train_loss"][0, [2, 5]],
                               rtol=1e-5)
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "val"], sweep["val_loss"][0], rtol=1e-5)
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "test"], sweep["test"]["loss"], rtol=1e-5)


def test_eval_points():
    assert eval_points(TrainConfig(steps=10, eval_every=4, warmup_steps=0)) == [4, 8, 10]
    assert eval_points(TrainConfig(steps=8, eval_every=4, warmup_steps=0)) == [4, 8]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    exp = load_experiment("moe_vs_dense")
    out = tmp_path_factory.mktemp("runs")
    return exp, execute(exp, exp.config("smoke"), out, scale="smoke")


@pytest.mark.slow  # default-suite budget (2026-12-01): covered at smoke by a notebook or a faster test
def test_moe_vs_dense_smoke_end_to_end(smoke_run, check_paper_hook):
    exp, run = smoke_run
    records = list(run.records())
    cfg = exp.config("smoke")
    # Arms: moe, dense x1, dense x4, and the three control arms (the same configs: reused, not
    # retrained), one rate at smoke, so 6 x num_seeds records.
    assert len(records) == 6 * cfg.num_seeds and len(cfg.lr_grid) == 1
    assert all(np.isfinite(r["final_val_loss"]) for r in records)
    by_name = {r["variant"]: r for r in records}
    assert by_name["control:dense"]["cache_key"] == by_name["dense(ffn x1)"]["cache_key"]
    assert by_name["control:dense"]["test_loss"] == by_name["dense(ffn x1)"]["test_loss"]
    summary = run.summary
    assert set(summary["controls"]) == {"capacity", "switch_vs_dense"}
    for control in summary["controls"].values():
        assert set(control) == {"delta", "ci", "resolved", "n"} and len(control["ci"]) == 2
    if not all(c["resolved"] for c in summary["controls"].values()):
        assert summary["verdict"].startswith("underpowered: ")
    ratio = summary["analysis"]["dense_equivalent_ratio"]
    assert {"mean", "ci"} <= set(ratio) and len(ratio["per_seed"]) == cfg.num_seeds
    assert {"mean", "ci"} <= set(summary["analysis"]["step_speedup"])
    # the output contract: both also at the top of summary.json, where scripts read them
    assert summary["dense_equivalent_ratio"] == ratio and summary["step_speedup"] == summary["analysis"]["step_speedup"]
    assert summary["tuning"]["moe"]["lr"] == cfg.lr_grid[0]
    assert 0 <= summary["analysis"]["moe_minus_dense_loss"]["p_holm"] <= 1
    report = (run.artifacts / "report.md").read_text()
    assert "Dense-equivalent ratio" in report and "| moe |" in report and "**Verdict:**" in report
    assert (run.artifacts / "moe_vs_dense.pdf").is_file()
    written = check_paper_hook("moe_vs_dense", run)  # every LM study shares this paper hook
    assert set(written) == {"moe_vs_dense.tex", "moe_vs_dense_findings.tex", "moe_vs_dense.pdf"}
    assert "Dense-equivalent ratio" in written["moe_vs_dense_findings.tex"].read_text()


def test_moe_vs_dense_resumes_to_identical_metrics(smoke_run):
    exp, run = smoke_run
    metrics = run.metrics_path.read_bytes()
    lines = metrics.decode().splitlines(keepends=True)
    # Drop the last arm's records (a kill before it finished) and rerun the study in place.
    run.metrics_path.write_text("".join(lines[:-exp.config("smoke").num_seeds]))
    exp.run(exp.config("smoke"), run)
    assert run.metrics_path.read_bytes() == metrics


@pytest.mark.slow
@pytest.mark.parametrize("name", ["expert_count", "balancing", "capacity", "granularity", "routers", "scaling_fit",
                                  "encoder_routers"])
def test_other_studies_smoke(name, tmp_path, check_paper_hook):
    exp = load_experiment(name)
    run = execute(exp, exp.config("smoke"), tmp_path, scale="smoke")
    assert run.done and all(np.isfinite(r["final_val_loss"]) for r in run.records())
    assert f"![{name}]" in (run.artifacts / "report.md").read_text()
    assert f"{name}_findings.tex" in check_paper_hook(name, run)


