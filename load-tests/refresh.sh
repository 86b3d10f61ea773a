#!/usr/bin/env bash
# The refresh row of `load-tests/bench` alone, with where its CPU goes: PostgreSQL's CPU per
# refresh (all its processes), the server's, and how busy each core was. For A/B runs of two
# builds, alternate them: BIN=path/to/motcua selects the binary (default: this checkout's release
# build). PGSSLMODE (disable, prefer…) is added to the database URL when set; unset, the driver's
# default applies (TLS when the server offers it, as in `bench`).
#
#   load-tests/refresh.sh      DURATION (10), CONCURRENCY (64), PORT (18170), BIN, PGSSLMODE
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18170}

source load-tests/setup.sh
load_setup motcua_refresh "refresh-$$:"
bin=${BIN:-$bin}
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
[ -z "${PGSSLMODE:-}" ] || export DATABASE_URL="$DATABASE_URL?sslmode=$PGSSLMODE"
serve server "$PORT"
A=http://127.0.0.1:$PORT

app=$(public_app)
echo "== signing $((CONCURRENCY + 1)) sessions in through the eID simulator" >&2
: > target/load/refresh-tokens.txt
for _ in $(seq 0 "$CONCURRENCY"); do
  citizen_tokens "$A" "$app" | json '["refresh_token"]' >> target/load/refresh-tokens.txt
done

# CPU ticks (user + system) of a process, and of every PostgreSQL process together.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
  local pid total=0
  for pid in $(pgrep -x postgres); do total=$((total + $(ticks "$pid"))); done
  echo "$total"
}
pg0=$(postgres_ticks) srv0=$(ticks "$server")
head -3 /proc/stat | tail -2 > target/load/refresh-stat-before.txt
WRK_METHOD=POST WRK_POOL=target/load/refresh-tokens.txt WRK_MODE=refresh \
  WRK_BODY="grant_type=refresh_token&client_id=$app&refresh_token={item}" \
  measure refresh-alone "$A/v1/auth/token" \
  --header "Content-Type: application/x-www-form-urlencoded" >/dev/null
pg1=$(postgres_ticks) srv1=$(ticks "$server")
head -3 /proc/stat | tail -2 > target/load/refresh-stat-after.txt
tables=$(psql -h 127.0.0.1 -U postgres -AtF ' ' -c \
  "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
   WHERE relname IN ('refresh_tokens', 'sessions') ORDER BY relname" "$LOAD_DB")

export DURATION pg0 pg1 srv0 srv1 tables hz=$(getconf CLK_TCK)
python3 - <<'EOF'
import json, os

e = os.environ
d, hz = float(e["DURATION"]), float(e["hz"])
r = json.load(open("target/load/refresh-alone.json"))
n = r["requests_per_second"] * d
pg = (float(e["pg1"]) - float(e["pg0"])) / hz
srv = (float(e["srv1"]) - float(e["srv0"])) / hz
print(f"refresh: {r['requests_per_second']:,.0f}/s, p50 {r['latency_ms']['p50']:.1f} ms, "
      f"p99 {r['latency_ms']['p99']:.1f} ms, {r.get('non_2xx', '?')} answers other than 200")
print(f"PostgreSQL: {100 * pg / d:.0f} % of a core, {1e6 * pg / n:.0f} µs a refresh; "
      f"server: {100 * srv / d:.0f} % of its core, {1e6 * srv / n:.0f} µs a refresh")
rows = lambda f: {l.split()[0]: list(map(int, l.split()[1:])) for l in open(f)}
before, after = rows("target/load/refresh-stat-before.txt"), rows("target/load/refresh-stat-after.txt")
for cpu in sorted(before):
    delta = [b - a for a, b in zip(before[cpu], after[cpu])]
    print(f"{cpu}: {100 - 100 * delta[3] / sum(delta):.0f} % busy")
for line in e["tables"].splitlines():
    name, updated, hot = line.split()
    print(f"{name}: {updated} updates, {hot} of them HOT")
EOF

failed=$(python3 -c "import json; r = json.load(open('target/load/refresh-alone.json')); print(r['non_2xx'] + r['starved'] + r['errors'])")
[ "$failed" = 0 ] || { echo "refresh: $failed failed requests" >&2; exit 1; }
