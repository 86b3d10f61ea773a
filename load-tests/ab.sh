#!/usr/bin/env bash
# Builds of `motcua` compared run after run on the rows the request pipeline and the process's
# allocations bound: `GET /healthz`, client-credentials issuance (secret, ES256, audited) and
# introspection by the token's client, with each server's peak resident memory. The builds
# share one scratch database and Redis prefix (the first build migrates it: compare builds of
# the same schema) and take turns in an order reversed every other round (A B, B A, …), so the
# machine's drift touches them alike; compare within a round. A row with errors or answers
# other than 2xx fails the run.
#
#   BINS="target/load/motcua-a target/load/motcua-b" load-tests/ab.sh
#                           ROUNDS (4), DURATION (8), CONCURRENCY (64), PORT (18310)
# Copy each build out of target/release first: the set-up rebuilds that from this checkout.
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
  --scope dossiers:read --scope introspect --rate-limit 1000000000)
id=$(json '["client_id"]' <<<"$provider")
secret=$(json '["client_secret"]' <<<"$provider")
basic="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
form="Content-Type: application/x-www-form-urlencoded"
grant="grant_type=client_credentials&scope=dossiers:read"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); server on core $SERVER_CPU, wrk on core $LOAD_CPU; ${DURATION} s a row, $CONCURRENCY connections"
printf '| round | build | /healthz requests/s | client credentials tokens/s | introspections/s | peak RSS |\n'
printf '|---|---|---:|---:|---:|---:|\n'
for round in $(seq 1 "$ROUNDS"); do
  order=("${builds[@]}")
  if ((round % 2 == 0)); then
    for i in "${!builds[@]}"; do order[i]=${builds[${#builds[@]} - 1 - i]}; done
  fi
  for build in "${order[@]}"; do
    bin=$build
    serve server "$PORT"
    # Warm: the client cached, the limiter's script loaded; a token to introspect.
    for _ in 1 2 3; do curl -sf -X POST -H "$basic" -H "$form" -d "$grant" "$A/v1/auth/token" >/dev/null; done
    token=$(client_token "$A" "$id" "$secret" dossiers:read)
    health=$(clean_rate ab-healthz "$A/healthz")
    tokens=$(WRK_METHOD=POST WRK_BODY=$grant clean_rate ab-tokens "$A/v1/auth/token" \
      --header "$basic" --header "$form")
    looks=$(WRK_METHOD=POST WRK_BODY="token=$token" clean_rate ab-introspection "$A/v1/auth/introspect" \
      --header "$basic" --header "$form")
    echo "| $round | $(basename "$build") | $health | $tokens | $looks | $(peak_rss "$server") |"
    kill "$server"
    wait "$server" 2>/dev/null || true
    SERVED=()
  done
done
