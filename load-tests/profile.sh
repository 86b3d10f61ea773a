#!/usr/bin/env bash
# Where a cached read's instructions go: the release server under callgrind (which counts
# instructions, so the figures repeat whatever else the machine is doing), one listing's cached
# detail (or `path`) requested for $SECONDS_RUN s (20), then the instructions per request and the
# functions that take them; and, for scale, the same count for the same bytes served by
# motcua-baseline (the minimal poem handler of load-tests/listings.sh). `BEARER=1` sends a
# citizen's token signed in through the eID simulator. `ROW=client-credentials` or
# `ROW=introspection` profiles that token endpoint instead, for a confidential client proving
# its secret (client_secret_basic), as load-tests/bench measures it.
#
# `PROFILER=perf` samples the server's CPU time by the clock instead (`perf record -e cpu-clock`,
# load-tests/perf.sh), the server running natively on its core under wrk's full load
# ($CONCURRENCY connections, 64): where its core goes, the kernel's work included. With
# `PERF_RECORD_ARGS="--call-graph dwarf"`, `perf report -i target/load/perf.motcua.data --children`
# then shows who called what.
#
# `BIN=path/to/motcua` profiles another build (copy it out of target/release first: the set-up
# rebuilds that one from this checkout).
#
#   load-tests/profile.sh [path]
set -euo pipefail
[ -z "${BIN:-}" ] || BIN=$(realpath "$BIN")
cd "$(dirname "$0")/.."

PROFILE_SECONDS=${SECONDS_RUN:-20}
PORT=${PORT:-18195}
source load-tests/callgrind.sh
source load-tests/perf.sh
source load-tests/setup.sh
DROP_DB=1
load_setup motcua_profile "profile-$$:"
bin=${BIN:-$bin}
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT MOTCUA_LISTEN=127.0.0.1:$PORT
$bin seed-demo --listings 1000 >/dev/null

# The server runs under valgrind (or natively, for perf), not through `serve`: stop it before the
# shared clean-up (callgrind_stop stops either).
CALLGRIND_PID=
trap '[ -n "$CALLGRIND_PID" ] && callgrind_stop; load_cleanup' EXIT

start_server() { # name command…
  if [ "${PROFILER:-callgrind}" = perf ]; then
    perf_usable || { echo "perf cannot sample here (linux-perf, perf_event_paranoid)" >&2; exit 1; }
    $ON_SERVER_CPU "${@:2}" 2> "target/load/perf.$1.server.log" &
    CALLGRIND_PID=$!
  else
    callgrind_start "$@"
  fi
}

# profile NAME URL [wrk args]: the instructions (or with perf, the CPU time) per request, by
# component.
profile() {
  if [ "${PROFILER:-callgrind}" = perf ]; then
    perf_count "$1" "$CALLGRIND_PID" "${@:2}"
    python3 - "target/load/$1.perf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['requests']} requests, {r['cpu_us_per_request']} µs of the server's CPU per request")
for c in r["components"][:14]:
    print(f"  {c['share']:6.1%}  {c['us_per_request']:>6} µs  {c['component']}")
print("functions:")
for f in r["functions"]:
    print(f"  {f['share']:6.1%}  {f['function']}")
PY
    return
  fi
  callgrind_count "$@"
  python3 - "target/load/$1.callgrind.json" "$CALLGRIND_DUMP" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['requests']} requests, {r['instructions_per_request']} instructions per request ({sys.argv[2]})")
for c in r["components"][:12]:
    print(f"  {c['share']:6.1%}  {c['per_request']:>8}  {c['component']}")
PY
}

A=http://127.0.0.1:$PORT
start_server motcua $bin serve
wait_for "$A/healthz"
path=${1:-/v1/listings/$(curl -sf "$A/v1/listings?q=ca%20phe&limit=1" | json '["items"][0]["id"]')}
headers=()
if [ "${BEARER:-0}" = 1 ]; then
  token=$(citizen_tokens "$A" "$(public_app)" | json '["access_token"]')
  headers=(--header "Authorization: Bearer $token")
fi
# Warm: the entry cached, the connections open; then count from zero.
for _ in 1 2 3; do curl -sf "${headers[@]/--header/-H}" "$A$path" > target/load/profile-body.json; done
case "${ROW:-get}" in
  get) profile motcua "$A$path" --script load-tests/wrk-report.lua "${headers[@]}" ;;
  client-credentials | introspection)
    provider=$($bin client create --name "Profile provider" --kind confidential \
      --scope dossiers:read --scope introspect --rate-limit 1000000000)
    id=$(json '["client_id"]' <<<"$provider")
    secret=$(json '["client_secret"]' <<<"$provider")
    basic="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
    form="Content-Type: application/x-www-form-urlencoded"
    export WRK_METHOD=POST WRK_BODY="grant_type=client_credentials&scope=dossiers:read"
    url=$A/v1/auth/token
    if [ "$ROW" = introspection ]; then
      WRK_BODY="token=$(client_token "$A" "$id" "$secret" dossiers:read)"
      url=$A/v1/auth/introspect
    fi
    # Warm the client cache and the limiter's script, then count from zero.
    for _ in 1 2 3; do curl -sf -X POST -H "$basic" -H "$form" -d "$WRK_BODY" "$url" >/dev/null; done
    profile motcua "$url" --script load-tests/wrk-report.lua --header "$basic" --header "$form"
    unset WRK_METHOD WRK_BODY
    ;;
  *) echo "ROW is get, client-credentials or introspection" >&2; exit 1 ;;
esac
[ "${PROFILER:-callgrind}" = perf ] || callgrind_annotate --inclusive=yes "$CALLGRIND_DUMP" 2>/dev/null \
  | grep -E "motcua::|redis::|memcpy|malloc|free|sha256|xxh3|jsonwebtoken|metrics|tracing|ecp_nistz256|ECDSA|sqlx::" \
  | awk 'NR <= 30' | cut -c1-160
callgrind_stop

B=http://127.0.0.1:$((PORT + 1))
start_server baseline target/release/motcua-baseline --listen 127.0.0.1:$((PORT + 1)) --body target/load/profile-body.json
wait_for "$B/"
for _ in 1 2 3; do curl -sf "$B/" >/dev/null; done
profile baseline "$B$path" --script load-tests/wrk-report.lua
