#!/usr/bin/env bash
# Local-product listings under load, over the demo dataset (100,000 listings by default), 64
# connections: search uncached (a second server with the cache disabled, same database and Redis)
# and cached, listing detail cached without and with a citizen's bearer token, and the same detail
# bytes from a minimal poem handler (no auth, rate limit, cache or database) as the baseline.
# Servers run on one core and wrk on the other (load-tests/pinned.sh). Builds in release, uses a
# scratch database, prints one JSON report per run (target/load/) and the ratios to the baseline.
# The scratch database (motcua_load_listings) stays, for EXPLAIN of the queries measured.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
LISTINGS=${LISTINGS:-100000}
PORT=${PORT:-18095}
QUERY=${QUERY:-ca%20phe}

source load-tests/pinned.sh
scripts/services
scripts/eid-sim
SQLX_OFFLINE=true cargo build --release --locked -p motcua -p motcua-load
mkdir -p target/load

DB=motcua_load_listings
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres 2>/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
export MOTCUA_REDIS_PREFIX="load-listings-$$:"
export RUST_LOG=error
# One address and one client make the load: lift their limits so the figures measure the work,
# not the refusals (every request still takes the limiter's Redis round trip).
export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000
export MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
bin=target/release/motcua
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== seed-demo --listings $LISTINGS" >&2
/usr/bin/time -f "seeded in %e s" $bin seed-demo --listings "$LISTINGS" >/dev/null

MOTCUA_LISTEN=127.0.0.1:$PORT $ON_SERVER_CPU $bin serve 2> target/load/listings-server.log &
cached=$!
MOTCUA_LISTEN=127.0.0.1:$((PORT + 1)) MOTCUA_CACHE_DISABLED=1 $ON_SERVER_CPU $bin serve \
  2> target/load/listings-server-uncached.log &
uncached=$!
baseline=
cleanup() {
  kill $cached $uncached $baseline 2>/dev/null || true
  redis-cli --scan --pattern "$MOTCUA_REDIS_PREFIX*" | xargs -r redis-cli del >/dev/null
}
trap cleanup EXIT
for port in $PORT $((PORT + 1)); do
  wait_for "http://127.0.0.1:$port/healthz"
done
A=http://127.0.0.1:$PORT
B=http://127.0.0.1:$((PORT + 1))

id=$(curl -sf "$A/v1/listings?q=$QUERY&limit=1" | json '["items"][0]["id"]')
curl -sf "$A/v1/listings/$id" > target/load/listing.json
$ON_SERVER_CPU target/release/motcua-baseline --listen 127.0.0.1:$((PORT + 2)) --body target/load/listing.json &
baseline=$!
wait_for "http://127.0.0.1:$((PORT + 2))/"

app=$($bin client create --name "Load app" --kind public \
  --redirect-uri http://127.0.0.1:53117/oauth/callback --rate-limit 1000000000)
app_id=$(json '["client_id"]' <<<"$app")
citizen=$(python3 load-tests/signin.py --server "$A" --client-id "$app_id" | json '["access_token"]')

measure baseline "http://127.0.0.1:$((PORT + 2))/v1/listings/$id"
measure listing-detail-cached "$A/v1/listings/$id"
measure listing-detail-cached-bearer "$A/v1/listings/$id" --header "Authorization: Bearer $citizen"
measure listings-search-cached "$A/v1/listings?q=$QUERY"
measure listings-search-uncached "$B/v1/listings?q=$QUERY"
echo "server peak RSS: $(peak_rss $cached) (cached), $(peak_rss $uncached) (uncached)" >&2

python3 - <<'EOF' >&2
import json
load = lambda name: json.load(open(f"target/load/{name}.json"))
base = load("baseline")
print(f"baseline: {base['requests_per_second']:.0f}/s, p99 {base['latency_ms']['p99']:.2f} ms")
for name in ["listing-detail-cached", "listing-detail-cached-bearer", "listings-search-cached",
             "listings-search-uncached"]:
    run = load(name)
    print(f"{name}: {run['requests_per_second']:.0f}/s, {run['requests_per_second'] / base['requests_per_second']:.0%} "
          f"of the baseline's throughput, p99 {run['latency_ms']['p99']:.2f} ms = "
          f"{run['latency_ms']['p99'] / base['latency_ms']['p99']:.1f}x its p99, "
          f"errors {run['errors'] + run['non_2xx_3xx']}")
EOF
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB; servers on core $SERVER_CPU, wrk on core $LOAD_CPU; commit $(git rev-parse --short HEAD)" >&2
