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

source load-tests/setup.sh
load_setup motcua_load_listings "load-listings-$$:"
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT

echo "== seed-demo --listings $LISTINGS" >&2
/usr/bin/time -f "seeded in %e s" $bin seed-demo --listings "$LISTINGS" >/dev/null

serve cached $PORT
serve uncached $((PORT + 1)) MOTCUA_CACHE_DISABLED=1
A=http://127.0.0.1:$PORT
B=http://127.0.0.1:$((PORT + 1))

id=$(curl -sf "$A/v1/listings?q=$QUERY&limit=1" | json '["items"][0]["id"]')
curl -sf "$A/v1/listings/$id" > target/load/listing.json
serve_baseline baseline $((PORT + 2)) target/load/listing.json

citizen=$(citizen_tokens "$A" "$(public_app)" | json '["access_token"]')

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
