#!/usr/bin/env bash
# What docker-compose.yml does, without Docker: publishes the node and the CLI as the image does,
# makes the keys, certificates and consortium file with the published `ledger` exactly as the compose
# `keys` service does (make-secrets.sh, consortium.env), starts three ledger-node processes with the
# environment of the compose services (node.env), then checks the consortium end to end:
# a leader, the image's health check on every member, an anchor with the issuer key, a receipt
# fetched from another member, `ledger verify` VALID (and INVALID for a changed credential).
#
#   docker/run-local.sh            exit 0 only if every step worked; everything is removed on exit
#
# It builds the working tree, as `docker build` would; LEDGER_RUN_LOCAL_REF=HEAD (any git ref)
# builds that commit instead.
#
# Only the addresses differ from compose: https://127.0.0.1:<free port> instead of the service
# names, and each member's absolute container paths (/data, /secrets/...) live under its own
# temporary folder. LEDGER_RUN_LOCAL_KEEP=1 keeps the temporary folder (logs) for inspection.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ledger-run-local.XXXXXX")
pids=()
step_timeout=60

say() { echo "run-local: $*"; }

cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
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
cli=(dotnet "$tmp/app/ledger.dll")
ledger() { timeout "$step_timeout" "${cli[@]}" "$@"; }

# 2. Three free ports on 127.0.0.1, one per member of consortium.env.
mapfile -t settings < <(read_env "$here/consortium.env")
for setting in "${settings[@]}"; do export "${setting?}"; done
IFS=',' read -r -a members <<< "$LEDGER_MEMBERS"
ports=()
for _ in $(seq 1 200); do
  [ "${#ports[@]}" -eq "${#members[@]}" ] && break
  port=$((20000 + RANDOM % 40000))
  case " ${ports[*]} " in *" $port "*) continue ;; esac
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ports+=("$port"); fi
done
[ "${#ports[@]}" -eq "${#members[@]}" ] || fail "no free ports found"
addresses=()
for i in "${!members[@]}"; do addresses+=("https://127.0.0.1:${ports[$i]}"); done
LEDGER_ADDRESSES=$(IFS=','; echo "${addresses[*]}")
export LEDGER_ADDRESSES
nodes=$LEDGER_ADDRESSES

# 3. Keys, certificates and the consortium file, as `docker-compose run --rm keys` makes them.
say "making keys and the consortium file (make-secrets.sh) for $nodes"
LEDGER_CLI="${cli[*]}" timeout 120 "$here/make-secrets.sh" "$tmp/secrets" | sed 's/^/  /'
# What every client of these members needs to trust their certificates (the nodes get it from node.env).
export SSL_CERT_FILE="$tmp/secrets/shared/ca.pem"

# 4. The members, each with node.env exactly as its compose service gets it. The compose file must
#    still give each member node.env and the same two secret folders, or this would test something else.
compose="$here/docker-compose.yml"
mapfile -t node_env < <(read_env "$here/node.env")
for i in "${!members[@]}"; do
  name=${members[$i]}
  for expected in "./secrets/$name:/secrets/member:ro" "./secrets/shared:/secrets/shared:ro"; do
    grep -qF -- "$expected" "$compose" || fail "docker-compose.yml no longer mounts $expected: update run-local.sh with it"
  done
  root="$tmp/members/$name"
  mkdir -p "$root/data" "$root/secrets"
  ln -s "$tmp/secrets/$name" "$root/secrets/member"
  ln -s "$tmp/secrets/shared" "$root/secrets/shared"
  environment=()
  for setting in "${node_env[@]}"; do
    key=${setting%%=*}
    value=${setting#*=}
    if [ "$key" = Ledger__Listen ]; then
      value="${value%%://*}://127.0.0.1:${ports[$i]}"
    elif [[ $value == /* ]]; then
      value="$root$value"
    fi
    environment+=("$key=$value")
  done
  (cd "$root" && exec env "${environment[@]}" dotnet "$tmp/app/ledger-node.dll" > "$root/node.log" 2>&1) &
  pids+=("$!")
  say "started $name (pid $!) on ${addresses[$i]}"
done
grep -qF "env_file" "$compose" && grep -qF "node.env" "$compose" || fail "docker-compose.yml no longer reads node.env"

# 5. A leader, seen by every member, and the image's HEALTHCHECK command passing on each.
say "waiting for a leader"
leader=""
for _ in $(seq 1 240); do
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a member exited during start"; done
  if status=$(ledger status --node "$nodes" --json 2>/dev/null) && [[ $status =~ \"leader\":\"([^\"]+)\" ]]; then
    leader=${BASH_REMATCH[1]}
    break
  fi
  sleep 0.5
done
[ -n "$leader" ] || fail "no leader after 120 s"
say "leader: $leader"
for i in "${!members[@]}"; do
  ledger status --node "${addresses[$i]}" > /dev/null || fail "health check (ledger status) failed on ${members[$i]}"
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

# 7. Stop the members (the trap does it on any exit; here first, so that a member failing to stop shows).
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && fail "member pid $pid did not stop within 10 s"
done
pids=()
say "members stopped"
