#!/usr/bin/env bash
# Dossier tracking under load, over the demo dataset (100,000 dossiers by default): a citizen's
# list and detail served from the cache and from PostgreSQL (a second server with the cache
# disabled, same database and Redis), and agencies' transitions per second. Builds in release,
# uses a scratch database, prints one JSON report per run and writes them to target/load/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
DOSSIERS=${DOSSIERS:-100000}
PORT=${PORT:-18090}
CITIZEN_DOSSIERS=50

scripts/services
scripts/eid-sim
SQLX_OFFLINE=true cargo build --release --locked -p motcua -p motcua-load
mkdir -p target/load

DB=motcua_load_dossiers
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
export MOTCUA_REDIS_PREFIX="load-dossiers-$$:"
export RUST_LOG=warn
# One address and one client make the load: lift their limits so the figures measure the work,
# not the refusals (every request still takes the limiter's Redis round trip).
export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000
export MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
bin=target/release/motcua
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== seed-demo --dossiers $DOSSIERS" >&2
/usr/bin/time -f "seeded in %e s" $bin seed-demo --dossiers "$DOSSIERS" >/dev/null

MOTCUA_LISTEN=127.0.0.1:$PORT $bin serve 2> target/load/dossiers-server.log &
cached=$!
MOTCUA_LISTEN=127.0.0.1:$((PORT + 1)) MOTCUA_CACHE_DISABLED=1 $bin serve \
  2> target/load/dossiers-server-uncached.log &
uncached=$!
trap 'kill $cached $uncached 2>/dev/null || true; redis-cli --scan --pattern "$MOTCUA_REDIS_PREFIX*" | xargs -r redis-cli del >/dev/null' EXIT
for port in $PORT $((PORT + 1)); do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
  done
done
A=http://127.0.0.1:$PORT
B=http://127.0.0.1:$((PORT + 1))

# An agency's back office, bound to the agency of the first procedure of the catalogue.
procedure=$(curl -sf "$A/v1/procedures?limit=1" | json '["items"][0]["code"]')
agency=$(curl -sf "$A/v1/procedures/$procedure" | json '["agency_code"]')
office=$($bin client create --name "Load back office" --kind confidential --scope dossiers:write \
  --agency "$agency" --rate-limit 1000000000)
id=$(json '["client_id"]' <<<"$office")
secret=$(json '["client_secret"]' <<<"$office")
agency_token=$(curl -sf -u "$id:$secret" -d grant_type=client_credentials "$A/v1/auth/token" \
  | json '["access_token"]')

register() { # id_number name → dossier code
  curl -sf -H "Authorization: Bearer $agency_token" -H 'Content-Type: application/json' \
    -d "{\"procedure_code\":\"$procedure\",\"applicant_id_number\":\"$1\",\"applicant_name\":\"$2\"}" \
    "$A/v1/agency/dossiers" | json '["code"]'
}
transition() { # code status
  curl -sf -o /dev/null -H "Authorization: Bearer $agency_token" -H 'Content-Type: application/json' \
    -d "{\"to\":\"$2\"}" "$A/v1/agency/dossiers/$1/transitions"
}

# The simulator's citizen-l2 (079190001234) has this many dossiers among the others.
: > target/load/citizen-dossiers.txt
for _ in $(seq 1 $CITIZEN_DOSSIERS); do
  register 079190001234 "Nguyễn Thị Lan" >> target/load/citizen-dossiers.txt
done
# One dossier in processing per connection, moved to awaiting_fee and back.
: > target/load/agency-dossiers.txt
for n in $(seq 1 "$CONCURRENCY"); do
  code=$(register "$(printf '0541980%05d' "$n")" "Người nộp $n")
  transition "$code" processing
  echo "$code" >> target/load/agency-dossiers.txt
done

app=$($bin client create --name "Load app" --kind public \
  --redirect-uri http://127.0.0.1:53117/oauth/callback --rate-limit 1000000000)
app_id=$(json '["client_id"]' <<<"$app")
citizen=$(python3 load-tests/signin.py --server "$A" --client-id "$app_id" | json '["access_token"]')
bearer="Authorization: Bearer $citizen"
listed=$(curl -sf -H "$bearer" "$A/v1/me/dossiers?limit=50" | json '["items"].__len__()')
[ "$listed" -eq $CITIZEN_DOSSIERS ] || { echo "the citizen sees $listed dossiers, not $CITIZEN_DOSSIERS" >&2; exit 1; }

run() { # name url [extra args]
  local name=$1 url=$2
  shift 2
  echo "== $name" >&2
  target/release/motcua-load --url "$url" --concurrency "$CONCURRENCY" --duration "$DURATION" "$@" \
    | tee "target/load/$name.json"
}
items=target/load/citizen-dossiers.txt
run dossiers-list-cached "$A/v1/me/dossiers" --header "$bearer"
run dossiers-list-uncached "$B/v1/me/dossiers" --header "$bearer"
run dossier-detail-cached "$A/v1/me/dossiers/{item}" --items $items --header "$bearer"
run dossier-detail-uncached "$B/v1/me/dossiers/{item}" --items $items --header "$bearer"
run agency-transitions "$A/v1/agency/dossiers/{item}/transitions" --method POST \
  --items target/load/agency-dossiers.txt --header "Authorization: Bearer $agency_token" \
  --header 'Content-Type: application/json' --body '{"to":"awaiting_fee"}' --body '{"to":"processing"}'
echo "server RSS: $(ps -o rss= -p $cached | awk '{printf "%.0f MiB", $1/1024}') (cached), $(ps -o rss= -p $uncached | awk '{printf "%.0f MiB", $1/1024}') (uncached)" >&2
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; servers and load generator on the same machine" >&2
