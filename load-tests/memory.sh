#!/usr/bin/env bash
# The server's resident memory under sustained load with nobody scraping /metrics: `GET /healthz`
# for ROUNDS rounds of DURATION s, the resident set after each. It must level off after the first
# round: fails if it grew by more than GROWTH_MIB (8) from the second round to the last.
#
#   load-tests/memory.sh    ROUNDS (6), DURATION (10), CONCURRENCY (64), PORT (18330), BIN
set -euo pipefail
[ -z "${BIN:-}" ] || BIN=$(realpath "$BIN")
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18330}
GROWTH_MIB=${GROWTH_MIB:-8}
((ROUNDS >= 2)) || { echo "ROUNDS must be at least 2: the first round warms up" >&2; exit 1; }

source load-tests/setup.sh
DROP_DB=1
load_setup motcua_memory "memory-$$:"
bin=${BIN:-$bin}
serve server "$PORT"
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
samples=()
for round in $(seq 1 "$ROUNDS"); do
  rate=$(clean_rate memory "http://127.0.0.1:$PORT/healthz")
  samples+=("$(rss_kib)")
  echo "round $round: $rate requests/s, resident $((samples[-1] / 1024)) MiB"
done
growth=$(((samples[-1] - samples[1]) / 1024))
echo "growth from round 2 to round $ROUNDS: $growth MiB (allowed: $GROWTH_MIB)"
[ "$growth" -le "$GROWTH_MIB" ]
