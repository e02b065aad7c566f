"""Planted experts: task, matched compute, routing readout, and the run end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.cli import main
from routerlab.moe import ExpertChoiceRouting, Routing, SoftRouting
from routerlab.rundir import RunDir, find_runs
from routerlab.studies.planted import VARIANTS, PlantedConfig, PlantedTask, ffn_size, main_expert, make_teacher, sample_task


def test_task_is_a_planted_mixture():
    task = PlantedTask(num_clusters=3, input_dim=4, separation=10.0, spread=0.1)
    x, y, cluster = sample_task(task, make_teacher(task), jax.random.key(0), 600)
    assert x.shape == (600, 4) and y.shape == (600, task.output_dim) and cluster.shape == (600,)
    centres = make_teacher(task)["centres"]
    nearest = jnp.argmin(jnp.linalg.norm(x[:, None, :] - centres[None], axis=-1), axis=-1)
    assert jnp.all(nearest == cluster)  # well separated: the partition is recoverable from x
    x2, y2, _ = sample_task(task, make_teacher(task), jax.random.key(0), 600)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_variants_match_active_compute():
    cfg = PlantedConfig()
    dense = ffn_size(cfg, "dense")["active_flops_per_token"]
    # Dense FFN: 2 matmuls x 2 FLOPs per multiply-add x d x f = 4 * 32 * 32 = 4096.
    assert dense == 4 * cfg.d_model * cfg.expert_d_ff
    for variant in set(VARIANTS) - {"dense", "soft"}:
        flops = ffn_size(cfg, variant)["active_flops_per_token"]
        # Token-choice and expert-choice variants add only the router: 2 * d * E FLOPs,
        # at most 2 * 32 * 16 = 1024 for the fine-grained (2K = 16 expert) variants.
        assert dense <= flops <= dense + 1024, (variant, flops)
    # Soft MoE with S = batch = 256 slots: its FFN runs on 256 slot rows per 256 tokens (4096
    # per token, matched), but the router (2*d*S = 16384) and the dispatch and combine
    # mixing (2 * 2*S*d = 32768) dominate at this tiny width: 4096 + 16384 + 32768 = 53248.
    assert ffn_size(cfg, "soft")["active_flops_per_token"] == 53248


def test_main_expert_reads_every_routing_kind():
    probs = jnp.full((4, 2), 0.5)
    tc = Routing(expert_index=jnp.array([[1, 0], [0, 1], [1, 0], [0, 1]]), gates=jnp.ones((4, 2)), logits=None, probs=probs)
    np.testing.assert_array_equal(main_expert(tc, 2), [1, 0, 1, 0])
    # Expert 0 took tokens 0 and 2 (gates .9, .4), expert 1 took 2 and 3 (gates .6, .7):
    # token 2 goes to expert 1 (0.6 > 0.4); token 1 was taken by nobody -> label E = 2.
    ec = ExpertChoiceRouting(token_index=jnp.array([[0, 2], [2, 3]]), gates=jnp.array([[0.9, 0.4], [0.6, 0.7]]),
                             logits=probs, probs=probs)
    np.testing.assert_array_equal(main_expert(ec, 2), [0, 2, 1, 1])
    # Two experts with two slots each; token 0 puts 0.7 on expert 1's slots, token 1 0.8 on expert 0's.
    combine = jnp.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.3, 0.1, 0.1]])
    soft = SoftRouting(dispatch=combine, combine=combine, logits=combine)
    np.testing.assert_array_equal(main_expert(soft, 2), [1, 0])


SMOKE = ["--scale", "smoke", "--set", "variants=[\"dense\",\"switch\",\"hash\"]", "--set", "steps=40"]


def test_run_is_deterministic_resumable_and_reported(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "planted_experts", *SMOKE, "--out", str(out)]) == 0
    assert main(["run", "planted_experts", *SMOKE, "--out", str(out)]) == 0
    first, second = find_runs(out, "planted_experts")
    metrics = first.metrics_path.read_bytes()
    assert metrics == second.metrics_path.read_bytes()  # same config and seed: byte-identical
    records = list(first.records())
    assert len(records) == 3 * 3  # 3 variants x 3 seeds
    assert all(np.isfinite(r["test_nmse"]) for r in records)
    assert {r["ami"] is None for r in records if r["variant"] == "dense"} == {True}
    summary = first.summary["variants"]
    assert set(summary) == {"dense", "switch", "hash"} and summary["switch"]["seeds"] == 3
    report = (first.artifacts / "report.md").read_text()
    assert "| switch |" in report and (first.artifacts / "planted_experts.pdf").is_file()

    # Kill simulation: no DONE, the last variant missing, a torn line at the end.
    (second.path / "DONE").unlink()
    lines = metrics.decode().splitlines(keepends=True)
    second.metrics_path.write_text("".join(lines[:4]) + lines[4][:25])
    assert main(["run", "--resume", str(second.path)]) == 0
    assert RunDir.open(second.path).done
    assert second.metrics_path.read_bytes() == metrics


def test_report_command_rewrites_report(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "planted_experts", *SMOKE[:2], "--set", "variants=[\"switch\"]", "--set", "steps=20",
                 "--out", str(out)]) == 0
    (run,) = find_runs(out)
    (run.artifacts / "report.md").unlink()
    assert main(["report", str(run.path)]) == 0
    assert (run.artifacts / "report.md").read_text().startswith("Planted experts")
    (run.path / "DONE").unlink()
    assert main(["report", str(run.path)]) == 1
    assert "incomplete run" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["batch_size=60", "test_size=100", "expert_d_ff=15"])
def test_config_rejects_inconsistent_sizes(bad, tmp_path):
    assert main(["run", "planted_experts", "--set", bad, "--out", str(tmp_path)]) == 2
