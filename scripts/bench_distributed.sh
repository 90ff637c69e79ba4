#!/usr/bin/env bash
# Data-parallel training throughput on the CPU: `danie train` as 1 process and as 2 processes
# (Gloo), same config, same global batch.
#
# usage: scripts/bench_distributed.sh [--iterations 30] [--warmup 5] [--repeats 2]
#            [--presets tiny,s] [--cases 10] [--size 512] [--out-dir docs/bench] [--work DIR]
#            [--overwrite]
#
# It builds nothing: it runs the release binary target/release/danie (`cargo build --release
# -p danie-cli` first), or the one named by DANIE=path. Then, on this machine:
#   1. `danie data generate --dataset synapse` (--cases patients, --slices 16, --size px slices,
#      512 like the real ones) into the work folder;
#   2. for each preset: `danie train`, 224 px, global batch 8, TransUNet augmentation (as the
#      configs), pretrained none, --iterations steps, logging every step, no validation, as
#        - 1 process with train.threads = all cores (and as many loader threads), and
#        - 2 processes started with the torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK,
#          LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT), Gloo, each with
#          train.threads = cores / 2 (at least 1), local batch 4;
#      the two alternate --repeats times (default 2) and each keeps its best run, as
#      scripts/bench_loader.py does: a busy neighbour must not decide the ratio;
#   3. images/s of a run: rank 0's log.jsonl (the run's log; `images_per_s` counts global
#      images), the iterations after the first --warmup, as total images / total seconds
#      (the harmonic mean of the per-step rates); the wall-clock rate from `elapsed_s`, the
#      median step and the load average around each run are kept in the JSON as checks.
# Run it on an otherwise idle machine (it warns when the load average is 1 or more): a
# neighbour's build slows the 1-process run, whose threads wait for each other, far more than
# two 1-thread processes, and the speed-up then measures the neighbour.
# Writes OUT_DIR/cpu-distributed-<UTC date>.md (a Markdown table: preset, processes, threads
# each, images/s, speed-up vs 1 process, every repeat) and the .json beside it (every run,
# every step's rate); an existing report of that date is kept unless --overwrite. The raw runs
# and their logs stay in the work folder (a new temporary folder unless --work).
set -Eeuo pipefail
trap 'echo "bench_distributed.sh: line $LINENO failed (status $?)" >&2' ERR

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
iterations=30
warmup=5
repeats=2
presets="tiny,s"
cases=10
size=512
out_dir="$repo/docs/bench"
work=""
overwrite=0
usage() { sed -n '2,/^set -Eeuo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
need_value() { [ $# -ge 2 ] || { echo "bench_distributed.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --iterations) need_value "$@"; iterations="$2"; shift 2 ;;
        --warmup) need_value "$@"; warmup="$2"; shift 2 ;;
        --repeats) need_value "$@"; repeats="$2"; shift 2 ;;
        --presets) need_value "$@"; presets="$2"; shift 2 ;;
        --cases) need_value "$@"; cases="$2"; shift 2 ;;
        --size) need_value "$@"; size="$2"; shift 2 ;;
        --out-dir) need_value "$@"; out_dir="$2"; shift 2 ;;
        --work) need_value "$@"; work="$2"; shift 2 ;;
        --overwrite) overwrite=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench_distributed.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for pair in "iterations:$iterations" "repeats:$repeats" "cases:$cases" "size:$size"; do
    [[ "${pair#*:}" =~ ^[1-9][0-9]*$ ]] || {
        echo "bench_distributed.sh: --${pair%%:*} must be a positive integer, not '${pair#*:}'" >&2; exit 2; }
done
[[ "$warmup" =~ ^[0-9]+$ ]] && [ "$warmup" -lt "$iterations" ] || {
    echo "bench_distributed.sh: --warmup must be an integer below --iterations ($iterations), not '$warmup'" >&2
    exit 2; }

danie="${DANIE:-$repo/target/release/danie}"
[ -x "$danie" ] || {
    echo "bench_distributed.sh: no danie binary at $danie (cargo build --release -p danie-cli, or DANIE=path)" >&2
    exit 1; }
python="${PYTHON:-python3}"
"$python" -c 'import json, socket, statistics' 2>/dev/null || {
    echo "bench_distributed.sh: $python cannot run (set PYTHON to a Python 3)" >&2; exit 1; }

date_tag="$(date -u +%F)"
mkdir -p "$out_dir"
report="$out_dir/cpu-distributed-$date_tag.md"
report_json="$out_dir/cpu-distributed-$date_tag.json"
if [ "$overwrite" = 0 ] && { [ -e "$report" ] || [ -e "$report_json" ]; }; then
    echo "bench_distributed.sh: $report (or its .json) exists; pass --overwrite to replace it, or --out-dir" >&2
    exit 1
fi
if [ -z "$work" ]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/danie-bench-distributed.XXXXXX")"
else
    mkdir -p "$work"
    [ -z "$(ls -A "$work")" ] || {
        echo "bench_distributed.sh: the work folder $work is not empty (give a new or empty one)" >&2; exit 1; }
fi
work="$(cd "$work" && pwd)"

cores="$(nproc)"
half=$(( cores / 2 )); [ "$half" -ge 1 ] || half=1
batch=8
# Every collective waits at most this long, and a whole run at most run_limit seconds: a lost
# rank or a stuck run ends the benchmark with an error, never a hang.
export DANIE_DIST_TIMEOUT_S="${DANIE_DIST_TIMEOUT_S:-120}"
run_limit=$(( 600 + iterations * 120 ))

# Read whole: `| head` would end danie with SIGPIPE, a failure under pipefail.
version="$("$danie" --version)"
version="$(printf '%s\n' "$version" | sed -n '1,2p' | tr '\n' ' ' | sed 's/ $//')"
echo "==> $danie ($version); $cores cores; work folder $work"
data="$work/synapse"
"$danie" data generate --dataset synapse --out "$data" --cases "$cases" --slices 16 --size "$size" \
    > "$work/generate.log" 2>&1 || { cat "$work/generate.log" >&2; exit 1; }

# config PRESET THREADS RUN_DIR -> writes RUN_DIR.toml
config() {
    cat > "$3.toml" <<EOF
[data]
dataset = "synapse"
root = "$data"
image_size = 224
batch_size = $batch
num_workers = $2
augment = true

[model]
preset = "$1"
pretrained = "none"

[train]
iterations = $iterations
device = "cpu"
threads = $2
seed = 1234
log_every = 1
val_every = 0
checkpoint_every = 0
dist_backend = "gloo"

[output]
run_dir = "$3"
EOF
}

# The ranks of the 2-process run under way: ended (by process id) if this script stops early.
pids=()
stop_ranks() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_ranks EXIT

free_port() {
    "$python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# train PRESET PROCESSES REPEAT: one run; its folder is $work/PRESET-pPROCESSES-rREPEAT.
train() {
    local preset="$1" procs="$2" rep="$3" threads run port r rc failed=0
    threads=$(( procs == 1 ? cores : half ))
    run="$work/$preset-p$procs-r$rep"
    config "$preset" "$threads" "$run"
    echo "==> $preset, $procs process(es) x $threads thread(s), repeat $rep"
    # The 1-minute load average around the run, kept in the JSON: a neighbour's build slows the
    # 1-process run (its threads wait for each other) far more than two 1-thread processes.
    cut -d' ' -f1 /proc/loadavg > "$run.load"
    if [ "$procs" = 1 ]; then
        timeout --kill-after=10 "$run_limit" "$danie" train --config "$run.toml" \
            > "$run.rank0.log" 2>&1 || failed=1
    else
        port="$(free_port)"
        pids=()
        for (( r = 0; r < procs; r++ )); do
            RANK=$r WORLD_SIZE=$procs LOCAL_RANK=$r LOCAL_WORLD_SIZE=$procs \
                MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
                timeout --kill-after=10 "$run_limit" "$danie" train --config "$run.toml" \
                > "$run.rank$r.log" 2>&1 &
            pids+=("$!")
        done
        for (( r = 0; r < procs; r++ )); do
            rc=0; wait "${pids[$r]}" || rc=$?
            [ "$rc" = 0 ] || { echo "    rank $r exited with status $rc" >&2; failed=1; }
        done
        pids=()
    fi
    if [ "$failed" = 1 ]; then
        for log in "$run".rank*.log; do
            echo "--- $log (last 20 lines)" >&2; tail -n 20 "$log" >&2
        done
        echo "bench_distributed.sh: the $preset run with $procs process(es) failed (logs in $work)" >&2
        exit 1
    fi
    cut -d' ' -f1 /proc/loadavg >> "$run.load"
    [ -s "$run/log.jsonl" ] || { echo "bench_distributed.sh: $run/log.jsonl is missing or empty" >&2; exit 1; }
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${load_before%% *}" 'BEGIN { exit !(l >= 1) }'; then
    echo "bench_distributed.sh: warning: load average $load_before before the first run; other" \
        "work on this machine makes the numbers (the 1-process ones most) meaningless" >&2
fi
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
IFS=',' read -r -a preset_list <<< "$presets"
for (( rep = 1; rep <= repeats; rep++ )); do
    for preset in "${preset_list[@]}"; do
        train "$preset" 1 "$rep"
        train "$preset" 2 "$rep"
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

cpu_model="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p')" || cpu_model=""
cpu_model="${cpu_model%%$'\n'*}"
command_line="scripts/bench_distributed.sh --iterations $iterations --warmup $warmup --repeats $repeats --presets $presets --cases $cases --size $size"
BENCH_WORK="$work" BENCH_PRESETS="$presets" BENCH_REPEATS="$repeats" BENCH_WARMUP="$warmup" \
BENCH_ITERATIONS="$iterations" BENCH_BATCH="$batch" BENCH_CORES="$cores" BENCH_HALF="$half" \
BENCH_CASES="$cases" BENCH_SIZE="$size" BENCH_CPU="${cpu_model:-?}" BENCH_VERSION="$version" \
BENCH_STARTED="$started" BENCH_LOAD_BEFORE="$load_before" BENCH_LOAD_AFTER="$load_after" \
BENCH_COMMAND="$command_line" BENCH_MD="$report" BENCH_JSON="$report_json" "$python" - <<'EOF'
import json, os, statistics, sys

env = os.environ
work, warmup, batch = env["BENCH_WORK"], int(env["BENCH_WARMUP"]), int(env["BENCH_BATCH"])
iterations, repeats = int(env["BENCH_ITERATIONS"]), int(env["BENCH_REPEATS"])
threads = {1: int(env["BENCH_CORES"]), 2: int(env["BENCH_HALF"])}


def measure(run):
    """Rank 0's log: the rate over the iterations after the warm-up."""
    rows = []
    with open(os.path.join(run, "log.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if row.get("kind") == "iter":
                rows.append(row)
    kept = [r for r in rows if r["iteration"] > warmup]
    if len(kept) != iterations - warmup or any(not r.get("images_per_s") for r in kept):
        sys.exit(f"bench_distributed.sh: {run}/log.jsonl holds {len(kept)} rated iterations after"
                 f" the warm-up, not {iterations - warmup}")
    rates = [r["images_per_s"] for r in kept]
    seconds = sum(batch / r for r in rates)
    # Wall clock from the last warm-up row to the last row (epoch ends included).
    start = next((r["elapsed_s"] for r in rows if r["iteration"] == warmup), None)
    wall = None
    if start is not None and kept[-1]["elapsed_s"] > start:
        wall = round(batch * len(kept) / (kept[-1]["elapsed_s"] - start), 3)
    with open(run + ".load") as f:
        load = [float(x) for x in f.read().split()]
    return {"run": run, "load_average_1min_before_after": load,
            "median_step_images_per_s": round(statistics.median(rates), 3),
            "images": batch * len(kept), "seconds": round(seconds, 3),
            "images_per_s": round(batch * len(kept) / seconds, 3),
            "wall_clock_images_per_s": wall, "step_images_per_s": rates}


results = []
for preset in env["BENCH_PRESETS"].split(","):
    for procs in (1, 2):
        runs = [measure(os.path.join(work, f"{preset}-p{procs}-r{rep}"))
                for rep in range(1, repeats + 1)]
        best = max(runs, key=lambda r: r["images_per_s"])
        results.append({"preset": preset, "processes": procs, "threads_each": threads[procs],
                        "images_per_s": best["images_per_s"], "runs": runs})
for r in results:
    base = next(b for b in results if b["preset"] == r["preset"] and b["processes"] == 1)
    r["speedup_vs_1_process"] = round(r["images_per_s"] / base["images_per_s"], 3)

meta = {"date": env["BENCH_STARTED"], "cpu": env["BENCH_CPU"], "cores": threads[1],
        "danie": env["BENCH_VERSION"], "backend": "gloo", "image_size": 224,
        "global_batch": batch, "augment": True, "iterations": iterations, "warmup": warmup,
        "repeats": repeats, "data": {"dataset": "synapse (danie data generate)",
                                     "cases": int(env["BENCH_CASES"]), "slices": 16,
                                     "size": int(env["BENCH_SIZE"])},
        "load_average_before": env["BENCH_LOAD_BEFORE"],
        "load_average_after": env["BENCH_LOAD_AFTER"], "command": env["BENCH_COMMAND"],
        "work": work}
with open(env["BENCH_JSON"], "w") as f:
    json.dump({**meta, "results": results}, f, indent=2)
    f.write("\n")

lines = [
    "# Data-parallel training on the CPU",
    "",
    f"{meta['date']}; {meta['cpu']}, {meta['cores']} cores; {meta['danie']}; Gloo.",
    "",
    f"`danie train` on a synthetic Synapse layout (`danie data generate`: {meta['data']['cases']}"
    f" cases, 16 slices of {meta['data']['size']} px), input 224, global batch {batch}, TransUNet"
    f" augmentation, pretrained none, {iterations} iterations of which the first {warmup} are"
    f" not counted; 1 process with every core as libtorch and loader threads, 2 processes"
    f" (torchrun variables, local batch {batch // 2}) with half each. images/s: global images"
    f" per second from rank 0's log.jsonl; best of {repeats} alternating runs (all listed)."
    f" Load average {meta['load_average_before']} before, {meta['load_average_after']} after.",
    "",
    "| preset | processes | threads each | images/s | speed-up vs 1 process | repeats (images/s) |",
    "|---|---:|---:|---:|---:|---|",
]
for r in results:
    every = ", ".join(f"{run['images_per_s']:.2f}" for run in r["runs"])
    lines.append(f"| {r['preset']} | {r['processes']} | {r['threads_each']} |"
                 f" {r['images_per_s']:.2f} | {r['speedup_vs_1_process']:.2f}x | {every} |")
lines += ["", f"Command: `{meta['command']}`; every run and step in"
          f" `{os.path.basename(env['BENCH_JSON'])}`.", ""]
with open(env["BENCH_MD"], "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
EOF
echo "==> wrote $report and $report_json (runs and logs in $work)"
