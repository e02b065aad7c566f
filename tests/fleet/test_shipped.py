"""The shipped quick-fleet log: it loads, matches its manifest, refuses a tampered copy, and
fleet_routing routes over it without training a fleet; the batched one-pass bandit agrees
with the one-call-per-split reference."""

import json
import shutil

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.data.schema import to_matrices
from routerlab.fleet.protocol import lambda_grid, one_pass_bandit, one_pass_bandits
from routerlab.fleet.routers import Split
from routerlab.fleet.shipped import SHIPPED_ROOT, load_shipped, sha256_file, shipped_dir


def test_shipped_log_loads_and_matches_its_manifest():
    fleet = load_shipped("quick")
    m = fleet.manifest
    folder = shipped_dir("quick")
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 1_000_000  # small enough to ship in the package
    assert set(m["files"]) == {f"log_seed{s}.parquet" for s in fleet.seeds} and fleet.seeds == list(range(8))
    for file, meta in m["files"].items():  # the recorded sha256 is the file's
        assert sha256_file(folder / file) == meta["sha256"] and (folder / file).stat().st_size == meta["bytes"]
    assert "routerlab run fleet_routing --scale quick" in m["made"]["command"] and m["made"]["git"]
    assert m["size_control"]["verdict_word"] == "underpowered" and not m["size_control"]["resolved"]
    usd, flops = (to_matrices(fleet.log(0, u)) for u in ("usd", "flops"))
    assert set(usd.models) == {x["name"] for x in fleet.models} and len(usd.models) == 8
    assert list(usd.query_ids) == list(flops.query_ids) and np.array_equal(usd.quality, flops.quality)
    assert set(np.unique(usd.quality)) <= {0.0, 1.0}
    # the price list, per call: price per 1k tokens x (prompt + answer tokens) / 1000; e.g. gen-l
    # ($0.03) on "6*5%4=" (7 tokens in, 2 out) costs 0.03 * 9 / 1000 = 0.00027
    frame = fleet.log(0, "usd").to_pandas()
    price = frame["model"].map({x["name"]: x["price_per_1k"] for x in fleet.models})
    np.testing.assert_allclose(frame["cost"], price * (frame["tokens_in"] + frame["tokens_out"]) / 1000, rtol=1e-12)
    first = frame[(frame["model"] == "gen-l") & (frame["prompt"] == "6*5%4=")].iloc[0]
    assert (first["tokens_in"], first["tokens_out"], first["cost"]) == (7, 2, pytest.approx(0.00027))
    assert set(fleet.latency["per_forward"]) == set(usd.models)
    assert 0 < fleet.chance(0)["majority"] < 1 and fleet.chance(0)["ceiling"] == 1.0


def test_a_tampered_or_missing_file_is_refused(tmp_path):
    copy = tmp_path / "quick_fleet"
    shutil.copytree(SHIPPED_ROOT / "quick_fleet", copy)
    load_shipped(folder=copy)  # an untouched copy loads
    data = bytearray((copy / "log_seed1.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "log_seed1.parquet").write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"fleet_log: shipped log quick_fleet: log_seed1.parquet fails its checksum"):
        load_shipped(folder=copy)
    (copy / "log_seed1.parquet").unlink()
    with pytest.raises(ConfigError, match="log_seed1.parquet is missing"):
        load_shipped(folder=copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "files": {}}))  # a manifest must list files
    with pytest.raises(ConfigError, match="lists no files"):
        load_shipped(folder=copy)
    with pytest.raises(ConfigError, match="unknown shipped log"):
        load_shipped("paper")


def _split(rng, n, costs):
    quality = (rng.random((n, len(costs))) < np.linspace(0.3, 0.8, len(costs))).astype(np.float64)
    return Split(rng.normal(size=(n, 3)).astype(np.float32), np.array(["t"] * n, dtype=object), quality,
                 np.tile(costs, (n, 1)) * rng.uniform(0.5, 1.5, size=(n, 1)), ("a", "b", "c"))


@pytest.mark.slow
def test_batched_one_pass_matches_one_call_per_split():
    # Two cost models of the same queries (prices differ by 1000x), validation and test of
    # different lengths (padding), two orders: one compiled call must give what one_pass_bandit
    # gives split by split (up to float32 rounding of lam * cost).
    rng = np.random.default_rng(0)
    base = [_split(rng, n, np.array([1.0, 2.0, 8.0])) for n in (30, 17, 23)]
    scaled = [Split(s.x, s.tasks, s.quality, s.cost * 1000.0, s.models) for s in base]
    splits = {"price": tuple(base), "flops": tuple(scaled)}
    fast = one_pass_bandits(splits, 2, target=0.9, points=4, orders=2, seed=3)
    for unit, (train, val, test) in splits.items():
        ref = one_pass_bandit(train, val, test, 2, target=0.9, lams=lambda_grid(train, 4), orders=2, seed=3)
        assert fast[unit]["lam"] == pytest.approx(ref["lam"])
        assert fast[unit]["quality"] == pytest.approx(ref["quality"]) and fast[unit]["miss_rate"] == ref["miss_rate"]
        np.testing.assert_allclose(fast[unit]["curve"]["cost"], ref["curve"]["cost"], rtol=1e-5)
        np.testing.assert_allclose(fast[unit]["curve"]["quality"], ref["curve"]["quality"], rtol=1e-6)


def test_the_demo_routes_the_shipped_log_at_quick_scale():
    from routerlab.cli import DEMO
    from routerlab.registry import load_experiment

    assert [entry for entry in DEMO if "fleet" in entry[0]] == [("fleet_routing_shipped", "quick")]
    cfg = load_experiment("fleet_routing_shipped").config("quick")
    assert cfg.fleet_log == "shipped:quick" and cfg.n_boot >= 200 and cfg.steps >= 300
    with pytest.raises(ConfigError, match="fleet_log: must be '' .* or one of shipped:quick"):
        load_experiment("fleet_routing_shipped").config("quick", ["fleet_log=shipped:paper"])


@pytest.mark.slow
def test_routing_the_shipped_log_trains_no_fleet(tmp_path):
    from routerlab.registry import execute, load_experiment
    from routerlab.studies.fleet_routing import ONE_PASS, PLUMBING_SHIPPED

    exp = load_experiment("fleet_routing_shipped")
    run = execute(exp, exp.config("smoke"), tmp_path, scale="smoke")
    assert not (tmp_path / "_fleets").exists()  # nothing trained, nothing cached
    s = run.summary
    assert s["fleet"] == "shipped:quick" and s["seeds"] == list(range(8)) and s["reference"] == ["gen-l"]
    assert s["shipped"]["size_control"]["verdict_word"] == "underpowered"
    for name in ("task_classifier", "mf", ONE_PASS):
        assert set(s["routers"][name]["realised"]) == {"cost", "quality", "miss_rate"}
        assert set(s["routers"][name]["cost_models"]) == {"price", "flops", "latency"}
    assert "delta_aiq" in s["routers"]["mf"]
    text = (run.artifacts / "report.md").read_text()
    assert text.startswith(PLUMBING_SHIPPED)
    assert "size control is **underpowered**" in text and "Beat the zero router" in text
