"""Mid-unit checkpoints of the studies' trainings (issue 17): a unit cut short after a checkpoint
resumes from it to exactly the numbers of an uninterrupted unit, falls back past a damaged
checkpoint, and a non-finite step names the seed, the step and the quantity.

The "kill" here is an exception raised right after a checkpoint is committed (orbax saves
synchronously and renames a finished step directory into place, so a process killed at that
moment leaves the same files); ``test_kill_resume.py`` kills real processes with SIGKILL.
"""

import jax
import numpy as np
import pytest

from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.studies import lm_sweep
from routerlab.studies.lm_sweep import train_seeds
from routerlab.train import NonFiniteError
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.unit_checkpoint import UnitCheckpoints

# DeepSeek routing, so the router biases (non-Param state) go through the checkpoint too. The
# config and the single seed are tests/studies/test_lm_moe.py's, so the suite compiles them once.
MOE = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, router="deepseek", renormalize=False,
                load_balance_weight=0.0, dropless_block_size=8)
CFG = LMRunConfig(
    model=LMConfig(d_model=16, n_layers=2, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=MOE),
    data=CorpusConfig(bytes_per_domain=20_000),
    train=TrainConfig(steps=12, batch_size=4, warmup_steps=2, eval_every=6, eval_batches=1, log_every=3,
                      ckpt_every=12),
    seed=1,
)
SEEDS = [1]


class Killed(BaseException):
    """Stands for SIGKILL: nothing in routerlab catches a BaseException that is not an Exception."""


def _kill_after_save(monkeypatch, at_step: int, saves: list[int]):
    """Record every save; "kill" the process once, right after step ``at_step`` is committed."""
    real = UnitCheckpoints.save
    armed = [True]

    def save(self, steps_done, *args, **kwargs):
        real(self, steps_done, *args, **kwargs)
        saves.append(steps_done)
        if steps_done == at_step and armed[0]:
            armed[0] = False
            raise Killed

    monkeypatch.setattr(UnitCheckpoints, "save", save)


def _assert_same(a, b):
    """Every array of two results equal bit for bit (``final_params`` included)."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _truncate_arrays(step_dir):
    """Damage a committed checkpoint: cut every array data file to half its size."""
    files = [p for p in step_dir.rglob("*") if p.is_file() and "d" in p.parent.name and p.stat().st_size > 16]
    assert files, sorted(str(p) for p in step_dir.rglob("*"))
    for p in files:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


@pytest.mark.slow  # 28 s: three trainings of a two-segment LM unit (the planted kill test covers the default suite)
def test_lm_unit_resumes_mid_unit_to_identical_results(tmp_path, monkeypatch, capsys):
    """Two segments of 6 steps: killed after the checkpoint at step 6, the unit resumes there
    and ends bit-identical (curves, evaluations, final parameters) to an uninterrupted one."""
    reference = train_seeds(CFG, SEEDS, keep_params=True)
    ckpt = tmp_path / "ckpt"
    saves: list[int] = []
    _kill_after_save(monkeypatch, 6, saves)
    with pytest.raises(Killed):
        train_seeds(CFG, SEEDS, keep_params=True, checkpoint_dir=ckpt)
    assert saves == [6] and sorted(p.name for p in ckpt.iterdir() if p.name.isdigit()) == ["6"]

    resumed = train_seeds(CFG, SEEDS, keep_params=True, checkpoint_dir=ckpt)
    assert saves == [6]  # the resumed call ran only the last segment (it saves after none)
    _assert_same(resumed, reference)

    # Every checkpoint damaged: the unit starts over (no record is at stake: a unit's records
    # are logged when it ends), saying so, to the same numbers.
    _truncate_arrays(ckpt / "6")
    capsys.readouterr()
    again = train_seeds(CFG, SEEDS, keep_params=True, checkpoint_dir=ckpt)
    err = capsys.readouterr().err
    assert "no readable checkpoint" in err and "restarting the unit from step 0" in err
    assert saves == [6, 6]
    _assert_same(again, reference)


def test_a_checkpoint_of_another_schedule_is_not_used(tmp_path, monkeypatch, capsys):
    """A checkpoint saved for another seed (a reused directory, say) restarts the unit from step 0."""
    ckpt = tmp_path / "ckpt"
    saves: list[int] = []
    _kill_after_save(monkeypatch, 6, saves)
    with pytest.raises(Killed):
        train_seeds(CFG, [1], checkpoint_dir=ckpt)
    capsys.readouterr()
    monkeypatch.undo()
    _kill_after_save(monkeypatch, 6, saves)
    with pytest.raises(Killed):  # seed 2: not a continuation; it starts over and saves step 6 again
        train_seeds(CFG, [2], checkpoint_dir=ckpt)
    assert saves == [6, 6] and "of another schedule" in capsys.readouterr().err


@pytest.mark.slow  # compiles a 3-segment, 2-seed config of its own
def test_lm_fallback_to_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    """Three segments: the newest checkpoint damaged, the unit falls back to the one before."""
    from dataclasses import replace

    cfg = replace(CFG, train=replace(CFG.train, eval_every=4))
    reference = train_seeds(cfg, [0, 1], keep_params=True)
    ckpt = tmp_path / "ckpt"
    saves: list[int] = []
    _kill_after_save(monkeypatch, 8, saves)
    with pytest.raises(Killed):
        train_seeds(cfg, [0, 1], keep_params=True, checkpoint_dir=ckpt)
    assert saves == [4, 8]
    _truncate_arrays(ckpt / "8")
    capsys.readouterr()
    fallback = train_seeds(cfg, [0, 1], keep_params=True, checkpoint_dir=ckpt)
    err = capsys.readouterr().err
    assert "checkpoint step 8" in err and "damaged" in err and "falling back to step 4" in err
    assert saves == [4, 8, 8]  # segment 2 ran again and re-saved step 8
    _assert_same(fallback, reference)


@pytest.mark.slow  # ~15 s of compiling; the default suite kills a planted run for real (test_kill_resume.py)
def test_planted_variant_resumes_mid_unit_to_identical_results(tmp_path, monkeypatch):
    from routerlab.studies.planted import PlantedConfig, PlantedTask, segment_steps, train_variant

    cfg = PlantedConfig(task=PlantedTask(num_clusters=4), variants=("deepseek",), num_seeds=2, steps=30,
                        batch_size=16, test_size=32, log_every=5, d_model=8, expert_d_ff=8)
    assert segment_steps(cfg) == 5  # 30 steps / 5 per log / 10 segments, rounded: 1 log interval
    reference = train_variant(cfg, "deepseek", [0, 1])
    ckpt = tmp_path / "ckpt"
    saves: list[int] = []
    _kill_after_save(monkeypatch, 15, saves)
    with pytest.raises(Killed):
        train_variant(cfg, "deepseek", [0, 1], ckpt)
    resumed = train_variant(cfg, "deepseek", [0, 1], ckpt)
    assert saves == [5, 10, 15, 20, 25]  # the resumed call started after step 15
    _assert_same(resumed, reference)
    assert reference[0].shape == (2, 30) and np.isfinite(reference[0]).all()


@pytest.mark.slow  # compiles a second config and the diagnostic replay
def test_lm_non_finite_names_seed_step_and_quantity_and_keeps_the_checkpoint(tmp_path):
    """Peak rate 1e30 after one warmup step at rate 0: step 1 is finite (and checkpointed, one
    step per segment), a later step blows up; the message names seed, step and quantity."""
    cfg = LMRunConfig(model=CFG.model, data=CFG.data,
                      train=TrainConfig(steps=6, batch_size=4, lr=1e30, warmup_steps=4, eval_every=1, eval_batches=1,
                                        log_every=6, ckpt_every=6))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(NonFiniteError) as err:
        train_seeds(cfg, SEEDS, checkpoint_dir=ckpt)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"seed {SEEDS[0]}: step {err.value.step}: ") or message.startswith(
        f"seed {SEEDS[1]}: step {err.value.step}: "), message
    quantity = message.split(": ", 2)[2]
    assert any(quantity.startswith(q) for q in ("loss is", "ce is", "aux loss is", "grad norm of ", "grad norm is",
                                                "parameter ", "variable ", "optimizer state")), message
    assert err.value.step >= 2  # step 1 runs at rate 0
    last_good = err.value.step - 1
    assert message.endswith(f"; last good checkpoint: step {last_good}")
    assert (ckpt / str(last_good)).is_dir()


@pytest.mark.slow
def test_replay_names_the_quantity_the_segment_saw():
    """The diagnostic replay (scan_with_health) is the segment's own computation: a healthy
    segment replays finite, step for step equal losses."""
    from routerlab.studies.lm_sweep import _diagnose_fn, _program_config, _segment_fn
    from routerlab.train.guard import name_nonfinite
    from routerlab.train.loop import init_state
    from dataclasses import replace

    state = lm_sweep._stack([init_state(replace(CFG, seed=s), lr_in_state=True) for s in SEEDS])
    tokens = np.zeros((len(SEEDS), 3, 4, 17), np.int32) + np.arange(17, dtype=np.int32)
    keys = jax.numpy.stack([jax.random.split(jax.random.key(s), 3) for s in SEEDS])
    program = _program_config(CFG.train)
    _, out = _segment_fn(CFG.model, program, False)(state, tokens, keys, keys)
    _, (metrics, health) = _diagnose_fn(CFG.model, program, False)(state, tokens, keys, keys)
    np.testing.assert_array_equal(np.asarray(out["loss"]), np.asarray(metrics["loss"]))
    assert name_nonfinite(jax.device_get(metrics), jax.device_get(health), SEEDS, 0) is None


@pytest.mark.slow  # ~45 s: the CLI compiles the smoke study's first arm and its replay
def test_cli_non_finite_lm_study_is_one_line_naming_the_quantity_exit_1(tmp_path, capsys):
    from routerlab.cli import main
    from routerlab.rundir import RunDir

    out = tmp_path / "runs"
    assert main(["run", "moe_vs_dense", "--scale", "smoke", "--set", "lr_grid=[1e30]", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: one progress line per arm
    # e.g. "routerlab: error: moe lr=1e+30: seed 0: step 3: grad norm of embed.embedding is nan"
    assert err.startswith("routerlab: error: ") and " lr=1e+30: seed " in err and ": step " in err, err
    quantity = err.split(": ")[-1]
    assert quantity.split(" ")[0] in ("loss", "ce", "aux", "grad", "parameter", "variable", "optimizer"), err
    (run_dir,) = (out / "moe_vs_dense").iterdir()
    assert not RunDir.open(run_dir).done and list(RunDir.open(run_dir).records()) == []


def test_name_nonfinite_picks_the_earliest_step_then_the_part_or_the_parameter():
    """Hand-made [seed, step] health of a 3-step segment after step 10, seeds 5 and 6."""
    from flax import nnx

    from routerlab.train.guard import name_nonfinite

    def state(embed, w_in):
        return nnx.State({"embed": {"embedding": nnx.Param(np.asarray(embed))},
                          "layers": {0: {"ffn": {"w_in": nnx.Param(np.asarray(w_in))}}}})

    ones = np.ones((2, 3), np.float32)
    ok = np.array([[True, True, False], [True, False, False]])  # seed 6 goes bad first, at offset 1 = step 12
    grads_w_in = ones.copy()
    grads_w_in[1, 1] = np.inf
    health = {"ok": ok, "grad_norms": state(ones, grads_w_in), "params_finite": state(ok | True, ok | True),
              "rest_finite": nnx.State({})}
    metrics = {"loss": ones, "ce": ones, "aux_loss": 0 * ones, "grad_norm": np.where(ok, 1.0, np.inf)}
    assert name_nonfinite(metrics, health, [5, 6], 10) == ("seed 6: step 12: grad norm of layers.0.ffn.w_in is inf", 12)
    # A non-finite loss is named by its part; rename and label relabel it for a regression.
    metrics["loss"] = np.where(ok, 1.0, np.nan)
    metrics["ce"] = np.where(ok, 1.0, np.nan)
    assert name_nonfinite(metrics, health, [5, 6], 10, rename={"ce": "train mse"}, label="top2/seed{}".format) == (
        "top2/seed6: step 12: train mse is nan", 12)
    assert name_nonfinite(metrics, {**health, "ok": ok | True}, [5, 6], 10) is None
