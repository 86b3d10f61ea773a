#!/usr/bin/env bash
# Two or more builds of `motcua` compared run after run on the rows the request pipeline and the
# process's allocations bound: `GET /healthz` and client-credentials issuance (secret, ES256,
# audited), with each server's peak resident memory. The builds alternate, round after round, so
# the machine's drift touches them alike; compare within a round.
#
#   BINS="target/load/motcua-a target/load/motcua-b" load-tests/ab.sh
#                           ROUNDS (4), DURATION (8), CONCURRENCY (64), PORT (18310)
set -euo pipefail
BINS=${BINS:?"BINS: the builds to compare, paths separated by spaces"}
read -ra builds <<<"$BINS"
for i in "${!builds[@]}"; do builds[i]=$(realpath "${builds[i]}"); done
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18310}

source load-tests/setup.sh
DROP_DB=1
load_setup motcua_ab "ab-$$:"
A=http://127.0.0.1:$PORT
export MOTCUA_PUBLIC_URL=$A
provider=$("${builds[0]}" client create --name "A/B provider" --kind confidential \
  --scope dossiers:read --rate-limit 1000000000)
id=$(json '["client_id"]' <<<"$provider")
secret=$(json '["client_secret"]' <<<"$provider")
basic="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
form="Content-Type: application/x-www-form-urlencoded"
grant="grant_type=client_credentials&scope=dossiers:read"

rate() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); server on core $SERVER_CPU, wrk on core $LOAD_CPU; ${DURATION} s a row, $CONCURRENCY connections"
printf '| round | build | /healthz requests/s | client credentials tokens/s | peak RSS |\n|---|---|---:|---:|---:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for build in "${builds[@]}"; do
    bin=$build
    serve server "$PORT"
    # Warm: the client cached, the limiter's script loaded.
    for _ in 1 2 3; do curl -sf -X POST -H "$basic" -H "$form" -d "$grant" "$A/v1/auth/token" >/dev/null; done
    health=$(taskset -c "$LOAD_CPU" wrk --threads 1 --connections "$CONCURRENCY" --duration "${DURATION}s" "$A/healthz" | rate)
    tokens=$(WRK_METHOD=POST WRK_BODY=$grant taskset -c "$LOAD_CPU" wrk --threads 1 --connections "$CONCURRENCY" \
      --duration "${DURATION}s" --script load-tests/wrk-report.lua --header "$basic" --header "$form" \
      "$A/v1/auth/token" | rate)
    echo "| $round | $(basename "$build") | $health | $tokens | $(peak_rss "$server") |"
    kill "$server"
    wait "$server" 2>/dev/null || true
    SERVED=()
  done
done
