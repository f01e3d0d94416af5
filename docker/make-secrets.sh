#!/usr/bin/env bash
# Creates everything a demonstration consortium needs at run time, into one folder (never into an
# image): a member key, a TLS key and certificate per member, an issuer key, a private certificate
# authority, and the consortium file.
#
#   make-secrets.sh OUT_DIR
#
# Settings come from the environment (docker/consortium.env): LEDGER_ORIGIN, LEDGER_MEMBERS,
# LEDGER_ADDRESSES (comma-separated, same order; empty: no addresses, the members discover each other),
# LEDGER_TLS_IPS (optional, same order: an IP address each certificate also names), LEDGER_ISSUER,
# LEDGER_ISSUER_DISPLAY, LEDGER_TLS_DAYS.
# LEDGER_CLI is how to run the `ledger` tool (default: dotnet /app/ledger.dll, as in the image).
# LEDGER_SECRETS_OWNER=uid:gid hands the files to that user when run as root (the compose `keys`
# service runs as root to write into the bind-mounted folder and gives it to the image's user).
#
# Layout written:
#   OUT_DIR/shared/consortium.json, ca.pem      public: every member and every verifier gets these
#   OUT_DIR/<member>/member.key, tls.key, tls.pem  one folder per member, mounted into that member only
#   OUT_DIR/issuer/<issuer>.key                the issuer's signer key
#   OUT_DIR/ca/ca.key                          signs certificates; keep it offline
# Private keys are mode 0600 in 0700 folders. An existing consortium file is never overwritten.
set -euo pipefail

out=${1:?usage: make-secrets.sh OUT_DIR}
read -r -a cli <<< "${LEDGER_CLI:-dotnet /app/ledger.dll}"
IFS=',' read -r -a members <<< "${LEDGER_MEMBERS:?LEDGER_MEMBERS is not set (see consortium.env)}"
IFS=',' read -r -a addresses <<< "${LEDGER_ADDRESSES-}"
IFS=',' read -r -a tls_ips <<< "${LEDGER_TLS_IPS-}"
origin=${LEDGER_ORIGIN:?LEDGER_ORIGIN is not set (see consortium.env)}
issuer=${LEDGER_ISSUER:?LEDGER_ISSUER is not set (see consortium.env)}
issuer_display=${LEDGER_ISSUER_DISPLAY:-$issuer}
days=${LEDGER_TLS_DAYS:-825}

if [ "${#members[@]}" -lt 1 ] || [ "${#members[@]}" -gt 15 ]; then
  echo "make-secrets: LEDGER_MEMBERS must list 1 to 15 members" >&2
  exit 2
fi
if [ "${#addresses[@]}" -ne 0 ] && [ "${#addresses[@]}" -ne "${#members[@]}" ]; then
  echo "make-secrets: LEDGER_ADDRESSES must be empty (discovery) or list one address per member of LEDGER_MEMBERS" >&2
  exit 2
fi
if [ "${#tls_ips[@]}" -ne 0 ] && [ "${#tls_ips[@]}" -ne "${#members[@]}" ]; then
  echo "make-secrets: LEDGER_TLS_IPS must be empty or list one IP address per member of LEDGER_MEMBERS" >&2
  exit 2
fi
if [ -e "$out/shared/consortium.json" ]; then
  echo "make-secrets: $out/shared/consortium.json already exists; nothing changed (delete $out to start over)" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "make-secrets: openssl is needed for the TLS certificates" >&2; exit 2; }

umask 077
mkdir -p "$out/shared" "$out/ca" "$out/issuer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A private certificate authority: members check each other's certificates against it (SSL_CERT_FILE).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days "$days" \
  -subj "/CN=${origin%%/*} demo CA" -keyout "$out/ca/ca.key" -out "$out/shared/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>"$work/openssl.log" \
  || { cat "$work/openssl.log" >&2; exit 1; }

member_args=()
for i in "${!members[@]}"; do
  name=${members[$i]}
  address=${addresses[$i]:-}
  mkdir -p "$out/$name"
  key=$("${cli[@]}" keygen --name "$name" --out "$out/$name/member.key")
  if [ -n "$address" ]; then member_args+=(--member "$key@$address"); else member_args+=(--member "$key"); fi

  # Its TLS certificate names the address's host (or, without an address, the member id: the compose
  # service name), the member's fixed IP address if LEDGER_TLS_IPS gives one (where discovery finds
  # it), and the loopback addresses, so that the container's own health check can reach it.
  host=$name
  if [ -n "$address" ]; then host=${address#*://}; host=${host%%/*}; host=${host%:*}; fi
  if [[ $host =~ ^[0-9.]+$ ]]; then san="IP:$host"; else san="DNS:$host"; fi
  ip=${tls_ips[$i]:-}
  if [ -n "$ip" ] && [ "$ip" != "$host" ]; then san="$san,IP:$ip"; fi
  printf 'subjectAltName=%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$san" > "$work/$name.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -subj "/CN=$name" \
    -keyout "$out/$name/tls.key" -out "$work/$name.csr" 2>>"$work/openssl.log" \
    && openssl x509 -req -sha256 -days "$days" -in "$work/$name.csr" -CA "$out/shared/ca.pem" -CAkey "$out/ca/ca.key" \
      -CAcreateserial -CAserial "$work/ca.srl" -extfile "$work/$name.ext" -out "$out/$name/tls.pem" 2>>"$work/openssl.log" \
    || { cat "$work/openssl.log" >&2; exit 1; }
done

issuer_key=$("${cli[@]}" keygen --name "$issuer" --out "$out/issuer/$issuer.key")
"${cli[@]}" consortium assemble --origin "$origin" "${member_args[@]}" \
  --issuer "$issuer_key@$issuer_display" --out "$out/shared/consortium.json" >/dev/null
"${cli[@]}" consortium check "$out/shared/consortium.json" >/dev/null

# Public files readable by all; private keys stay 0600 (keygen and umask 077 made them so).
chmod 0755 "$out" "$out/shared"
chmod 0644 "$out/shared/consortium.json" "$out/shared/ca.pem"
for name in "${members[@]}"; do chmod 0644 "$out/$name/tls.pem"; done
if [ "$(id -u)" = 0 ] && [ -n "${LEDGER_SECRETS_OWNER:-}" ]; then
  chown -R "$LEDGER_SECRETS_OWNER" "$out"
fi

echo "consortium $origin: ${#members[@]} members, issuer $issuer"
echo "  $out/shared/consortium.json   (public: members and verifiers)"
echo "  $out/shared/ca.pem            (public: the certificate authority of the members' TLS certificates)"
for i in "${!members[@]}"; do
  echo "  $out/${members[$i]}/           member key and TLS key (private), certificate for ${addresses[$i]:-${members[$i]} (found by discovery)}"
done
echo "  $out/issuer/$issuer.key   (private: the issuer's signer key)"
echo "  $out/ca/ca.key                (private: keep offline)"
