#!/usr/bin/env bash
# Side-by-side load test: a 3-member etcd 3.4 cluster against a 3-member Ledger consortium, both on
# 127.0.0.1 on this machine, one after the other, with the same client concurrency.
#
#   etcd:   etcd-load --clients 16 --batch 100   (one transaction of 100 puts of random 32-byte keys per request)
#   Ledger: ledger bench --clients 16 --batch 100 (one anchor request of 100 random digests per request)
#
# Usage: tests/bench/compare-etcd.sh [SECONDS]
#   SECONDS          seconds per run (default: $SECONDS_PER_RUN, else 20)
#   LEDGER_MEMBERS   members of the Ledger consortium (default 3)
#   ETCD_MEMBERS     members of the etcd cluster (default 3)
#   BENCH_CLIENTS    concurrent clients for both runs (default 16)
#   BENCH_BATCH      puts per transaction / digests per request (default 100)
#   WARMUP_SECONDS   an uncounted run of this length before each measured one, so that both .NET
#                    programs (etcd-load, ledger-node) have compiled their hot paths (default 10; 0: none)
#   COMPARE_NO_BUILD=1  skip building the three programs (use the Release builds already there)
#
# Prints both result lines and then
#   ratio digests_per_s/keys_per_s=<r> ledger_p99_ms=<a> etcd_p99_ms=<b>
# Everything it starts runs on 127.0.0.1 in a temporary folder, and is stopped and removed on exit.
set -euo pipefail

seconds="${1:-${SECONDS_PER_RUN:-20}}"
ledger_members="${LEDGER_MEMBERS:-3}"
etcd_members="${ETCD_MEMBERS:-3}"
clients="${BENCH_CLIENTS:-16}"
batch="${BENCH_BATCH:-100}"
warmup="${WARMUP_SECONDS:-10}"
if ! [[ "$warmup" =~ ^[0-9]+$ ]]; then
  echo "compare-etcd: WARMUP_SECONDS must be a whole number of seconds, got '$warmup'" >&2
  exit 2
fi
for value in "$seconds" "$ledger_members" "$etcd_members" "$clients" "$batch"; do
  if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "compare-etcd: expected positive integers, got '$value'" >&2
    exit 2
  fi
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ledger_dll="$repo/client-sdk/Ledger.Cli/bin/Release/net10.0/ledger.dll"
node_dll="$repo/node/Ledger.Node/bin/Release/net10.0/ledger-node.dll"
load_dll="$repo/tests/Ledger.EtcdLoad/bin/Release/net10.0/etcd-load.dll"

work=""
etcd_pids=()
dev_dir=""
step_pid=""

# Stops a process: TERM, up to 10 s to exit, then KILL.
stop_process() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Runs a command in the background and waits for it, so that Ctrl-C or TERM reaches the traps
# at once (bash defers traps while a foreground command runs) and the cleanup can stop it.
run_step() {
  "$@" &
  step_pid=$!
  local status=0
  wait "$step_pid" || status=$?
  step_pid=""
  return "$status"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  if [[ -n "$step_pid" ]]; then
    stop_process "$step_pid"
  fi
  for pid in "${etcd_pids[@]}"; do
    stop_process "$pid"
  done
  if [[ -n "$dev_dir" && -f "$dev_dir/dev.json" ]]; then
    dotnet "$ledger_dll" dev down --dir "$dev_dir" >/dev/null 2>&1 || true
  fi
  # Whatever `dev down` could not stop (or a dev.json it never got to write): the node processes
  # recorded in the folder, signalled only while they still run ledger-node.
  if [[ -n "$dev_dir" && -d "$dev_dir" ]]; then
    local json
    for json in "$dev_dir/dev.json" "$dev_dir/dev.json.tmp"; do
      [[ -f "$json" ]] || continue
      for pid in $(python3 -c 'import json,sys; print(" ".join(str(m["pid"]) for m in json.load(open(sys.argv[1]))["members"]))' "$json" 2>/dev/null || true); do
        if grep -q ledger-node "/proc/$pid/cmdline" 2>/dev/null; then
          kill -9 "$pid" 2>/dev/null || true
        fi
      done
    done
  fi
  if [[ -n "$work" ]]; then
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "compare-etcd: $*" >&2; }

# --- prerequisites -------------------------------------------------------------------------------
if ! command -v etcd >/dev/null 2>&1; then
  if [[ "$(id -u)" -ne 0 ]]; then
    log "etcd is not installed; run as root to install the Debian package etcd-server, or install it yourself"
    exit 1
  fi
  log "installing etcd-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
log "$(etcd --version | head -1)"

work="$(mktemp -d -t compare-etcd.XXXXXX)"
dev_dir="$work/ledger-dev"

if [[ "${COMPARE_NO_BUILD:-0}" == 1 ]]; then
  log "COMPARE_NO_BUILD=1: using the Release builds already there"
else
  log "building ledger, ledger-node and etcd-load (Release)"
  for project in client-sdk/Ledger.Cli/Ledger.Cli.csproj node/Ledger.Node/Ledger.Node.csproj tests/Ledger.EtcdLoad/Ledger.EtcdLoad.csproj; do
    if ! dotnet build "$repo/$project" -c Release -nologo -v quiet >"$work/build.log" 2>&1; then
      log "building $project failed:"
      grep -E ': error ' "$work/build.log" | sort -u | head -20 >&2 || tail -20 "$work/build.log" >&2
      exit 1
    fi
  done
fi
for dll in "$ledger_dll" "$node_dll" "$load_dll"; do
  if [[ ! -f "$dll" ]]; then
    log "$dll is missing"
    exit 1
  fi
done

# Free ports on 127.0.0.1, all held open at once while being chosen so none repeats.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# Last line of a run's output that starts with the given key, or nothing.
result_line() { grep -E "^$1=" "$2" | tail -1 || true; }
load_average() { cut -d' ' -f1 /proc/loadavg; }
field() { sed -nE "s/.*(^| )$1=([^ ]+).*/\\2/p" <<<"$2"; }

# --- etcd ----------------------------------------------------------------------------------------
read -r -a ports <<<"$(free_ports $((2 * etcd_members)))"
initial_cluster=""
client_urls=()
for ((i = 0; i < etcd_members; i++)); do
  peer_port="${ports[$((2 * i))]}"
  initial_cluster+="${initial_cluster:+,}etcd-$i=http://127.0.0.1:$peer_port"
done
token="compare-etcd-$$"
for ((i = 0; i < etcd_members; i++)); do
  peer_port="${ports[$((2 * i))]}"
  client_port="${ports[$((2 * i + 1))]}"
  client_urls+=("http://127.0.0.1:$client_port")
  etcd \
    --name "etcd-$i" \
    --data-dir "$work/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:$client_port" \
    --advertise-client-urls "http://127.0.0.1:$client_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "$initial_cluster" \
    --initial-cluster-state new \
    --initial-cluster-token "$token" \
    >"$work/etcd-$i.log" 2>&1 &
  etcd_pids+=("$!")
done
endpoints="$(IFS=,; echo "${client_urls[*]}")"

log "waiting for $etcd_members etcd members at $endpoints"
healthy=0
for ((attempt = 0; attempt < 120 && healthy == 0; attempt++)); do
  healthy=1
  for url in "${client_urls[@]}"; do
    if ! curl -fsS --max-time 2 "$url/health" 2>/dev/null | grep -q '"health":"true"'; then
      healthy=0
      break
    fi
  done
  ((healthy == 1)) || sleep 0.5
done
if ((healthy == 0)); then
  log "etcd did not become healthy; the first member's log ends with:"
  tail -20 "$work/etcd-0.log" >&2
  exit 1
fi

etcd_load="$(load_average)"
log "etcd: $clients clients x $batch puts per transaction for ${seconds}s (load average $etcd_load)"
if ((warmup > 0)); then
  log "etcd: ${warmup}s warm-up run (not counted)"
  run_step dotnet "$load_dll" --endpoints "$endpoints" --clients "$clients" --batch "$batch" --seconds "$warmup" >/dev/null || true
fi
etcd_status=0
run_step dotnet "$load_dll" --endpoints "$endpoints" --clients "$clients" --batch "$batch" --seconds "$seconds" \
  >"$work/etcd-load.out" || etcd_status=$?
cat "$work/etcd-load.out"
etcd_line="$(result_line keys_per_s "$work/etcd-load.out")"

# etcd stops before Ledger starts: the two never share the machine.
for pid in "${etcd_pids[@]}"; do
  stop_process "$pid"
done
etcd_pids=()

# --- Ledger --------------------------------------------------------------------------------------
log "starting a $ledger_members-member Ledger consortium in $dev_dir"
run_step dotnet "$ledger_dll" dev up --members "$ledger_members" --dir "$dev_dir" --node-binary "$node_dll" >&2
nodes="$(python3 -c 'import json,sys; print(",".join(m["address"] for m in json.load(open(sys.argv[1]))["members"]))' "$dev_dir/dev.json")"
issuer_key="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuerKey"])' "$dev_dir/dev.json")"

ledger_load="$(load_average)"
log "ledger: $clients clients x $batch digests per request for ${seconds}s against $nodes (load average $ledger_load)"
if ((warmup > 0)); then
  log "ledger: ${warmup}s warm-up run (not counted)"
  run_step dotnet "$ledger_dll" bench --node "$nodes" --issuer-key "$issuer_key" --clients "$clients" --batch "$batch" --seconds "$warmup" >/dev/null || true
fi
ledger_status=0
run_step dotnet "$ledger_dll" bench --node "$nodes" --issuer-key "$issuer_key" --clients "$clients" --batch "$batch" --seconds "$seconds" \
  >"$work/ledger-bench.out" || ledger_status=$?
cat "$work/ledger-bench.out"
ledger_line="$(result_line digests_per_s "$work/ledger-bench.out")"

run_step dotnet "$ledger_dll" dev down --dir "$dev_dir" >&2

# --- summary -------------------------------------------------------------------------------------
echo "etcd   ($etcd_members members): ${etcd_line:-no result (exit $etcd_status)}"
echo "ledger ($ledger_members members): ${ledger_line:-no result (exit $ledger_status)}"
# Both programs share the machine with whatever else runs; a high load average makes the numbers noise.
echo "load average (1 min) before each run: etcd $etcd_load ledger $ledger_load; cores $(nproc)"
if [[ -z "$etcd_line" || -z "$ledger_line" ]]; then
  exit 1
fi
keys_per_s="$(field keys_per_s "$etcd_line")"
digests_per_s="$(field digests_per_s "$ledger_line")"
etcd_p99="$(field p99_ms "$etcd_line")"
ledger_p99="$(field p99_ms "$ledger_line")"
ratio="$(python3 -c 'import sys; k=float(sys.argv[2]); print(f"{float(sys.argv[1])/k:.2f}" if k > 0 else "inf")' "$digests_per_s" "$keys_per_s")"
echo "ratio digests_per_s/keys_per_s=$ratio ledger_p99_ms=$ledger_p99 etcd_p99_ms=$etcd_p99"
if ((etcd_status != 0 || ledger_status != 0)); then
  log "a run reported errors (etcd-load exit $etcd_status, ledger bench exit $ledger_status)"
  exit 1
fi
