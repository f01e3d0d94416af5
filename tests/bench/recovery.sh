#!/usr/bin/env bash
# Recovery measurements on a local 3-member consortium (ledger dev up, 127.0.0.1 only):
#
#   1. failover: under load (16 clients x 100 digests), kill -9 the leader, then anchor one digest
#      through all members with `ledger anchor` until it succeeds. Prints the seconds from the kill
#      to the acknowledged anchor (the CLI's own start, about 0.3-0.5 s, included) and the load's
#      worst request latency across the kill.
#   2. catch-up: kill -9 a follower, anchor CATCH_UP_DIGESTS more digests through the two others,
#      stop the load, restart the follower on the same data. Prints the seconds from its process
#      start until its own tree holds every digest, and how many digests it was behind.
#
# Usage: tests/bench/recovery.sh
#   CATCH_UP_DIGESTS   how far behind the follower falls (default 1000000)
#   BENCH_CLIENTS, BENCH_BATCH   the load's shape (default 16 x 100)
#   RECOVERY_NO_BUILD=1          use the Release builds already there
# Everything runs in a temporary folder that is removed on exit, with every process it started.
set -euo pipefail

behind="${CATCH_UP_DIGESTS:-1000000}"
clients="${BENCH_CLIENTS:-16}"
batch="${BENCH_BATCH:-100}"
for value in "$behind" "$clients" "$batch"; do
  if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "recovery: expected positive integers, got '$value'" >&2
    exit 2
  fi
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ledger_dll="$repo/client-sdk/Ledger.Cli/bin/Release/net10.0/ledger.dll"
node_dll="$repo/node/Ledger.Node/bin/Release/net10.0/ledger-node.dll"
if [ "${RECOVERY_NO_BUILD:-}" != 1 ]; then
  dotnet build -c Release "$repo/node/Ledger.Node" -v q -nologo >/dev/null
  dotnet build -c Release "$repo/client-sdk/Ledger.Cli" -v q -nologo >/dev/null
fi

work="$(mktemp -d -t ledger-recovery.XXXXXX)"
dev="$work/dev"
started=()   # members this script restarted itself (dev down stops the others)
load_pid=""
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -d "$dev" ]; then
    mkdir -p "$work.logs"
    for name in member-a member-b member-c; do cp "$dev/$name/node.log" "$work.logs/$name.log" 2>/dev/null || true; done
    echo "recovery: the members' logs are kept in $work.logs" >&2
  fi
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  dotnet "$ledger_dll" dev down --dir "$dev" >/dev/null 2>&1 || true
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "recovery: a command failed at line $LINENO" >&2' ERR

ledger() { dotnet "$ledger_dll" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# True when more than $2 seconds passed since $1.
past() { awk -v a="$1" -v b="$(now)" -v limit="$2" 'BEGIN { exit !(b - a > limit) }'; }
# Starts a member again with the command line dev up gave it: restart NAME; sets $restarted.
restart() {
  local address data
  address="$(member_field "$1" address)"
  data="$(member_field "$1" dataDir)"
  dotnet "$node_dll" --data-dir "$data" --consortium "$dev/consortium.json" --member-key "$data/member.key" \
    --listen "$address" >>"$data/node.log" 2>&1 &
  restarted=$!
  started+=("$restarted")
}

# Field of one member in dev.json: member_field NAME KEY (address, dataDir, pid).
member_field() {
  tr -d '\n ' <"$dev/dev.json" | grep -o "{\"id\":\"$1\"[^}]*}" | grep -o "\"$2\":[^,}]*" | cut -d: -f2- | tr -d '"'
}
# The answering node's own tree size, or nothing when it does not answer.
tree_size_of() {
  ledger status --node "$1" --json 2>/dev/null | grep -o '"treeSize":[0-9]*' | head -1 | cut -d: -f2 || true
}
leader_name() {
  ledger status --node "$nodes" --json 2>/dev/null | grep -o '"leader":"[^"]*"' | cut -d'"' -f4 || true
}
wait_for_leader() {
  local name="" i
  for ((i = 0; i < 100; i++)); do
    name="$(leader_name)"
    [ -n "$name" ] && { echo "$name"; return 0; }
    sleep 0.2
  done
  echo "recovery: no leader elected" >&2
  return 1
}

ledger dev up --members 3 --dir "$dev" --node-binary "$node_dll" >/dev/null
nodes="$(ledger dev nodes --dir "$dev")"
issuer="$dev/dev-issuer.key"
ledger bench --node "$nodes" --issuer-key "$issuer" --clients "$clients" --batch "$batch" --seconds 10 >/dev/null

# 1. Failover.
ledger bench --node "$nodes" --issuer-key "$issuer" --clients "$clients" --batch "$batch" --seconds 15 >"$work/failover-load.txt" 2>&1 &
load_pid=$!
# Kill once the load is flowing (its own start takes a few seconds on a busy machine).
before="$(tree_size_of "$nodes")"
until [ "$(tree_size_of "$nodes")" -gt "$((${before:-0} + 50 * batch))" ] 2>/dev/null; do sleep 0.2; done
sleep 2
leader="$(wait_for_leader)"
kill -9 "$(member_field "$leader" pid)"
killed_at="$(now)"
head -c 64 /dev/urandom >"$work/one-badge"
until ledger anchor "$work/one-badge" --issuer-key "$issuer" --node "$nodes" --receipts "$work/receipts" >"$work/anchor.txt" 2>&1; do
  if past "$killed_at" 60; then
    echo "recovery: no anchor acknowledged within 60 s of the leader's kill; the last try said: $(cat "$work/anchor.txt")" >&2
    exit 1
  fi
done
resumed="$(elapsed "$killed_at" "$(now)")"
wait "$load_pid" || true
load_pid=""
echo "failover: leader $leader killed under load; one anchor acknowledged ${resumed} s after the kill; load across the kill: $(tail -1 "$work/failover-load.txt")"

# Bring the old leader back before the catch-up run.
restart "$leader"
old_leader="$leader"
old_leader_pid="$restarted"
until [ -n "$(tree_size_of "$(member_field "$old_leader" address)")" ]; do sleep 0.2; done

# 2. Catch-up: a follower falls $behind digests behind, then restarts.
leader="$(wait_for_leader)"
follower="$(for name in member-a member-b member-c; do if [ "$name" != "$leader" ]; then echo "$name"; fi; done | head -1)"
f_address="$(member_field "$follower" address)"
# The follower first holds everything the leader applied: a member restarted by the failover run may
# still be catching up, and what it already has in its own log would count as behind.
settled_from="$(now)"
while true; do
  start_size="$(tree_size_of "$f_address")"
  [ -n "$start_size" ] && [ "$start_size" = "$(tree_size_of "$(member_field "$leader" address)")" ] && break
  if past "$settled_from" 120; then
    echo "recovery: $follower did not reach the leader's tree within 120 s before the catch-up run" >&2
    exit 1
  fi
  sleep 0.5
done
if [ "$follower" = "$old_leader" ]; then kill -9 "$old_leader_pid"; else kill -9 "$(member_field "$follower" pid)"; fi
others="$(echo "$nodes" | tr ',' '\n' | grep -v "^$f_address\$" | paste -sd, -)"
target=$((start_size + behind))
size="$start_size"
while [ "$size" -lt "$target" ]; do
  ledger bench --node "$others" --issuer-key "$issuer" --clients "$clients" --batch "$batch" --seconds 5 >/dev/null 2>&1 || true
  size="$(tree_size_of "$others")"
  size="${size:-0}"
done
started_at="$(now)"
restart "$follower"
serving=""
while true; do
  own="$(tree_size_of "$f_address")"
  if [ -n "$own" ] && [ -z "$serving" ]; then serving="$(elapsed "$started_at" "$(now)")"; fi
  [ -n "$own" ] && [ "$own" -ge "$size" ] && break
  if past "$started_at" 300; then
    echo "recovery: the follower did not catch up within 300 s (own tree ${own:-?} of $size)" >&2
    exit 1
  fi
  sleep 0.2
done
caught_up="$(elapsed "$started_at" "$(now)")"
echo "catch-up: $follower restarted $((size - start_size)) digests behind (tree $start_size -> $size); answering after ${serving} s, caught up ${caught_up} s after its process started"
