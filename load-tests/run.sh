#!/usr/bin/env bash
# Reproduces the README's performance figures: builds in release, starts motcua on a free
# loopback port against a scratch database, runs bounded loads, prints the reports.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-32}
PORT=${PORT:-18080}

scripts/services
scripts/eid-sim
SQLX_OFFLINE=true cargo build --release --locked -p motcua -p motcua-load
mkdir -p target/load

export DATABASE_URL=${LOAD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/motcua_load}
export MOTCUA_LISTEN=127.0.0.1:$PORT
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
export MOTCUA_REDIS_PREFIX=load:
export RUST_LOG=warn
# The load comes from one address and one client: lift their limits so the figures measure the
# work, not the refusals (each request still goes through the limiter's Redis round trip).
export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000
export MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
target/release/motcua serve 2> target/load/server.log &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.2
done

run() { # name url [extra args]
  local name=$1 url=$2
  shift 2
  echo "== $name" >&2
  target/release/motcua-load --url "$url" --concurrency "$CONCURRENCY" --duration "$DURATION" "$@" \
    | tee "target/load/$name.json"
}

run healthz "http://127.0.0.1:$PORT/healthz"
run readyz "http://127.0.0.1:$PORT/readyz"
run jwks "http://127.0.0.1:$PORT/.well-known/jwks.json"
run not-found "http://127.0.0.1:$PORT/v1/nothing"

# A service provider: client_credentials issuance, and introspection of one of its tokens.
provider=$(target/release/motcua client create --name "Load provider" --kind confidential \
  --scope dossiers:read --scope introspect --rate-limit 1000000000)
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$provider")
secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$provider")
basic="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
form="Content-Type: application/x-www-form-urlencoded"
run client-credentials "http://127.0.0.1:$PORT/v1/auth/token" --method POST \
  --header "$basic" --header "$form" --body "grant_type=client_credentials&scope=dossiers:read"
token=$(curl -sf -H "$basic" -d grant_type=client_credentials "http://127.0.0.1:$PORT/v1/auth/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
run introspection "http://127.0.0.1:$PORT/v1/auth/introspect" --method POST \
  --header "$basic" --header "$form" --body "token=$token"

# A second replica on the same database and Redis, behind the same public URL: how long a
# revocation on one takes to be refused by the other (the README's "within a second").
MOTCUA_LISTEN=127.0.0.1:$((PORT + 1)) target/release/motcua serve 2> target/load/server-b.log &
server_b=$!
trap 'kill $server $server_b 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break
  sleep 0.2
done
echo "== revocation-latency" >&2
python3 load-tests/revocation_latency.py --a "http://127.0.0.1:$PORT" --b "http://127.0.0.1:$((PORT + 1))" \
  --client-id "$id" --client-secret "$secret" --rounds 50 | tee target/load/revocation-latency.json
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; server and client on the same machine" >&2
