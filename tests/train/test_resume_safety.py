"""Resume never loses records silently (issue 17, item 3): a gap in metrics.jsonl is refused,
a damaged checkpoint falls back to the previous one, a garbage line is one error naming it."""

import shutil

import pytest

from routerlab.models import CorpusConfig, LMConfig
from routerlab.rundir import RunDir, RunDirInvalid
from routerlab.train import Checkpoints, LMRunConfig, TrainConfig, train
from routerlab.train.checkpoint import expected_records

# Dense, one block: the cheapest model the loop trains (compiling dominates).
CFG = LMRunConfig(
    model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32),
    data=CorpusConfig(bytes_per_domain=20_000),
    train=TrainConfig(steps=12, batch_size=4, lr=3e-3, warmup_steps=2, log_every=2, eval_every=6,
                      eval_batches=1, ckpt_every=4, ckpt_keep=3),
    seed=1,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = RunDir.create(tmp_path_factory.mktemp("runs"), "ref", CFG)
    train(CFG, run)
    return run


def _interrupted_copy(reference, tmp_path, *, after: int) -> RunDir:
    """A copy of the reference run as a kill right after checkpoint ``after`` would leave it."""
    path = tmp_path / "run"
    shutil.copytree(reference.path, path)
    run = RunDir(path)
    with Checkpoints(path / "ckpt", keep=3) as ckpts:
        for step in ckpts.steps():
            if step > after:
                shutil.rmtree(path / "ckpt" / str(step))
    return run


def test_expected_records_follow_the_loop_schedule(reference):
    # steps=12, log_every=2, eval_every=6: train at 2,4,...,12; val at 6 and 12; test at 12.
    assert expected_records(5, steps=12, log_every=2, eval_every=6) == {("train", 2), ("train", 4)}
    assert expected_records(12, steps=12, log_every=5, eval_every=6) == {
        ("train", 5), ("train", 10), ("train", 12), ("val", 6), ("val", 12), ("test", 12)}
    records = {(r["split"], r["step"]) for r in reference.records()}
    assert records == expected_records(12, **dict(steps=12, log_every=2, eval_every=6))


def test_records_missing_before_the_checkpoint_are_refused(reference, tmp_path):
    run = _interrupted_copy(reference, tmp_path, after=8)
    lines = run.metrics_path.read_text().splitlines(keepends=True)
    # Cut the file back to its first two records (train 2, train 4): train 6, val 6 and
    # train 8 that checkpoint 8 had written are gone.
    run.metrics_path.write_text("".join(lines[:2]))
    before = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    with pytest.raises(RunDirInvalid, match=r"3 records of the run up to its checkpoint step 8 are missing "
                                            r"\(train steps 6, 8; val steps 6\)") as err:
        train(CFG, run, resume=True)
    assert "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()} == before  # nothing changed


# orbax leaves an asyncio callback behind when a restore fails; it is harmless noise here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(reference, tmp_path, capsys):
    run = _interrupted_copy(reference, tmp_path, after=8)
    # Truncate every array file of checkpoint 8 to half its size.
    data_files = [p for p in (run.path / "ckpt" / "8").rglob("*") if p.is_file() and p.stat().st_size > 64
                  and "d" in p.parent.name]
    assert data_files
    for p in data_files:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    summary = train(CFG, run, resume=True)
    err = capsys.readouterr().err
    assert summary["resumed_from"] == 4
    assert "checkpoint step 8" in err and "is damaged" in err and "falling back to step 4" in err
    assert run.metrics_path.read_bytes() == reference.metrics_path.read_bytes()


def test_a_garbage_line_names_the_file_and_line(reference, tmp_path):
    run = _interrupted_copy(reference, tmp_path, after=8)
    lines = run.metrics_path.read_text().splitlines(keepends=True)
    lines[2] = '{"step": 6, "loss": garbage}\n'
    run.metrics_path.write_text("".join(lines))
    with pytest.raises(RunDirInvalid, match=rf"^{run.metrics_path}:3: not a JSON record") as err:
        train(CFG, run, resume=True)
    assert "\n" not in str(err.value)
