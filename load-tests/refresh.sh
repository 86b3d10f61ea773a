#!/usr/bin/env bash
# The refresh row of `load-tests/bench` alone, with where its CPU goes: PostgreSQL's CPU per
# refresh (every PostgreSQL process on the machine, so run it on a quiet one), the server's (user
# and kernel), and each core's time by kind. For A/B runs of two builds, alternate them, run after
# run: BIN=path/to/motcua selects the binary (default: this checkout's release build).
# PGSSLMODE (disable, require…) applies to the server's connections; unset, the driver's default
# applies (TLS when PostgreSQL offers it, as in `bench`). BEFORE_LOAD_SQL runs in the scratch
# database once the server has migrated it, before the load (to try a schema change, say).
#
#   load-tests/refresh.sh   DURATION (10), CONCURRENCY (64), PORT (18170), BIN, PGSSLMODE,
#                           BEFORE_LOAD_SQL
set -euo pipefail
[ -z "${BIN:-}" ] || BIN=$(realpath "$BIN")
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18170}

source load-tests/setup.sh
load_setup motcua_refresh "refresh-$$:"
bin=${BIN:-$bin}
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
serve server "$PORT"
A=http://127.0.0.1:$PORT
[ -z "${BEFORE_LOAD_SQL:-}" ] || psql -h 127.0.0.1 -U postgres -qc "$BEFORE_LOAD_SQL" "$LOAD_DB"

app=$(public_app)
refresh_chains "$A" "$app" target/load/refresh-tokens.txt

# CPU ticks of every PostgreSQL process together: user and system, and those of children
# already reaped (autovacuum workers and backends that ended count in the postmaster's).
postgres_ticks() {
  local pids pid total=0
  pids=$(pgrep -x postgres) || { echo "no postgres process on this machine to measure" >&2; exit 1; }
  for pid in $pids; do
    total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
server_ticks() { awk '{print $14, $15}' "/proc/$server/stat"; }
pg0=$(postgres_ticks)
read -r srv_user0 srv_sys0 < <(server_ticks)
grep '^cpu[0-9]' /proc/stat > target/load/refresh-stat-before.txt
refresh_load "$app" target/load/refresh-tokens.txt measure refresh-alone "$A/v1/auth/token" \
  >/dev/null
pg1=$(postgres_ticks)
read -r srv_user1 srv_sys1 < <(server_ticks)
grep '^cpu[0-9]' /proc/stat > target/load/refresh-stat-after.txt
reused=$(refresh_reuses)
# PostgreSQL publishes a backend's table statistics up to a second late.
sleep 1.5
tables=$(psql -h 127.0.0.1 -U postgres -AtF ' ' -c \
  "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
   WHERE relname IN ('refresh_tokens', 'sessions') ORDER BY relname" "$LOAD_DB")
hz=$(getconf CLK_TCK)

echo "motcua: $bin ($(stat -c %y "$bin" | cut -d. -f1)); commit $(git rev-parse --short HEAD);" \
  "PGSSLMODE ${PGSSLMODE:-unset}; load average at the start $load_at_start"
export DURATION pg0 pg1 srv_user0 srv_sys0 srv_user1 srv_sys1 tables hz SERVER_CPU LOAD_CPU
python3 - <<'EOF'
import json, os

e = os.environ
d, hz = float(e["DURATION"]), float(e["hz"])
r = json.load(open("target/load/refresh-alone.json"))
n = r["requests"]
pg = (float(e["pg1"]) - float(e["pg0"])) / hz
user = (float(e["srv_user1"]) - float(e["srv_user0"])) / hz
system = (float(e["srv_sys1"]) - float(e["srv_sys0"])) / hz
print(f"refresh: {r['requests_per_second']:,.0f}/s, p50 {r['latency_ms']['p50']:.1f} ms, "
      f"p99 {r['latency_ms']['p99']:.1f} ms, {r['non_2xx']} answers other than 2xx")
print(f"PostgreSQL: {100 * pg / d:.0f} % of a core, {1e6 * pg / n:.0f} µs a refresh; "
      f"server: {100 * (user + system) / d:.0f} % of its core, {1e6 * (user + system) / n:.0f} µs "
      f"a refresh ({1e6 * system / n:.0f} of them in the kernel)")
# /proc/stat: user nice system idle iowait irq softirq steal (guest time is inside user).
rows = lambda f: {l.split()[0]: list(map(int, l.split()[1:9])) for l in open(f)}
before, after = rows("target/load/refresh-stat-before.txt"), rows("target/load/refresh-stat-after.txt")
role = {f"cpu{e['SERVER_CPU']}": "the server's core", f"cpu{e['LOAD_CPU']}": "wrk's core"}
for cpu in sorted(before):
    t = [b - a for a, b in zip(before[cpu], after[cpu])]
    p = lambda *i: 100 * sum(t[k] for k in i) / sum(t)
    print(f"{cpu} ({role.get(cpu, 'unpinned')}): user {p(0, 1):.0f} %, system {p(2, 5, 6):.0f} %, "
          f"iowait {p(4):.0f} %, steal {p(7):.0f} %, idle {p(3):.0f} %")
for line in e["tables"].splitlines():
    name, updated, hot = line.split()
    print(f"{name}: {updated} updates, {hot} of them heap-only (HOT), sign-ins included")
EOF

check_refresh refresh-alone "$reused"
