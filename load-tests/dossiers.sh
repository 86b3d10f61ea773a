#!/usr/bin/env bash
# Dossier tracking under load, over the demo dataset (100,000 dossiers by default): a citizen's
# list and detail served from the cache and from PostgreSQL (a second server with the cache
# disabled, same database and Redis), and agencies' transitions per second. Servers run on one
# core and wrk on the other (load-tests/pinned.sh). Builds in release, uses a scratch database,
# prints one JSON report per run and writes them to target/load/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
DOSSIERS=${DOSSIERS:-100000}
PORT=${PORT:-18090}

source load-tests/setup.sh
load_setup motcua_load_dossiers "load-dossiers-$$:"
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT

echo "== seed-demo --dossiers $DOSSIERS" >&2
/usr/bin/time -f "seeded in %e s" $bin seed-demo --dossiers "$DOSSIERS" >/dev/null

serve cached $PORT
serve uncached $((PORT + 1)) MOTCUA_CACHE_DISABLED=1
A=http://127.0.0.1:$PORT
B=http://127.0.0.1:$((PORT + 1))

dossier_data "$A"
citizen=$(citizen_tokens "$A" "$(public_app)" | json '["access_token"]')
check_citizen_dossiers "$A" "$citizen"
bearer="Authorization: Bearer $citizen"

measure dossiers-list-cached "$A/v1/me/dossiers" --header "$bearer"
measure dossiers-list-uncached "$B/v1/me/dossiers" --header "$bearer"
WRK_ITEMS=target/load/citizen-dossiers.txt WRK_PATH='/v1/me/dossiers/{item}' \
  measure dossier-detail-cached "$A/v1/me/dossiers" --header "$bearer"
WRK_ITEMS=target/load/citizen-dossiers.txt WRK_PATH='/v1/me/dossiers/{item}' \
  measure dossier-detail-uncached "$B/v1/me/dossiers" --header "$bearer"
measure_transitions agency-transitions "$A"
echo "server peak RSS: $(peak_rss $cached) (cached), $(peak_rss $uncached) (uncached)" >&2
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB; servers on core $SERVER_CPU, wrk on core $LOAD_CPU; commit $(git rev-parse --short HEAD)" >&2
