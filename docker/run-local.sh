#!/usr/bin/env bash
# What docker-compose.yml does, without Docker: publishes the node and the CLI as the image does,
# makes the keys, certificates and consortium file with the published `ledger` exactly as the compose
# `keys` service does (make-secrets.sh, consortium.env), starts three ledger-node processes with the
# environment of the compose services (node.env), then checks the consortium end to end:
# the members find each other (mDNS discovery) and elect a leader, the image's health check passes on
# every member, an anchor with the issuer key, a receipt fetched from another member, `ledger verify`
# VALID (and INVALID for a changed credential), every member's metrics endpoint counts the anchor;
# then the leader is killed: the health probe answers on the others throughout, a new leader
# anchors, and the old leader, restarted, catches up.
#
#   docker/run-local.sh            exit 0 only if every step worked; everything is removed on exit
#
# It builds the working tree, as `docker build` would; LEDGER_RUN_LOCAL_REF=HEAD (any git ref)
# builds that commit instead.
#
# Only the addresses differ from compose: 127.0.0.1 and free ports instead of the compose network,
# and each member's absolute container paths (/data, /secrets/...) live under its own temporary
# folder. Run as root (with iproute2), the members run in a network namespace made for the run, and
# discover each other there on its loopback (multicast never reaches the machine's own interfaces);
# otherwise (LEDGER_RUN_LOCAL_NETNS=0, or not root) discovery is off and the consortium file pins the
# addresses. LEDGER_RUN_LOCAL_KEEP=1 keeps the temporary folder (logs) for inspection.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ledger-run-local.XXXXXX")
pids=()
step_timeout=60
netns=""

say() { echo "run-local: $*"; }

cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$netns" ]; then ip netns del "$netns" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then
    for log in "$tmp"/members/*/node.log; do
      [ -f "$log" ] && { echo "--- last lines of $log"; tail -n 20 "$log"; }
    done
  fi
  if [ "${LEDGER_RUN_LOCAL_KEEP:-0}" = 1 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  if [ "$status" -eq 0 ]; then say "OK"; else say "FAILED (exit $status)"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "run-local: $*" >&2; exit 1; }

# Reads KEY=value lines (consortium.env, node.env) as compose does: no quotes, # comments.
read_env() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in ''|'#'*) ;; *) printf '%s\n' "$line" ;; esac
  done < "$1"
}

# 1. Publish the node and the CLI like the image's build stage: from a copy of the same sources
#    (so that this never touches the repository's bin/ and obj/ folders), for linux-x64.
say "publishing ledger-node and ledger (Release, linux-x64) into $tmp/app"
mkdir -p "$tmp/src" "$tmp/app"
sources=(Directory.Build.props Directory.Packages.props global.json .editorconfig consensus client-sdk node)
if [ -n "${LEDGER_RUN_LOCAL_REF:-}" ]; then
  # A committed version instead of the working tree, e.g. LEDGER_RUN_LOCAL_REF=HEAD.
  git -C "$repo" archive --format=tar "$LEDGER_RUN_LOCAL_REF" -- "${sources[@]}" | tar -xf - -C "$tmp/src"
else
  (cd "$repo" && tar -cf - --exclude=bin --exclude=obj --exclude=ledger-data --exclude=ledger-dev "${sources[@]}") \
    | tar -xf - -C "$tmp/src"
fi
for project in node/Ledger.Node client-sdk/Ledger.Cli; do
  timeout 600 dotnet publish "$tmp/src/$project" -c Release -r linux-x64 --self-contained false \
    -o "$tmp/app" -nologo -v quiet > "$tmp/publish.log" 2>&1 \
    || { tail -n 30 "$tmp/publish.log" >&2; fail "dotnet publish $project failed"; }
done
# 2. Where the members run: a network namespace of their own when possible (then discovery is on,
#    on its loopback, as on the compose network's interface), else this machine's 127.0.0.1.
in_net=()
if [ "${LEDGER_RUN_LOCAL_NETNS:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v ip > /dev/null; then
  netns="ledger-run-local-$$-$RANDOM"
  ip netns add "$netns" || fail "could not create the network namespace $netns"
  ip -n "$netns" link set lo up
  ip -n "$netns" link set lo multicast on
  ip -n "$netns" route add 224.0.0.0/4 dev lo
  in_net=(ip netns exec "$netns")
  say "members run in the network namespace $netns; discovery on its loopback"
else
  say "not root or LEDGER_RUN_LOCAL_NETNS=0: members run on this machine's 127.0.0.1, discovery off, addresses pinned"
fi
cli=("${in_net[@]}" dotnet "$tmp/app/ledger.dll")
ledger() { timeout "$step_timeout" "${cli[@]}" "$@"; }

# Three free ports for the members' listeners and three for their metrics listeners, on 127.0.0.1.
mapfile -t settings < <(read_env "$here/consortium.env")
for setting in "${settings[@]}"; do export "${setting?}"; done
IFS=',' read -r -a members <<< "$LEDGER_MEMBERS"
ports=()
for _ in $(seq 1 400); do
  [ "${#ports[@]}" -eq "$((2 * ${#members[@]}))" ] && break
  port=$((20000 + RANDOM % 40000))
  case " ${ports[*]} " in *" $port "*) continue ;; esac
  if [ -n "$netns" ] || ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ports+=("$port"); fi
done
[ "${#ports[@]}" -eq "$((2 * ${#members[@]}))" ] || fail "no free ports found"
addresses=()
metrics=()
for i in "${!members[@]}"; do
  addresses+=("https://127.0.0.1:${ports[$i]}")
  metrics+=("http://127.0.0.1:${ports[$((i + ${#members[@]}))]}")
done
nodes=$(IFS=','; echo "${addresses[*]}")
# consortium.env leaves the addresses out (the members discover each other); without a namespace
# (no discovery) or when it names some, the consortium file pins the local ones.
if [ -z "$netns" ] || [ -n "${LEDGER_ADDRESSES:-}" ]; then
  LEDGER_ADDRESSES=$nodes
fi
export LEDGER_ADDRESSES

# 3. Keys, certificates and the consortium file, as `docker-compose run --rm keys` makes them.
say "making keys and the consortium file (make-secrets.sh), addresses: ${LEDGER_ADDRESSES:-none, found by discovery}"
LEDGER_CLI="${cli[*]}" timeout 120 "$here/make-secrets.sh" "$tmp/secrets" | sed 's/^/  /'
# What every client of these members needs to trust their certificates (the nodes get it from node.env).
export SSL_CERT_FILE="$tmp/secrets/shared/ca.pem"

# 4. The members, each with node.env exactly as its compose service gets it. The compose file must
#    still give each member node.env and the same two secret folders, or this would test something else.
compose="$here/docker-compose.yml"
mapfile -t node_env < <(read_env "$here/node.env")
# Starts member $1 (an index) in the background with node.env's settings; appends to its log.
start_member() {
  local i=$1 name=${members[$1]} setting key value
  local root="$tmp/members/$name"
  local environment=()
  for setting in "${node_env[@]}"; do
    key=${setting%%=*}
    value=${setting#*=}
    if [ "$key" = Ledger__Listen ]; then
      value="${value%%://*}://127.0.0.1:${ports[$i]}"
    elif [ "$key" = Ledger__MetricsListen ]; then
      value=${metrics[$i]}
    elif [ "$key" = Ledger__DiscoveryInterfaces ]; then
      [ -n "$netns" ] || continue
      value=lo
    elif [[ $value == /* ]]; then
      value="$root$value"
    fi
    environment+=("$key=$value")
  done
  (cd "$root" && exec "${in_net[@]}" env "${environment[@]}" dotnet "$tmp/app/ledger-node.dll" >> "$root/node.log" 2>&1) &
  pids[$i]=$!
  say "started $name (pid $!) on ${addresses[$i]}, metrics on ${metrics[$i]}/metrics"
}
for i in "${!members[@]}"; do
  name=${members[$i]}
  for expected in "./secrets/$name:/secrets/member:ro" "./secrets/shared:/secrets/shared:ro"; do
    grep -qF -- "$expected" "$compose" || fail "docker-compose.yml no longer mounts $expected: update run-local.sh with it"
  done
  root="$tmp/members/$name"
  mkdir -p "$root/data" "$root/secrets"
  ln -s "$tmp/secrets/$name" "$root/secrets/member"
  ln -s "$tmp/secrets/shared" "$root/secrets/shared"
  start_member "$i"
done
grep -qF "env_file" "$compose" && grep -qF "node.env" "$compose" || fail "docker-compose.yml no longer reads node.env"

# 5. Every member sees every member (at the address it found, or the pinned one) as leader or
#    follower, and the image's HEALTHCHECK command passes on each.
# True when member $1's status shows all members serving with an address, and one leader; sets $leader.
sees_all() {
  local status rows
  status=$(ledger status --node "${addresses[$1]}" --json 2>/dev/null) || return 1
  rows=$(grep -o '"address":"https://127\.0\.0\.1:[0-9]*","role":"\(leader\|follower\)"' <<< "$status" | wc -l)
  [ "$rows" -eq "${#members[@]}" ] && [[ $status =~ \"leader\":\"([^\"]+)\" ]] || return 1
  leader=${BASH_REMATCH[1]}
}
say "waiting until every member knows every other and a leader"
for i in "${!members[@]}"; do
  found=0
  for _ in $(seq 1 120); do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a member exited during start"; done
    if sees_all "$i"; then found=1; break; fi
    sleep 1
  done
  [ "$found" = 1 ] || fail "${members[$i]} did not see every member serving within 120 s: $(ledger status --node "${addresses[$i]}" 2>&1)"
done
say "leader: $leader; every member reaches the others$([ -n "$netns" ] && echo " at the addresses discovery found")"
# The Dockerfile's HEALTHCHECK command, against each member.
grep -qF 'CMD dotnet /app/ledger.dll status --health --node "$LEDGER_HEALTH_NODE"' "$here/Dockerfile" \
  || fail "the Dockerfile's HEALTHCHECK changed: update run-local.sh with it"
for i in "${!members[@]}"; do
  ledger status --health --node "${addresses[$i]}" | sed 's/^/  /' || fail "health check (ledger status --health) failed on ${members[$i]}"
done
say "health check passes on every member"

# 6. Anchor a credential with the issuer key, fetch its receipt from another member than the
#    first, and verify it offline against the consortium file.
mkdir -p "$tmp/work"
credential="$tmp/work/badge.json"
printf '{"holder":"run-local","badge":"compose check","nonce":"%s"}\n' "$RANDOM$RANDOM" > "$credential"
ledger anchor "$credential" --issuer-key "$tmp/secrets/issuer/$LEDGER_ISSUER.key" --node "$nodes" \
  --receipts "$tmp/work/receipts" | sed 's/^/  /'
say "anchored $(basename "$credential")"
# A follower: its receipt shows that the entry was replicated and cosigned, not only accepted.
other_index=0
for i in "${!members[@]}"; do
  if [ "${members[$i]}" != "$leader" ]; then other_index=$i; fi
done
other=${addresses[$other_index]}
proved=0
for _ in $(seq 1 40); do
  if ledger prove --file "$credential" --node "$other" --out "$tmp/work/badge.tlog-proof" > /dev/null 2>&1; then
    proved=1
    break
  fi
  sleep 0.5
done
[ "$proved" = 1 ] || fail "ledger prove from $other found no receipt"
say "receipt fetched from ${members[$other_index]} ($other), a follower"
verify_output=$(ledger verify "$tmp/work/badge.tlog-proof" --consortium "$tmp/secrets/shared/consortium.json" --file "$credential") \
  || { echo "$verify_output"; fail "ledger verify did not accept the receipt"; }
echo "$verify_output" | sed 's/^/  /'
[ "$(echo "$verify_output" | head -n 1)" = VALID ] || fail "ledger verify did not print VALID"

# The same receipt must not vouch for a changed credential.
printf 'changed\n' >> "$credential"
set +e
tampered=$(ledger verify "$tmp/work/badge.tlog-proof" --consortium "$tmp/secrets/shared/consortium.json" --file "$credential" 2>&1)
tampered_exit=$?
set -e
[ "$tampered_exit" = 1 ] && [[ $tampered == INVALID* ]] || fail "a changed credential was not reported INVALID (exit $tampered_exit): $tampered"
say "a changed credential is INVALID, as it must be"

# 7. The metrics endpoint of every member: the tree holds the anchored credential everywhere, and the
#    anchor was counted.
# Prints member $1's scrape (HTTP/1.1 on its metrics listener).
scrape() {
  local hostport=${metrics[$1]#http://}
  "${in_net[@]}" timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1#*:}" && printf "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3 && cat <&3' _ "$hostport"
}
# The value of metric $2 (no labels) in member $1's scrape, or 0.
metric() { { scrape "$1" 2>/dev/null || true; } | tr -d '\r' | awk -v name="$2" '$1 == name || index($1, name "{") == 1 { sum += $NF } END { print sum + 0 }'; }
anchors=0
for i in "${!members[@]}"; do
  for _ in $(seq 1 40); do
    [ "$(metric "$i" ledger_tree_size)" = 1 ] && break
    sleep 0.5
  done
  [ "$(metric "$i" ledger_tree_size)" = 1 ] || fail "${members[$i]}: ledger_tree_size is not 1 on ${metrics[$i]}/metrics"
  anchors=$((anchors + $(metric "$i" ledger_anchors_total)))
done
# The member that answered the client counts the anchor; a leader does not count what it was forwarded.
[ "$anchors" = 1 ] || fail "the members' ledger_anchors_total add up to $anchors, not 1"
say "metrics: ledger_tree_size 1 on every member, ledger_anchors_total $anchors in all"

# 8. The leader dies: the health probe keeps answering on the others, a new leader takes anchors,
#    and the old leader, restarted on its data, catches up.
for i in "${!members[@]}"; do [ "${members[$i]}" = "$leader" ] && leader_index=$i; done
kill -KILL "${pids[$leader_index]}"
wait "${pids[$leader_index]}" 2>/dev/null || true
say "killed the leader $leader"
others=()
for i in "${!members[@]}"; do [ "$i" = "$leader_index" ] || others+=("${addresses[$i]}"); done
survivors=$(IFS=','; echo "${others[*]}")
new_leader=""
for _ in $(seq 1 120); do
  ledger status --health --node "$survivors" > /dev/null || fail "the health probe failed on a surviving member during the election"
  if status=$(ledger status --node "${others[0]}" --json 2>/dev/null) && [[ $status =~ \"leader\":\"([^\"]+)\" ]] \
    && [ "${BASH_REMATCH[1]}" != "$leader" ]; then
    new_leader=${BASH_REMATCH[1]}
    break
  fi
  sleep 0.5
done
[ -n "$new_leader" ] || fail "no new leader within 60 s of killing $leader"
say "new leader: $new_leader; the health probe answered SERVING on the others throughout"
second="$tmp/work/second.json"
printf '{"holder":"run-local","badge":"after the leader change","nonce":"%s"}\n' "$RANDOM$RANDOM" > "$second"
ledger anchor "$second" --issuer-key "$tmp/secrets/issuer/$LEDGER_ISSUER.key" --node "$survivors" \
  --receipts "$tmp/work/receipts" | sed 's/^/  /'
start_member "$leader_index"
caught_up=0
for _ in $(seq 1 120); do
  [ "$(metric "$leader_index" ledger_tree_size)" = 2 ] && { caught_up=1; break; }
  sleep 1
done
[ "$caught_up" = 1 ] || fail "the restarted $leader did not catch up to tree size 2"
say "$leader restarted and caught up (ledger_tree_size 2)"

# 9. Stop the members (the trap does it on any exit; here first, so that a member failing to stop shows).
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && fail "member pid $pid did not stop within 10 s"
done
pids=()
say "members stopped"
