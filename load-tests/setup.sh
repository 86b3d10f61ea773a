# Sourced by the load-test scripts, from the repository's root: the set-up they share, so that
# every figure comes from the same build, environment and kind of server.
#
#   load_setup DB PREFIX        services and eID simulator up, the release build, target/load/, a
#                               fresh scratch database DB, and the environment every server of
#                               the run shares (database, Redis key prefix PREFIX, lifted limits)
#   serve VAR PORT [NAME=VALUE…]   `motcua serve` on 127.0.0.1:PORT on the server's core, with
#                               these variables added; its pid in VAR once /healthz answers
#   serve_baseline VAR PORT BODY   motcua-baseline serving the file BODY, on the server's core
#   load_cleanup                stops what serve and serve_baseline started, deletes
#                               the run's Redis keys; drops the database if DROP_DB=1
#   json EXPR                   a field of the JSON on stdin (`json '["client_id"]'`)
#   public_app                  registers an app (public, PKCE) and prints its client id
#   citizen_tokens SERVER APP   signs the demo citizen (CITIZEN, default citizen-l2) in through the
#                               eID simulator and prints the token response
#   agency_office SERVER        registers a back office bound to the agency of the catalogue's
#                               first procedure; sets PROCEDURE, OFFICE_ID and OFFICE_SECRET
#   client_token SERVER ID SECRET [SCOPE]   a client_credentials access token
#   register SERVER TOKEN ID_NUMBER NAME     registers a dossier at the counter; prints its code
#   transition SERVER TOKEN CODE STATUS      moves a dossier
#   dossier_data SERVER, check_citizen_dossiers SERVER TOKEN, measure_transitions NAME SERVER:
#                               the dossier runs (below)
#   refresh_chains SERVER APP FILE, refresh_load APP FILE CMD…, refresh_reuses,
#   check_refresh NAME REUSED:  the refresh runs (below)

source "$(dirname "${BASH_SOURCE[0]}")/pinned.sh"

bin=target/release/motcua
SERVED=()

load_setup() { # db prefix
  scripts/services
  scripts/eid-sim
  SQLX_OFFLINE=true cargo build --release --locked -p motcua -p motcua-load
  mkdir -p target/load
  LOAD_DB=$1
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $LOAD_DB WITH (FORCE)" postgres 2>/dev/null
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$LOAD_DB
  export MOTCUA_REDIS_PREFIX=$2
  export RUST_LOG=${RUST_LOG:-error}
  # One address and one client make the load: lift their limits so the figures measure the
  # work, not the refusals (every request is still counted: a busy caller's in slices).
  export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000
  export MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
  trap load_cleanup EXIT
}

serve() { # var port [NAME=VALUE…]
  local var=$1 port=$2
  shift 2
  env MOTCUA_LISTEN="127.0.0.1:$port" "$@" $ON_SERVER_CPU $bin serve \
    2> "target/load/server-$port.log" &
  local pid=$!
  SERVED+=("$pid")
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
      printf -v "$var" %s "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "the server on port $port did not start (target/load/server-$port.log)" >&2
  return 1
}

serve_baseline() { # var port body
  $ON_SERVER_CPU target/release/motcua-baseline --listen "127.0.0.1:$2" --body "$3" &
  SERVED+=("$!")
  printf -v "$1" %s "$!"
  wait_for "http://127.0.0.1:$2/"
}

load_cleanup() {
  local pid
  for pid in "${SERVED[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVED[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  redis-cli --scan --pattern "$MOTCUA_REDIS_PREFIX*" | xargs -r -d '\n' redis-cli del >/dev/null || true
  if [ "${DROP_DB:-0}" = 1 ]; then
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $LOAD_DB WITH (FORCE)" postgres || true
  fi
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

public_app() {
  $bin client create --name "Load app" --kind public \
    --redirect-uri http://127.0.0.1:53117/oauth/callback --rate-limit 1000000000 | json '["client_id"]'
}

citizen_tokens() { # server app
  python3 load-tests/signin.py --server "$1" --client-id "$2" --citizen "${CITIZEN:-citizen-l2}"
}

agency_office() { # server
  PROCEDURE=$(curl -sf "$1/v1/procedures?limit=1" | json '["items"][0]["code"]')
  local agency office
  agency=$(curl -sf "$1/v1/procedures/$PROCEDURE" | json '["agency_code"]')
  office=$($bin client create --name "Load back office" --kind confidential --scope dossiers:write \
    --agency "$agency" --rate-limit 1000000000)
  OFFICE_ID=$(json '["client_id"]' <<<"$office")
  OFFICE_SECRET=$(json '["client_secret"]' <<<"$office")
}

client_token() { # server id secret [scope]
  curl -sf -u "$2:$3" -d grant_type=client_credentials ${4:+-d "scope=$4"} "$1/v1/auth/token" \
    | json '["access_token"]'
}

register() { # server token id_number name
  curl -sf -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d "{\"procedure_code\":\"$PROCEDURE\",\"applicant_id_number\":\"$3\",\"applicant_name\":\"$4\"}" \
    "$1/v1/agency/dossiers" | json '["code"]'
}

transition() { # server token code status
  curl -sf -o /dev/null -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d "{\"to\":\"$4\"}" "$1/v1/agency/dossiers/$3/transitions"
}

# The dossier runs' data, registered by a back office (agency_office): CITIZEN_DOSSIERS (50)
# dossiers of the simulator's citizen-l2 (079190001234) among the seeded ones, listed in
# target/load/citizen-dossiers.txt, and one dossier in `processing` per connection (and one
# more, see wrk-report.lua's pool) in target/load/agency-dossiers.txt, for transitions that no
# race refuses.
dossier_data() { # server
  agency_office "$1"
  local token code n
  token=$(client_token "$1" "$OFFICE_ID" "$OFFICE_SECRET")
  : > target/load/citizen-dossiers.txt
  for _ in $(seq 1 "${CITIZEN_DOSSIERS:-50}"); do
    register "$1" "$token" 079190001234 "Nguyễn Thị Lan" >> target/load/citizen-dossiers.txt
  done
  : > target/load/agency-dossiers.txt
  for n in $(seq 0 "$CONCURRENCY"); do
    code=$(register "$1" "$token" "$(printf '0541980%05d' "$n")" "Người nộp $n")
    transition "$1" "$token" "$code" processing
    echo "$code" >> target/load/agency-dossiers.txt
  done
}

check_citizen_dossiers() { # server access_token
  local listed
  listed=$(curl -sf -H "Authorization: Bearer $2" "$1/v1/me/dossiers?limit=50" | json '["items"].__len__()')
  [ "$listed" -eq "${CITIZEN_DOSSIERS:-50}" ] && return 0
  echo "the citizen sees $listed dossiers, not ${CITIZEN_DOSSIERS:-50}" >&2
  return 1
}

# Agencies' writes: each dossier of target/load/agency-dossiers.txt moved from `processing` to
# `awaiting_fee` and back, never two requests on one dossier at once (wrk-report.lua's pool).
measure_transitions() { # name server
  local token
  # A token of its own: the run may start after the set-up's token has expired.
  token=$(client_token "$2" "$OFFICE_ID" "$OFFICE_SECRET")
  WRK_METHOD=POST WRK_POOL=target/load/agency-dossiers.txt WRK_MODE=transitions \
    WRK_FLIP="processing awaiting_fee" WRK_PATH='/v1/agency/dossiers/{item}/transitions' \
    measure "$1" "$2/v1/agency/dossiers" --header "Authorization: Bearer $token" \
    --header 'Content-Type: application/json'
}

# One refresh-token chain per connection (and the one wrk-report.lua's pool needs beside them),
# each from a real sign-in of APP through the eID simulator, written to FILE a token a line.
refresh_chains() { # server app file
  echo "== signing $((CONCURRENCY + 1)) sessions in through the eID simulator" >&2
  : > "$3"
  for _ in $(seq 0 "$CONCURRENCY"); do
    citizen_tokens "$1" "$2" | json '["refresh_token"]' >> "$3"
  done
}

# Runs CMD (`measure NAME URL` or a wrapper of it, URL the token endpoint) with wrk refreshing
# FILE's chains: each request sends its chain's current token once and keeps the rotated one.
refresh_load() { # app file cmd…
  WRK_METHOD=POST WRK_POOL=$2 WRK_MODE=refresh \
    WRK_BODY="grant_type=refresh_token&client_id=$1&refresh_token={item}" \
    "${@:3}" --header "Content-Type: application/x-www-form-urlencoded"
}

# How many refresh tokens the run's database saw used twice.
refresh_reuses() {
  psql -h 127.0.0.1 -U postgres -Atc \
    "SELECT count(*) FROM audit_log WHERE action = 'refresh_token_reuse'" "$LOAD_DB"
}

# Fails unless every request of the refresh run NAME was answered 200 and REUSED is 0: a token
# sent twice or lost would end its session.
check_refresh() { # name reused
  local failed
  failed=$(python3 -c "import json; r = json.load(open('target/load/$1.json')); print(r['non_2xx'] + r['starved'] + r['errors'])")
  if [ "$failed" != 0 ] || [ "$2" != 0 ]; then
    echo "refresh: $failed failed requests, $2 reuses detected: a token was sent twice or lost" >&2
    return 1
  fi
}
