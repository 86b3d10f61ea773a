#!/usr/bin/env bash
# Where a cached read's instructions go: the release server under callgrind (which counts
# instructions, so the figures repeat whatever else the machine is doing), a listing's cached
# detail requested for $SECONDS s, then the instructions per request and the functions that take
# them. `BEARER=1` sends a citizen's token signed in through the eID simulator.
#
#   load-tests/profile.sh [path]     (default: one listing's detail)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${SECONDS_RUN:-20}
PORT=${PORT:-18195}
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }

scripts/services
scripts/eid-sim
SQLX_OFFLINE=true cargo build --release --locked -p motcua
mkdir -p target/load

DB=motcua_profile
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres 2>/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT MOTCUA_LISTEN=127.0.0.1:$PORT
export MOTCUA_REDIS_PREFIX="profile-$$:" RUST_LOG=error
export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000 MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
bin=target/release/motcua
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
$bin seed-demo --listings 1000 >/dev/null

out=target/load/callgrind.out
rm -f "$out" "$out".*
valgrind --tool=callgrind --callgrind-out-file="$out" $bin serve 2> target/load/callgrind.log &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  redis-cli --scan --pattern "$MOTCUA_REDIS_PREFIX*" | xargs -r redis-cli del >/dev/null
}
trap cleanup EXIT
A=http://127.0.0.1:$PORT
for _ in $(seq 1 300); do curl -sf "$A/healthz" >/dev/null && break; sleep 0.5; done

path=${1:-/v1/listings/$(curl -sf "$A/v1/listings?q=ca%20phe&limit=1" | json '["items"][0]["id"]')}
headers=()
if [ "${BEARER:-0}" = 1 ]; then
  app=$($bin client create --name "Profile app" --kind public \
    --redirect-uri http://127.0.0.1:53117/oauth/callback --rate-limit 1000000000)
  token=$(python3 load-tests/signin.py --server "$A" --client-id "$(json '["client_id"]' <<<"$app")" \
    | json '["access_token"]')
  headers=(--header "Authorization: Bearer $token")
fi
# Warm: the entry cached, the connections open; then count from zero.
for _ in 1 2 3; do curl -sf "${headers[@]/--header/-H}" "$A$path" >/dev/null; done
callgrind_control -z "$server" >/dev/null
requests=$(wrk --threads 1 --connections 4 --duration "${SECONDS_RUN}s" "${headers[@]}" "$A$path" \
  | awk '/requests in/ {print $1}')
callgrind_control -d "$server" >/dev/null
dump=$(ls -t "$out".* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$path: $requests requests, $((total / requests)) instructions per request (callgrind, $dump)"
callgrind_annotate --inclusive=yes "$dump" 2>/dev/null \
  | grep -E "motcua::|redis::|memcpy|malloc|free|sha256|jsonwebtoken|metrics|tracing" \
  | head -30 | cut -c1-160
