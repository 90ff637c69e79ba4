#!/usr/bin/env bash
# GPU benchmark of danie against the PyTorch reference, from binaries built on a CPU machine.
#
# On the build machine (this repository, after `cargo xtask setup`):
#   scripts/gpu-bench.sh --bundle DIR      # release `danie` + `throughput` + reference/ + scripts
# On a CUDA machine with PyTorch 2.11 (pip install torch==2.11.0 safetensors):
#   DIR/gpu-bench.sh [--out OUTDIR] [--quick] [--budget SECONDS] [--pack PACKDIR]
# --budget: finish within about SECONDS (a lent machine's one call): every step gets a timeout
# from what is left, the comparison starts no new row once its share is spent (rows measured per
# preset, S first, so what is cut is B and L), and the profiles run only if time is left.
# --pack: also write PACKDIR/gpu-bench.md, gpu-bench.json and gpu-bench-logs.tar.gz (the rest),
# three files, for a call that brings back only a few.
# --parts: which of tests (5), bench (1-4), cli (6), profile run (default all), e.g. one call
# with tests,bench and a second with cli,profile.
#
# It finds the machine's torch, points LD_LIBRARY_PATH at its lib/ (the binaries were linked
# against libtorch 2.11 with CUDA; RUNPATH names the build machine's copy, which is absent here),
# then in one call on one card (in this order: 5, 1-4, 6, then the profiles of 2):
#   1. parity: danie's logits vs the reference's, same weights and input, eval mode, fp32;
#   2. training images/s at 224, batch 24, presets S, B, L, in float32 and in bf16 autocast, for
#      danie, PyTorch eager and torch.compile (default and reduce-overhead, preset S), with FLOPs
#      per step counted by torch.utils.flop_counter and MFU against the card's measured bf16
#      matmul rate; then torch.profiler over the reference's S step (profile.md), and nsys over
#      danie's where installed;
#   3. whole-volume inference (100 x 512 x 512: resize, forward, argmax, resize back), danie
#      against eager and torch.compile;
#   4. the same training steps replayed from a CUDA graph (`--cuda-graph`): images/s, and their
#      losses against the eager run's; for S also channels-last (`--layout nhwc`), eager and graphed;
#   5. the unit tests that need a GPU (`on_a_gpu`: CUDA graph replay against eager, and DANIE
#      trained 50 SGD steps at the poly rate graphed and eagerly, losses to 1e-5);
#   6. the real command line on the card: `danie data generate` (synthetic Synapse), `danie train`
#      with train.cuda_graphs (preset S, 224, batch 24, bf16, the parallel loader) stopped after
#      its first epoch and resumed; `danie train` over NCCL under `torchrun --no-python`, world
#      size 1 (and 2 on a two-GPU machine), with images/s; then `danie train` eagerly and
#      `danie eval` (logs kept).
# Writes OUTDIR/gpu-bench.json, OUTDIR/gpu-bench.md (with the targets: danie >= PyTorch eager
# and >= torch.compile in both modes, bf16 >= 1.8x float32) and the raw logs. Without a CUDA
# device it runs the same steps on the CPU with the tiny preset and small sizes, to prove the
# plumbing (those numbers mean nothing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$PWD/gpu-bench-out}"
quick=0
bundle=""
budget=0
pack=""
parts="tests,bench,cli,profile"
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) bundle="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --budget) budget="$2"; shift 2 ;;
        --pack) pack="$2"; shift 2 ;;
        --parts) parts="$2"; shift 2 ;;
        -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
        *) echo "gpu-bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -n "$bundle" ]; then
    # Build side: run from the repository.
    repo="$(cd "$here/.." && pwd)"
    target="${CARGO_TARGET_DIR:-$repo/target}"
    (cd "$repo" && cargo build --release -p danie-cli && cargo build --release -p danie-train --example throughput)
    mkdir -p "$bundle/bin/tests" "$bundle/reference" "$bundle/scripts"
    cp "$target/release/danie" "$target/release/examples/throughput" "$bundle/bin/"
    # The unit-test binaries with the GPU tests (CUDA graph capture and replay against eager).
    (cd "$repo" && cargo test --release -p danie-model -p danie-train --lib --no-run --message-format=json) |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' | while read -r exe; do cp "$exe" "$bundle/bin/tests/"; done
    cp "$repo"/reference/*.py "$bundle/reference/"
    cp "$repo/scripts/bench_vs_pytorch.py" "$repo/scripts/profile_step.py" "$bundle/scripts/"
    mkdir -p "$bundle/configs" && cp "$repo/configs/demo.toml" "$bundle/configs/"
    cp "$0" "$bundle/gpu-bench.sh"
    chmod +x "$bundle/gpu-bench.sh"
    echo "bundle ready: $bundle (copy it to the GPU machine and run $bundle/gpu-bench.sh)"
    exit 0
fi

# Run side: the bundle layout (bin/, reference/, scripts/), or the repository itself.
if [ -x "$here/bin/throughput" ]; then
    root="$here"; bin="$here/bin"
else
    root="$(cd "$here/.." && pwd)"; bin="${CARGO_TARGET_DIR:-$root/target}/release"
    [ -x "$bin/examples/throughput" ] && tp="$bin/examples/throughput"
fi
tp="${tp:-$bin/throughput}"
[ -x "$tp" ] || { echo "gpu-bench.sh: no throughput binary at $tp (make a bundle with --bundle)" >&2; exit 1; }

python="${PYTHON:-${DANIE_PYTHON:-python3}}"
torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" || {
    echo "gpu-bench.sh: $python cannot import torch (pip install torch==2.11.0 safetensors)" >&2; exit 1; }
torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
case "$torch_version" in
    2.11.*) ;;
    *) echo "gpu-bench.sh: warning: torch $torch_version; the binaries were built against 2.11" >&2 ;;
esac
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$out"

if "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    device=cuda
    card="$("$python" -c 'import torch; print(torch.cuda.get_device_name(0))')"
    presets="s,b,l"; batch=24; steps=20; warmup=5; volume="100x512x512"; precisions="fp32,bf16"
    # torch.compile (its default mode and "reduce-overhead", CUDA graphs) of one preset only:
    # compiling B and L takes minutes a precision; the volume rows in the default mode only
    # (each mode compiles twice there: the last batch of a volume is smaller). Two alternating
    # repeats, best kept. Each row's seconds are in the JSON, for sizing the next run.
    extra=(--compile --compile-presets s --compile-modes default,reduce-overhead --infer-compile-modes default --flops
           --cuda-graph --nhwc-presets s --repeats 2)
    # The command line (6): preset S at 224 on the card, bf16, the parallel loader.
    # Iterations of the eager, graphed (stopped after epoch 1: 12 batches) and NCCL trainings.
    train_iters=300; graph_iters=120; dist_iters=100; dist_backend=nccl
    cli_sets=(--set data.image_size=224 --set model.preset=s --set train.device=cuda)
    train_sets=(--set data.batch_size=24 --set data.num_workers=8 --set train.bf16=true
                --set train.threads=0 --set train.checkpoint_every=0)
    graph_set=(--set train.cuda_graphs=true)
    # warm-up >= 4: with --cuda-graph the first 3 steps run eagerly and the 4th is captured
    [ "$quick" = 1 ] && { presets="s"; steps=5; warmup=4; train_iters=40; graph_iters=40; dist_iters=40; }
else
    device=cpu
    card="none: CPU fallback (plumbing check, tiny preset; numbers are not GPU numbers)"
    presets="tiny"; batch=2; steps=2; warmup=1; volume="4x128x128"; precisions="fp32"
    extra=()
    # The command line as the demo runs it (tiny, 64 px), Gloo for NCCL, no CUDA graphs: the
    # plumbing of step 6 (generate, stop and resume, torchrun, train, eval) without a card.
    train_iters=40; graph_iters=40; dist_iters=10; dist_backend=gloo
    cli_sets=(--set data.image_size=64 --set model.preset=tiny --set train.device=cpu)
    train_sets=(--set data.batch_size=8 --set data.num_workers=2 --set train.threads=2
                --set train.checkpoint_every=0)
    graph_set=()
fi
threads="$(nproc)"
status=0
# A line for the log, and for the report's "Command line" section once the report exists.
cli_notes=()
note() { echo "==> $*" >&2; cli_notes+=("- $*"); }
echo "==> gpu-bench: device $device ($card), torch $torch_version, libs $torch_lib" >&2

# Seconds left of --budget (a large number without one); fits N: are N seconds left; cap MAX
# [KEEP]: a step's timeout, at most MAX seconds and leaving KEEP seconds for the steps after it.
start_s=$SECONDS
left() { if [ "$budget" -gt 0 ]; then echo $((budget - (SECONDS - start_s))); else echo 1000000; fi; }
fits() { [ "$(left)" -ge "$1" ]; }
cap() { local l=$(( $(left) - ${2:-0} )); [ "$l" -lt "$1" ] || l="$1"; [ "$l" -gt 10 ] && echo "$l" || echo 10; }
# part NAME: is NAME among --parts.
part() { [[ ",$parts," == *",$1,"* ]]; }
# What the command line needs on a card, kept back from the comparison under --budget: about
# 120 s for generate, 2 x 36 graphed, 40 NCCL and 60 eager iterations, eval, each process
# starting CUDA.
cli_reserve=0
if [ "$budget" -gt 0 ] && part cli; then
    cli_reserve=120
    [ "$device" = cuda ] && { train_iters=60; graph_iters=36; dist_iters=40; }
fi

# The GPU unit tests (names ending in on_a_gpu): graph replay against eager on this card.
if part tests && [ "$device" = cuda ] && [ -d "$root/bin/tests" ]; then
    for t in "$root"/bin/tests/*; do
        timeout "$(cap 240)" "$t" on_a_gpu --nocapture >> "$out/gpu-tests.log" 2>&1 \
            && note "GPU unit tests in $(basename "$t"): ok" \
            || { status=1; note "GPU unit tests in $(basename "$t") FAILED (see gpu-tests.log)"; }
    done
fi

# The comparison. Under --budget it starts no new row once its share is spent, keeping about
# 150 s for a row begun just before (a torch.compile row takes that long), and is stopped at its
# share; rows finished are kept in the JSON either way. BENCH_TIMEOUT (seconds) bounds it too.
share=1000000
[ "$budget" -gt 0 ] && share=$(( $(left) - cli_reserve ))
if part bench && [ "$share" -lt 30 ]; then
    note "the comparison: not run (--budget $budget leaves it $share s)"
elif part bench; then
    bench_limit="${BENCH_TIMEOUT:-0}"
    deadline=()
    if [ "$budget" -gt 0 ]; then
        bench_limit=$(cap "$share")
        deadline=(--deadline-s $(( share > 300 ? share - 150 : share / 2 )))
    fi
    rc=0
    timeout "$bench_limit" "$python" "$root/scripts/bench_vs_pytorch.py" --danie-bin "$tp" --device "$device" \
        --presets "$presets" --infer-presets "${presets%%,*}" --batch "$batch" --infer-batch 8 --infer-reps 3 \
        --size 224 --steps "$steps" --warmup "$warmup" --volume "$volume" --threads "$threads" \
        --precisions "$precisions" --parity "${extra[@]}" "${deadline[@]}" --json "$out/gpu-bench.json" \
        > "$out/table.md" 2> "$out/bench.log" || rc=$?
    if [ "$rc" = 124 ] && [ "$budget" -gt 0 ]; then
        note "the comparison was stopped at its share of the --budget ($bench_limit s); rows finished are reported"
    elif [ "$rc" != 0 ]; then
        status=1
        note "the comparison (bench_vs_pytorch.py) failed with exit status $rc; rows finished are reported (see bench.log)"
        echo "gpu-bench.sh: bench_vs_pytorch.py failed; last lines of $out/bench.log:" >&2
        tail -20 "$out/bench.log" >&2
    fi
    # Without any row the report says so; the command line below still runs.
    [ -s "$out/gpu-bench.json" ] || { status=1; note "the comparison wrote no results (see bench.log)"; }
fi

# Report: the table, then the targets checked against the JSON (what there is of it).
bench_json=""
[ -s "$out/gpu-bench.json" ] && bench_json=yes
if [ -n "$bench_json" ]; then
"$python" - "$out/gpu-bench.json" "$device" "$card" "$torch_version" > "$out/gpu-bench.md" <<'EOF'
import json, sys, datetime
r = json.load(open(sys.argv[1])); device, card, tv = sys.argv[2:5]
print(f"# GPU benchmark\n\n{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
      f"device {device} ({card}); PyTorch {tv}.\n")
print("| parity (eval, fp32) | max abs diff | max abs logit |\n|---|---|---|")
for p in r.get("parity", []):
    print(f"| {p['preset']} | {p['max_abs_diff']:.2e} | {p['max_abs_ref']:.3g} |")
print("\n| what | preset | precision | batch | danie | danie graph | PyTorch eager | torch.compile | torch.compile reduce-overhead | danie/eager | graph/eager | GFLOP/step | MFU (graph) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def col(x, k):
    return f"{x[k]:.4g}" if k in x else ("failed" if k + "_error" in x else "-")
# Measured per preset (S first, so that a budget cuts B and L); shown training first, by precision.
r["rows"].sort(key=lambda x: (x["what"] != "train", x["precision"] != "fp32"))
for x in r["rows"]:
    comp = col(x, "pytorch_compile")
    ro = col(x, "pytorch_compile_reduce_overhead")
    graph = f"{x['danie_graph']:.4g}" if "danie_graph" in x else ("failed" if "danie_graph_error" in x else "-")
    gratio = f"{x['graph_ratio']:.2f}" if "graph_ratio" in x else "-"
    fl = f"{x['flops_per_step'] / 1e9:.1f}" if "flops_per_step" in x else "-"
    mfu = f"{100 * x['mfu']:.1f}%" if "mfu" in x else "-"
    if "mfu" in x and "danie_graph" in x:
        mfu += f" ({100 * x['mfu'] * x['danie_graph'] / x['danie']:.1f}%)"
    print(f"| {x['what']} | {x['preset']} | {x['precision']} | {x['batch']} | {x['danie']:.4g} {x['unit']} | "
          f"{graph} | {x['pytorch_eager']:.4g} | {comp} | {ro} | {x['ratio']:.2f} | {gratio} | {fl} | {mfu} |")
print(f"\nEach column the best of {r.get('repeats', 1)} alternating runs.")
if r.get("skipped"):
    print("\nNot measured (the --budget's share spent): " + ", ".join(r["skipped"]) + ".")
if "peak_bf16_flops" in r:
    print(f"\nMeasured bf16 matmul peak: {r['peak_bf16_flops'] / 1e12:.1f} TFLOP/s (8192^3 matmuls).")
print("\n## Targets\n")
train = [x for x in r["rows"] if x["what"] == "train"]
for x in train:
    ok = x["ratio"] >= 1.0
    print(f"- {x['preset']} {x['precision']}: danie {x['ratio']:.2f}x PyTorch eager: {'PASS' if ok else 'FAIL'}")
for p in sorted({x["preset"] for x in train}):
    f32 = next((x for x in train if x["preset"] == p and x["precision"] == "fp32"), None)
    b16 = next((x for x in train if x["preset"] == p and x["precision"] == "bf16"), None)
    if f32 and b16:
        s = b16["danie"] / f32["danie"]
        print(f"- {p}: danie bf16 / fp32 = {s:.2f}x (target 1.8x): {'PASS' if s >= 1.8 else 'FAIL'}")
for x in train:
    for key, what in (("danie_nhwc", "channels-last"), ("danie_graph_nhwc", "channels-last, CUDA graph")):
        if key in x:
            print(f"- {x['preset']} {x['precision']} {what}: {x[key]:.4g} images/s ({x[key] / x['pytorch_eager']:.2f}x PyTorch eager)")
        elif key + "_error" in x:
            print(f"- {x['preset']} {x['precision']} {what} failed: {x[key + '_error']}")
for p in sorted({x["preset"] for x in train}):
    f32 = next((x for x in train if x["preset"] == p and x["precision"] == "fp32" and "danie_graph" in x), None)
    b16 = next((x for x in train if x["preset"] == p and x["precision"] == "bf16" and "danie_graph" in x), None)
    if f32 and b16:
        s = b16["danie_graph"] / f32["danie_graph"]
        print(f"- {p} with CUDA graphs: bf16 / fp32 = {s:.2f}x (target 1.8x): {'PASS' if s >= 1.8 else 'FAIL'}")
for x in train:
    if "graph_losses_match" in x:
        print(f"- {x['preset']} {x['precision']} graph replay: losses {'equal eager' if x['graph_losses_match'] else 'DIFFER from eager'} "
              f"(max abs diff {x['graph_loss_max_abs_diff']:.2e}, eager loss change {x['graph_loss_eager_change']:.2e}): "
              f"{'PASS' if x['graph_losses_match'] else 'FAIL'}")
    if "danie_graph_error" in x:
        print(f"- {x['preset']} {x['precision']} graph replay failed: {x['danie_graph_error']}")
# danie against torch.compile: training with danie's faster path (graphed where it ran), and
# whole-volume inference, against each compile mode.
for x in r["rows"]:
    best = max(x["danie"], x.get("danie_graph", 0.0)) if x["what"] == "train" else x["danie"]
    how = "danie (graphed)" if x["what"] == "train" and x.get("danie_graph", 0.0) > x["danie"] else "danie"
    for k, name in (("pytorch_compile", "torch.compile"), ("pytorch_compile_reduce_overhead", "torch.compile reduce-overhead")):
        if k in x:
            ratio = best / x[k] if x["what"] == "train" else x[k] / best
            print(f"- {x['what']} {x['preset']} {x['precision']}: {how} {ratio:.2f}x {name}: {'PASS' if ratio >= 1.0 else 'FAIL'}")
        elif k + "_error" in x:
            print(f"- {name} did not run for {x['what']} {x['preset']} {x['precision']}: {x[k + '_error']}")
EOF
else
    printf '# GPU benchmark\n\n%s; device %s (%s); PyTorch %s; parts %s.\n' \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$device" "$card" "$torch_version" "$parts" > "$out/gpu-bench.md"
fi

# The command line on the card, after the comparison: generate the data, then the graphed
# training stopped and resumed, NCCL under torchrun, an eager training and its evaluation (the
# loader and trainer as users run them). Each step has a timeout from the budget left.
if part cli && [ "$train_iters" -gt 0 ]; then
    work="$(mktemp -d)"
    danie="$bin/danie"; [ -x "$danie" ] || danie="$(dirname "$tp")/../danie"
    # The config, data and cli_sets every `danie train|eval` below runs with.
    run_args=(--config "$root/configs/demo.toml" --set "data.root=$work/synapse" "${cli_sets[@]}")
    # cli SECONDS train|eval ...: `danie train|eval` with run_args plus `--set`s, stopped after
    # SECONDS.
    cli() {
        local secs="$1" what="$2"; shift 2
        timeout "$secs" "$danie" "$what" "${run_args[@]}" "$@"
    }
    { "$danie" --version && timeout "$(cap 120)" "$danie" data generate --dataset synapse --out "$work/synapse" --size 256; } \
        > "$out/cli-generate.log" 2>&1 || { status=1; note "danie data generate FAILED (see cli-generate.log)"; }
    # The training with the step replayed from a CUDA graph: stopped after its first epoch with
    # a checkpoint, then resumed to the end (a new graph is captured).
    graph_sets=(--set train.iterations=$graph_iters
                "${graph_set[@]}" --set "output.run_dir=$work/run-graph")
    if fits 60; then
        # Chained with && (set -e does not act inside a list that ends in || ...): a failed step stops.
        {
            cli "$(cap 120 90)" train "${train_sets[@]}" "${graph_sets[@]}" --stop-after-epochs 1 &&
            cli "$(cap 120 60)" train "${train_sets[@]}" "${graph_sets[@]}" --resume
        } > "$out/cli-graph.log" 2>&1 \
            && note "danie train${graph_set[*]:+ ${graph_set[*]}} on $device, stopped after epoch 1 and resumed: ok" \
            || { status=1; note "danie train${graph_set[*]:+ ${graph_set[*]}} on $device, stopped and resumed, FAILED (see cli-graph.log)"; }
        tail -3 "$out/cli-graph.log" >&2
    else
        note "danie train${graph_set[*]:+ ${graph_set[*]}}, stopped and resumed: not run (--budget spent)"
    fi
    # Data-parallel training over NCCL under torchrun (the launcher users have): world size 1,
    # and 2 where nvidia-smi lists two GPUs; images/s is the median of rank 0's log.csv rows
    # (each rank's share of the global batch of 24). A danie built without NCCL fails here
    # saying so (crates/danie-dist/build.rs).
    torchrun_bin="$(dirname "$(command -v "$python")")/torchrun"
    [ -x "$torchrun_bin" ] || torchrun_bin="$(command -v torchrun || true)"
    ranks=1  # at most one rank per GPU
    [ "$device" = cuda ] && ranks="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
    median_ips() {
        "$python" -c 'import csv, statistics, sys
rows = [float(r["images_per_s"]) for r in csv.DictReader(open(sys.argv[1])) if r["kind"] == "iter" and r["images_per_s"]]
print(f"{statistics.median(rows[len(rows) // 4:]):.1f}" if rows else "n/a")' "$1" 2>/dev/null || echo n/a
    }
    for n in 1 2; do
        [ -n "$torchrun_bin" ] || { note "torchrun not found next to $python: $dist_backend step skipped"; break; }
        [ "$n" -le "${ranks:-0}" ] || continue
        fits 45 || { note "danie train over $dist_backend, world size $n: not run (--budget spent)"; continue; }
        timeout "$(cap 120 40)" "$torchrun_bin" --no-python --nproc-per-node "$n" --master-port $((29600 + n)) \
            "$danie" train "${run_args[@]}" --set train.dist_backend=$dist_backend "${train_sets[@]}" \
            --set train.iterations=$dist_iters \
            --set "output.run_dir=$work/run-nccl$n" > "$out/cli-nccl$n.log" 2>&1 \
            && note "danie train over $dist_backend, world size $n (torchrun): $(median_ips "$work/run-nccl$n/log.csv") images/s per rank" \
            || { status=1; note "danie train over $dist_backend, world size $n FAILED (see cli-nccl$n.log)"; }
    done
    # The eager training (bf16, the parallel loader) and its evaluation.
    if fits 40; then
        {
            cli "$(cap 150 25)" train "${train_sets[@]}" --set train.iterations=$train_iters \
                --set "output.run_dir=$work/run" &&
            cli "$(cap 90)" eval --set "output.run_dir=$work/run"
        } > "$out/cli.log" 2>&1 && note "danie train ($train_iters iterations) / eval on $device: ok" \
            || { status=1; note "danie train / eval on $device FAILED (see cli.log)"; }
        tail -5 "$out/cli.log" >&2
    else
        note "danie train / eval: not run (--budget spent)"
    fi
    cp "$work/run/log.csv" "$out/train-log.csv" 2>/dev/null || true
    cp "$work/run-graph/log.csv" "$out/train-graph-log.csv" 2>/dev/null || true
    cp "$work/run/eval/summary.md" "$out/eval-summary.md" 2>/dev/null || true
fi

# Where a step's time goes (issue 17: what to fix if graphs do not close the gap to
# torch.compile): torch.profiler over the reference's S step, eager and compiled, both
# precisions; and danie's own step under Nsight Systems where the machine has nsys. Last: it
# explains the numbers above, and under --budget runs only with time left.
if part profile && [ "$device" = cuda ]; then
    for prec in fp32 bf16; do
        fits 100 || { note "profile of the reference's step ($prec): not run (--budget spent)"; continue; }
        timeout "$(cap 300)" "$python" "$root/scripts/profile_step.py" --danie-bin "$tp" --preset s --batch 24 \
            --precision "$prec" >> "$out/profile.md" 2>> "$out/profile.log" \
            || note "profile of the reference's step ($prec) failed or was stopped (see profile.log)"
    done
    if command -v nsys > /dev/null && fits 60; then
        timeout "$(cap 300)" nsys profile -o "$out/danie-s-bf16" --force-overwrite true --stats=true \
            "$tp" --mode train --preset s --batch 24 --steps 10 --warmup 3 --device cuda \
            --precision bf16 --channels 1 > "$out/nsys-danie.txt" 2>&1 \
            || note "nsys over danie's step failed (see nsys-danie.txt)"
    fi
    [ -s "$out/profile.md" ] && note "profiles of one training step: profile.md (reference), nsys-danie.txt (danie, where nsys exists)"
fi

if [ "${#cli_notes[@]}" -gt 0 ]; then
    printf '\n## Tests and the command line on the card\n\n' >> "$out/gpu-bench.md"
    printf '%s\n' "${cli_notes[@]}" >> "$out/gpu-bench.md"
fi
[ "$budget" -gt 0 ] && printf '\nWall time: %d s of a %d s budget.\n' "$((SECONDS - start_s))" "$budget" >> "$out/gpu-bench.md"
cat "$out/gpu-bench.md"
echo "==> wrote $out/gpu-bench.md${bench_json:+ and $out/gpu-bench.json}" >&2
if [ -n "$pack" ]; then
    mkdir -p "$pack"
    cp "$out/gpu-bench.md" ${bench_json:+"$out/gpu-bench.json"} "$pack/"
    tar -czf "$pack/gpu-bench-logs.tar.gz" -C "$out" --exclude gpu-bench.md --exclude gpu-bench.json .
    echo "==> packed into $pack: gpu-bench.md,${bench_json:+ gpu-bench.json,} gpu-bench-logs.tar.gz" >&2
fi
exit "$status"
