"""The fleet: training lowers the answer loss, batched greedy decoding agrees with a one-query
reference, the routing log is complete and priced right, controls are scored but not routed,
fleets are cached, and the three fleet studies run end to end on one tiny fleet."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.data.schema import to_matrices, validate_log
from routerlab.fleet import fleet as fleet_mod
from routerlab.config import ConfigError, from_dict, to_dict
from routerlab.fleet.fleet import (
    ControlSpec,
    FleetConfig,
    ModelSpec,
    answer_nll,
    decode,
    ensure_fleet,
    lm_config,
    scaled_fleet,
    train_group,
)
from routerlab.fleet.tasks import EOS, FAMILIES, TaskConfig, decode_answer, encode, generate, make_suite
from routerlab.models.lm import LM
from routerlab.rundir import RunDir
from routerlab.train.step import split_model

SEQ = 24


def _reference_greedy(forward, prompt: str, max_new: int) -> list[int]:
    """One query at a time, growing the sequence (no padding, no batching)."""
    ids = encode(prompt)
    out = []
    for _ in range(max_new):
        logits = forward(jnp.asarray([ids]))
        nxt = int(jnp.argmax(logits[0, -1]))
        ids.append(nxt)
        out.append(nxt)
    return out


def test_batched_decode_matches_reference_and_scores_exact_match():
    cfg = lm_config(ModelSpec("t", 16, 1, 2, 32), SEQ)
    model = LM(cfg, rngs=nnx.Rngs(params=jax.random.key(3)))
    graphdef, params, rest = split_model(model)
    forward = jax.jit(lambda ids: nnx.merge(graphdef, params, rest)(ids)[0])
    pairs = generate("math", 5, TaskConfig(), 0) + generate("logic", 4, TaskConfig(), 0)
    max_new = max(len(a) for _, a in pairs) + 1
    ref = [_reference_greedy(forward, p, max_new) for p, _ in pairs]
    # answers the model itself produces (when it stops with EOS) must score as exact matches
    own = [(p, decode_answer(r)) for (p, _), r in zip(pairs, ref)]
    own = [(p, a) for (p, a), r in zip(own, ref) if a and EOS in r and len(a) < max_new]
    stacked = jax.tree.map(lambda x: x[None], (params, rest))
    correct, tin, tout = decode(graphdef, *stacked, pairs, SEQ, chunk=5)
    for i, (p, a) in enumerate(pairs):
        target = encode(p, a)[len(p) + 1 :]  # answer ids + EOS
        assert bool(correct[0, i]) == (ref[i][: len(target)] == target)
        assert tout[0, i] == (ref[i].index(EOS) + 1 if EOS in ref[i] else max_new)
        assert tin[i] == len(p) + 1
    if own:
        ok, _, _ = decode(graphdef, *stacked, own, SEQ)
        assert ok.all()
    wrong = [(p, a + "9") for p, a in own]
    if wrong:
        ok, _, _ = decode(graphdef, *stacked, wrong, SEQ)
        assert not ok.any()


def test_batched_answer_nll_matches_a_one_query_reference():
    """answer_nll's padded, chunked, model-stacked NLL against the obvious computation: one query
    at a time, unpadded, -sum of log_softmax at the answer's and EOS's positions."""
    cfg = lm_config(ModelSpec("t", 16, 1, 2, 32), SEQ)
    models = [split_model(LM(cfg, rngs=nnx.Rngs(params=jax.random.key(k)))) for k in (3, 4)]
    graphdef = models[0][0]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[(p, r) for _, p, r in models])
    pairs = generate("math", 5, TaskConfig(), 0) + generate("logic", 4, TaskConfig(), 0)
    got = answer_nll(graphdef, *stacked, pairs, SEQ, chunk=4)
    assert got.shape == (2, len(pairs))
    for m, (_, params, rest) in enumerate(models):
        forward = jax.jit(lambda ids, params=params, rest=rest: nnx.merge(graphdef, params, rest)(ids)[0])
        for i, (p, a) in enumerate(pairs):
            ids = encode(p, a)  # BOS prompt answer EOS
            logp = jax.nn.log_softmax(forward(jnp.asarray([ids[:-1]]))[0], axis=-1)
            first = len(p) + 1  # index in ids of the answer's first token
            want = -sum(float(logp[t - 1, ids[t]]) for t in range(first, len(ids)))
            assert got[m, i] == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert np.all(got > 0)


def test_training_lowers_the_answer_loss():
    suite = make_suite(TaskConfig(), ("logic",), train_size=300, eval_size=10, seed=0)
    pools = fleet_mod._pools(suite, ("logic",))
    cfg = lm_config(ModelSpec("t", 16, 1, 2, 32), SEQ)
    tc = replace(scaled_fleet("smoke"), steps=60, batch_size=32, lr=1e-2).train_config
    keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    _, _, _, losses = train_group(cfg, tc, np.ones((2, 1)), keys, keys, pools)
    assert losses.shape == (2, 60)
    assert np.all(losses[:, -10:].mean(axis=1) < 0.6 * losses[:, :5].mean(axis=1))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = scaled_fleet("smoke")
    root = tmp_path_factory.mktemp("runs")
    return cfg, root, ensure_fleet(cfg, root, progress=False)


def test_routing_log_is_complete_and_priced(tiny):
    cfg, root, fleet = tiny
    names = [m["name"] for m in fleet.models]
    assert names == [f"spec-{f}" for f in FAMILIES] + [g.name for g in cfg.generalists]
    price = {m["name"]: m["price_per_1k"] for m in fleet.models}
    assert price["gen-l"] == 0.03 and price["gen-s"] == 0.0003 and price["spec-math"] == 0.0003
    usd, flops = fleet.log(0, "usd"), fleet.log(0, "flops")
    validate_log(usd)
    m = to_matrices(usd)
    assert m.quality.shape == (len(set(usd["query_id"])), len(names))
    assert set(m.splits) == {"train", "val", "test"}
    frame, fframe = usd.to_pandas(), flops.to_pandas()
    tokens = frame["tokens_in"] + frame["tokens_out"]
    np.testing.assert_allclose(frame["cost"], tokens / 1000 * frame["model"].map(price))
    fpt = {m_["name"]: m_["flops_per_token"] for m_ in fleet.models}
    np.testing.assert_allclose(fframe["cost"], tokens * fframe["model"].map(fpt) / 1e9)
    assert fleet.models[-1]["params"] >= 3 * fleet.models[0]["params"]
    acc = fleet.meta["seeds"]["0"]["accuracy"]
    nll = fleet.meta["seeds"]["0"]["answer_nll"]
    assert set(nll) >= set(names) and all(v > 0 for n in names for s in nll[n].values() for v in s.values())
    for name in names:  # accuracies in fleet.json agree with the log
        for f in FAMILIES:
            rows = (frame["model"] == name) & (frame["task"] == f) & frame["query_id"].str.contains("/test/")
            assert acc[name]["test"][f] == pytest.approx(frame.loc[rows, "quality"].mean())


def test_controls_are_scored_but_not_routed(tiny):
    cfg, _, fleet = tiny
    assert cfg.controls  # the smoke fleet carries the quick fleet's kinds of control
    names = [c["name"] for c in fleet.meta["controls"]]
    assert names == [c.name for c in cfg.controls]
    assert not set(names) & set(fleet.log(0, "usd")["model"])
    acc = fleet.meta["seeds"]["0"]["accuracy"]
    for c in fleet.meta["controls"]:
        assert set(acc[c["name"]]["test"]) == set(FAMILIES) and c["role"] == "control"
    by_name = {c.name: c for c in cfg.controls}
    # a control shares its architecture's parameter count with the fleet model of that architecture
    spec_params = next(m["params"] for m in fleet.models if m["name"] == "spec-knowledge")
    assert next(c["params"] for c in fleet.meta["controls"] if by_name[c["name"]].arch == cfg.specialist) == spec_params


def test_control_specs_are_validated():
    spec = ModelSpec("spec")
    with pytest.raises(ConfigError, match="family"):
        ControlSpec("ctl", spec, "poetry")
    with pytest.raises(ConfigError, match="controls"):
        replace(scaled_fleet("smoke"), controls=(ControlSpec("gen-l", spec, None),))
    with pytest.raises(ConfigError, match="controls"):
        replace(scaled_fleet("smoke"), controls=(ControlSpec("c", spec), ControlSpec("c", spec, "math")))
    for scale in ("smoke", "quick", "paper"):  # a same-size generalist and a larger knowledge-only model
        f = scaled_fleet(scale)
        assert {(c.arch == f.specialist, c.family) for c in f.controls} == {(True, None), (False, "knowledge")}
        assert from_dict(FleetConfig, to_dict(f)) == f  # controls survive config.json and --set overrides


def test_fleet_is_cached(tiny, monkeypatch):
    cfg, root, fleet = tiny

    def boom(*a, **k):
        raise AssertionError("rebuilt a cached fleet")

    monkeypatch.setattr(fleet_mod, "build_fleet", boom)
    assert ensure_fleet(cfg, root).path == fleet.path
    with pytest.raises(AssertionError, match="rebuilt"):
        ensure_fleet(replace(cfg, steps=cfg.steps + 1), root)


def test_a_changed_training_code_salt_is_not_served_the_cached_fleet(tiny, monkeypatch):
    cfg, root, fleet = tiny
    assert fleet.path.name == fleet_mod.fleet_key(cfg)  # the config hash, salted with today's FLEET_KEY_SALT
    monkeypatch.setattr(fleet_mod, "FLEET_KEY_SALT", "engine-v2")
    assert fleet_mod.fleet_key(cfg) != fleet.path.name

    def boom(*a, **k):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(fleet_mod, "build_fleet", boom)
    with pytest.raises(AssertionError, match="rebuilt"):
        ensure_fleet(cfg, root)


@pytest.mark.slow
def test_fleet_studies_end_to_end(tiny, check_paper_hook):
    from routerlab.registry import load_experiment

    cfg, root, fleet = tiny
    runs = {}
    for name in ("specialists_vs_generalists", "fleet_routing", "lambda_sweep"):
        exp = load_experiment(name)
        run_cfg = exp.config("smoke")
        assert run_cfg.fleet == cfg
        run = runs[name] = RunDir.create(root, name, run_cfg, scale="smoke")
        summary = exp.run(run_cfg, run)
        run.write_json("summary.json", summary)
        text = exp.report(run)
        assert "|" in text and any(run.artifacts.glob("*.png"))
        run.finish()
        assert f"{name}_findings.tex" in check_paper_hook(name, run)
        if name == "fleet_routing":
            from routerlab.studies.fleet_routing import ONE_PASS, PLUMBING_FLEET, REPLAY

            routers = summary["routers"]
            assert {"task_classifier", "oracle", REPLAY, ONE_PASS, "single:gen-l"} <= set(routers)
            # output contract: realised point under the price list, and all three cost models, per router
            for name in ("task_classifier", "mf", ONE_PASS):
                assert set(routers[name]["realised"]) == {"cost", "quality", "miss_rate"}
                assert set(routers[name]["cost_models"]) == {"price", "flops", "latency"}
                assert 0.0 <= routers[name]["realised"]["miss_rate"] <= 1.0
            assert text.startswith(PLUMBING_FLEET)
            assert summary["chance"]["ceiling"] == 1.0 and 0 <= summary["chance"]["majority"]["mean"] <= 1
            assert summary["reference"] == ["gen-l"] or summary["reference"] == ["gen-s"]
            # the per-query oracle dominates every single model's quality at no more than the dearest cost
            rec = next(r for r in run.records() if "routers" in r)
            # the latency cost is one measured forward pass per generated token
            lat = rec["latency"]["per_forward"]
            assert set(lat) == set(rec["models"]) and all(v["repeats"] >= 5 for v in lat.values())
            oracle = next(r for r in rec["routers"] if r["router"] == "oracle")
            assert max(oracle["points"]["quality"]) >= max(rec["test_mean_quality"]) - 1e-12
            assert summary["bandit_budget"] is not None
        if name == "specialists_vs_generalists":
            assert set(summary["models"]) == {m["name"] for m in fleet.models + fleet.meta["controls"]}
            k = summary["knowledge_claim"]
            assert k["num_facts"] == cfg.tasks.num_facts and k["exposure_specialist"] == pytest.approx(5 * k["exposure_generalist"])
            labels = [c["label"] for c in k["controls"]]
            assert labels == ["capacity at the generalists' exposure", "exposure at the specialist's size",
                              "capacity at the specialist's exposure",
                              "exposure (knowledge only vs mixture) for larger models"]
            assert "Exposure confound" in text and "Controls" in text
            from routerlab.studies.fleet_specialists import PLUMBING

            assert text.startswith(PLUMBING) and "*majority answer*" in text and "*ceiling*" in text
            size = summary["controls"]["size"]
            assert set(size) >= {"families_resolved", "families", "resolved"}
            assert not size["resolved"] and summary["verdict"].startswith("underpowered")  # one seed: no interval
            assert set(summary["claim_verdicts"]) == {"S3", "S6"}  # the claims table's two rows, gated alike
            assert all(v.startswith("underpowered") for v in summary["claim_verdicts"].values())
            assert set(summary["family_flags"]) == set(FAMILIES)
            assert size["measure"] == "exact_match" and "exact_match_reading" not in size
            # the same run read with the size control on answer NLL: that decides, exact match is kept beside
            from routerlab.studies.fleet_specialists import size_text, summarize

            nll = summarize(run, replace(run_cfg, size_measure="answer_nll"))
            assert nll["controls"]["size"]["measure"] == "answer_nll"
            assert nll["controls"]["size"]["exact_match_reading"]["per_family"] == size["per_family"]
            assert "negative log-likelihood" in size_text(nll) and "For the record, not deciding" in size_text(nll)
        if name == "lambda_sweep":
            assert len(summary["curve"]) == run_cfg.lams
    # the fleet's logs written as a shipped log, from these runs, read back identically
    from routerlab.fleet.shipped import load_shipped, write_shipped

    write_shipped(fleet.path, runs["fleet_routing"].path, runs["specialists_vs_generalists"].path, root / "shipped")
    shipped = load_shipped(folder=root / "shipped")
    assert shipped.seeds == fleet.seeds and shipped.manifest["size_control"]["verdict_word"] == "underpowered"
    for seed in fleet.seeds:
        for unit in ("usd", "flops"):
            assert shipped.log(seed, unit).to_pandas().equals(fleet.log(seed, unit).to_pandas())
