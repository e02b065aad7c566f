#!/usr/bin/env bash
# Accelerator check for routerlab: LM throughput (MFU), MoE dispatch cost and one paper-scale
# study on one device, in at most ~8 minutes; every result is JSON in one flat folder.
#
#   bash experiments/gpu_check.sh OUT_DIR                              # full sizes
#   ROUTERLAB_GPU_CHECK_SMALL=1 bash experiments/gpu_check.sh OUT_DIR  # toy sizes (the CPU default)
#
# It needs no GPU (on CPU it switches to toy sizes, which only prove that it works), no
# network and no `pip install`: routerlab runs from this source tree (PYTHONPATH), with
# `python3` (or $PYTHON; .venv/bin/python when present), jax, flax, optax, orbax, tqdm,
# seaborn. Hugging Face `datasets` is not needed.
#
# Stages, most important first, each under its own time limit (a stage that fails or times
# out is recorded as such in OUT_DIR/gpu_check.json, and the script goes on):
#   1. bench_lm_bf16_d1024_capacity.jsonl
#        `routerlab bench lm` for a d_model 1024, 8-layer, context-1024 model (batch 32) in
#        bfloat16, dense and MoE top-1/top-2 (E=8, capacity 1.0); goal on an H200: MFU >= 0.4
#        against a bf16 8192^2 matmul measured in the same process;
#   2. moe_vs_dense_paper_*  `routerlab run moe_vs_dense --scale paper` (or $GPU_CHECK_STUDY):
#        config, env, summary, metrics and report, copied flat from its run directory (smoke
#        scale when small);
#   3. bench_moe.jsonl   `routerlab bench moe` (float32; 16k tokens, d 1024, d_ff 4096);
#   4. bench_lm_f32.jsonl  `routerlab bench lm` at its default cases (d_model 32-256, one run
#        and 4 seeds under vmap), float32;
#   5. bench_lm_bf16_d1024_dropless.jsonl  stage 1 with dropless MoE dispatch;
#   gpu_check.json  device, versions, each stage's status and wall seconds; NAME.log per stage.
# Stage limits add up to 480 s (5x that at toy sizes).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: bash experiments/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
OUT="$1"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
BACKEND="$("$PY" -c 'import jax; print(jax.default_backend())')"
SMALL="${ROUTERLAB_GPU_CHECK_SMALL:-$( [ "$BACKEND" = cpu ] && echo 1 || echo 0 )}"
STUDY="${GPU_CHECK_STUDY:-moe_vs_dense}"  # the paper-scale study of stage 2
WORK="$(mktemp -d)"  # the study's run directory (nested), copied flat into OUT below
trap 'rm -rf "$WORK"' EXIT
echo "routerlab gpu_check: backend=$BACKEND small=$SMALL out=$OUT" >&2

if [ "$SMALL" = 1 ]; then
  LM_F32=(--set 'd_models=[32]' --set n_layers=1 --set seq_len=16 --set batch_size=4 --set num_seeds=2
          --set scan_steps=2 --set repeats=2 --set warmup=1 --set peak_size=256)
  LM_BIG=(--set 'd_models=[64]' --set n_layers=1 --set seq_len=32 --set batch_size=4 --set head_dim=32
          --set 'modes=["single"]' --set repeats=2 --set warmup=1 --set peak_size=256 --set dtype=bfloat16)
  MOE=(--set num_tokens=512 --set d_model=64 --set d_ff=128 --set repeats=2 --set warmup=1)
  SCALE=smoke
  LIMIT_SCALE=5  # toy sizes are for a CPU, maybe a shared one: compilation dominates
else
  LIMIT_SCALE=1
  LM_F32=()
  LM_BIG=(--set 'd_models=[1024]' --set n_layers=8 --set seq_len=1024 --set batch_size=32 --set head_dim=128
          --set 'modes=["single"]' --set repeats=10 --set warmup=2 --set dtype=bfloat16)
  MOE=(--set num_tokens=16384 --set d_model=1024 --set d_ff=4096 --set repeats=10 --set warmup=2)
  SCALE=paper
fi

STAGES="$WORK/stages.jsonl"
: > "$STAGES"
stage() {  # stage NAME LIMIT_S COMMAND...: run it with a time limit, log to OUT/NAME.log, record status
  local name="$1" limit="$2"; shift 2
  local t0 ms rc status
  t0=$(date +%s%N)
  limit=$((limit * LIMIT_SCALE))
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status=failed ;; esac
  printf '{"stage": "%s", "status": "%s", "rc": %d, "limit_s": %d, "wall_s": %d.%03d}\n' \
    "$name" "$status" "$rc" "$limit" $((ms / 1000)) $((ms % 1000)) >> "$STAGES"
  echo "  $name: $status ($(tail -n 1 "$STAGES"))" >&2
}

# Most important first, so that a slow machine loses the least important stage.
stage bench_lm_bf16_d1024_capacity 100 "$PY" -m routerlab.cli bench lm "${LM_BIG[@]}" \
  --out "$OUT/bench_lm_bf16_d1024_capacity.jsonl"
stage "${STUDY}_$SCALE" 180 "$PY" -m routerlab.cli run "$STUDY" --scale "$SCALE" --out "$WORK/runs"
stage bench_moe 40 "$PY" -m routerlab.cli bench moe "${MOE[@]}" --out "$OUT/bench_moe.jsonl"
stage bench_lm_f32 100 "$PY" -m routerlab.cli bench lm "${LM_F32[@]}" --out "$OUT/bench_lm_f32.jsonl"
stage bench_lm_bf16_d1024_dropless 60 "$PY" -m routerlab.cli bench lm "${LM_BIG[@]}" --set capacity_factor=null \
  --out "$OUT/bench_lm_bf16_d1024_dropless.jsonl"

RUN_DIR="$(find "$WORK/runs" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | head -n 1)"
if [ -n "$RUN_DIR" ]; then
  for f in config.json env.json summary.json metrics.jsonl artifacts/report.md; do
    if [ -f "$RUN_DIR/$f" ]; then cp "$RUN_DIR/$f" "$OUT/${STUDY}_${SCALE}_$(basename "$f")"; fi
  done
  if [ -f "$RUN_DIR/DONE" ]; then echo complete > "$OUT/${STUDY}_${SCALE}_DONE"; fi
fi

"$PY" - "$OUT" "$STAGES" "$SMALL" <<'PYEOF'
import json, sys
import jax
from routerlab.bench.common import environment

out, stages, small = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
summary = {**environment(), "device_kind": jax.devices()[0].device_kind, "small": small,
           "stages": [json.loads(line) for line in open(stages)]}
with open(f"{out}/gpu_check.json", "w") as f:
    json.dump(summary, f, indent=1)
print(f"\n== routerlab gpu_check on {summary['device_kind']} (small={small})")
for s in summary["stages"]:
    print(f"{s['stage']:36s} {s['status']:8s} {s['wall_s']:7.1f} s")
for name in ("bench_lm_f32", "bench_lm_bf16_d1024_capacity", "bench_lm_bf16_d1024_dropless"):
    try:
        rows = [json.loads(line) for line in open(f"{out}/{name}.jsonl")]
    except FileNotFoundError:
        continue
    print(f"\n{name}: {'case':28s} {'tokens/s':>11s} {'TFLOP/s':>8s} {'MFU':>6s} {'moe/dense':>9s}")
    for r in rows:
        ratio = "" if r["moe_over_dense"] is None else f"{r['moe_over_dense']:.2f}"
        print(f"{'':{len(name) + 2}s}{r['case']:28s} {r['tokens_per_s']:11.0f} {r['model_flops_per_s'] / 1e12:8.3f} "
              f"{r['mfu']:6.3f} {ratio:>9s}")
try:
    for r in map(json.loads, open(f"{out}/bench_moe.jsonl")):
        print(f"bench_moe {r['case']:22s} ratio {r['ratio']:.2f}")
except FileNotFoundError:
    pass
print(f"\nJSON: {out}")
PYEOF
