#!/usr/bin/env bash
# GPU/TPU readiness check for routerlab: one short script, at most ~5 minutes on one GPU.
#
#   bash experiments/gpu_check.sh [OUT_DIR]        # default OUT_DIR: runs/gpu_check-<UTC time>
#   ROUTERLAB_GPU_CHECK_SMALL=1 bash experiments/gpu_check.sh   # toy sizes (the CPU default)
#
# NOT YET RUN ON A GPU: it was written and run end to end on CPU only (no accelerator was
# available in the session that wrote it). On CPU it switches to toy sizes automatically, so
# its numbers there only prove that the script works.
#
# Measures, and writes to OUT_DIR/gpu_check.json (plus a table on stdout):
#   1. bench_moe (routerlab.bench.moe, float32, its own cases) MoE/dense step ratios;
#   2. the same comparison in bfloat16 (experts and dense FFN in bf16, router in float32;
#      dropless dispatch with impl="auto", i.e. jax.lax.ragged_dot on GPU/TPU);
#   3. model FLOPs utilisation of a toy-LM training step in bfloat16:
#      3 * active forward FLOPs per token (routerlab.models.flops_per_token) * tokens per step
#      / step time / peak bf16 FLOP/s of the device (a table below; null when unknown);
#   4. `routerlab run moe_vs_dense --scale smoke` if experiments/moe_vs_dense.py exists.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu_check-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

"$PY" - "$OUT" <<'PYEOF'
import json, os, sys, time
import jax, jax.numpy as jnp, optax

out = sys.argv[1]
backend = jax.default_backend()
small = backend == "cpu" or os.environ.get("ROUTERLAB_GPU_CHECK_SMALL") == "1"
result = {"backend": backend, "device_kind": jax.devices()[0].device_kind, "devices": jax.device_count(),
          "small": small, "jax": jax.__version__}
print(f"backend={backend} device={result['device_kind']} x{result['devices']} small={small}", flush=True)

# 1. The existing MoE-vs-dense benchmark (float32).
from routerlab.bench.moe import bench_moe
kw = dict(num_tokens=512, d_model=64, d_ff=128, repeats=2, warmup=1) if small else dict(repeats=10, warmup=2, num_tokens=16384, d_model=1024, d_ff=4096)
result["bench_moe_fp32"] = [{k: r[k] for k in ("case", "moe_ms", "dense_ms", "ratio", "dropped_fraction")} for r in bench_moe(**kw)]

# 2. bf16 MoE (dropless, impl=auto) vs a FLOP-matched bf16 dense FFN, router in float32.
from routerlab.bench.common import interleaved_median_ms
from routerlab.moe.dispatch import _default_impl, dropless_dispatch  # what impl="auto" picks here
from routerlab.moe.routers import top_k_route
t, d, f, e, k = (512, 64, 128, 8, 2) if small else (16384, 1024, 4096, 8, 2)
keys = jax.random.split(jax.random.key(0), 6)
bf = jnp.bfloat16
x = jax.random.normal(keys[0], (t, d), bf)
moe_p = {"router": jax.random.normal(keys[1], (d, e)) / d**0.5,  # float32
         "w_in": (jax.random.normal(keys[2], (e, d, f)) / d**0.5).astype(bf),
         "w_out": (jax.random.normal(keys[3], (e, f, d)) / f**0.5).astype(bf)}
dense_p = {"w_in": (jax.random.normal(keys[4], (d, k * f)) / d**0.5).astype(bf),
           "w_out": (jax.random.normal(keys[5], (k * f, d)) / (k * f)**0.5).astype(bf)}

def moe_loss(p, x):
    logits = x.astype(jnp.float32) @ p["router"]
    r = top_k_route(logits, k, score="softmax", renormalize=True)
    y = dropless_dispatch(x, r.expert_index, r.gates, p["w_in"], p["w_out"], impl="auto").y
    return jnp.mean(jnp.square(y.astype(jnp.float32)))

def dense_loss(p, x):
    h = jax.nn.gelu(jnp.dot(x, p["w_in"], preferred_element_type=jnp.float32).astype(bf))
    y = jnp.dot(h, p["w_out"], preferred_element_type=jnp.float32)
    return jnp.mean(jnp.square(y))

moe_step, dense_step = jax.jit(jax.grad(moe_loss)), jax.jit(jax.grad(dense_loss))
ms = interleaved_median_ms({"moe": lambda: moe_step(moe_p, x), "dense": lambda: dense_step(dense_p, x)},
                           repeats=3 if small else 10, warmup=1 if small else 2)
result["bf16_moe_vs_dense"] = {"tokens": t, "d_model": d, "d_ff": f, "experts": e, "top_k": k,
                               "dropless_impl": _default_impl(), "moe_ms": ms["moe"], "dense_ms": ms["dense"],
                               "ratio": ms["moe"] / ms["dense"]}

# 3. MFU of the toy LM (bf16 activations, float32 params and router).
from routerlab.models import LMConfig, flops_per_token
from routerlab.moe import MoEConfig
from routerlab.train import LMRunConfig, TrainConfig, compiled_steps, init_state
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12,
             "TPU v4": 275e12, "TPU v5 lite": 197e12, "TPU v5e": 197e12, "TPU v5p": 459e12, "TPU v6": 918e12}
peak = next((v for name, v in PEAK_BF16.items() if name.lower() in result["device_kind"].lower()), None)
lm_rows = []
for ffn in ("dense", "moe"):
    dm, layers, seq, batch = (64, 2, 64, 8) if small else (1024, 8, 1024, 32)
    moe = MoEConfig(num_experts=8, top_k=1, renormalize=False, d_model=dm, d_ff=4 * dm) if ffn == "moe" else None
    mcfg = LMConfig(vocab_size=256, d_model=dm, n_layers=layers, n_heads=max(1, dm // 64), seq_len=seq, d_ff=4 * dm,
                    ffn=ffn, moe=moe, dtype="bfloat16")
    cfg = LMRunConfig(model=mcfg, train=TrainConfig(steps=100, batch_size=batch, warmup_steps=1))
    state = init_state(cfg)
    step, _ = compiled_steps(cfg.model, cfg.train)
    tokens = jax.random.randint(jax.random.key(1), (batch, seq + 1), 0, 256)
    state, _, _ = step(state, tokens, None)  # compile
    jax.block_until_ready(state)
    n = 3 if small else 20
    start = time.perf_counter()
    for _ in range(n):
        state, metrics, _ = step(state, tokens, None)
    jax.block_until_ready(state)
    step_s = (time.perf_counter() - start) / n
    flops = 3 * flops_per_token(mcfg)["active"] * batch * seq
    lm_rows.append({"ffn": ffn, "d_model": dm, "layers": layers, "seq_len": seq, "batch": batch,
                    "step_ms": 1e3 * step_s, "tflops_per_s": flops / step_s / 1e12,
                    "mfu": None if peak is None else flops / step_s / peak, "loss": float(metrics["loss"])})
result["lm_mfu"] = {"peak_bf16_flops": peak, "rows": lm_rows}
json.dump(result, open(os.path.join(out, "gpu_check.json"), "w"), indent=1)
PYEOF

MOE_VS_DENSE="skipped (experiments/moe_vs_dense.py not found)"
if [ -f experiments/moe_vs_dense.py ]; then
  if "$PY" -m routerlab.cli run moe_vs_dense --scale smoke --out "$OUT/runs" > "$OUT/moe_vs_dense.log" 2>&1; then
    MOE_VS_DENSE="ok (log: $OUT/moe_vs_dense.log)"
  else
    MOE_VS_DENSE="FAILED (log: $OUT/moe_vs_dense.log)"
  fi
fi

"$PY" - "$OUT" "$MOE_VS_DENSE" <<'PYEOF'
import json, os, sys
out, mvd = sys.argv[1], sys.argv[2]
path = os.path.join(out, "gpu_check.json")
r = json.load(open(path))
r["moe_vs_dense_smoke"] = mvd
json.dump(r, open(path, "w"), indent=1)
print(f"\n== routerlab gpu_check: {r['backend']} / {r['device_kind']}  (small={r['small']})")
print(f"{'check':34s} {'moe ms':>9s} {'dense ms':>9s} {'ratio':>7s}")
for row in r["bench_moe_fp32"]:
    print(f"{'fp32 ' + row['case']:34s} {row['moe_ms']:9.2f} {row['dense_ms']:9.2f} {row['ratio']:7.2f}")
b = r["bf16_moe_vs_dense"]
print(f"{'bf16 dropless (' + b['dropless_impl'] + ')':34s} {b['moe_ms']:9.2f} {b['dense_ms']:9.2f} {b['ratio']:7.2f}")
print(f"\n{'toy LM bf16 train step':34s} {'step ms':>9s} {'TFLOP/s':>9s} {'MFU':>7s}")
for row in r["lm_mfu"]["rows"]:
    mfu = "n/a" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%"
    print(f"{row['ffn'] + ' d=' + str(row['d_model']) + ' L=' + str(row['layers']):34s} {row['step_ms']:9.2f} {row['tflops_per_s']:9.3f} {mfu:>7s}")
print(f"\nmoe_vs_dense --scale smoke: {mvd}")
print(f"JSON: {path}")
PYEOF
