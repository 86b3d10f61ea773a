# Sourced by the load-test scripts: servers on one core, the load generator (wrk) on the other, so
# that a figure measures the server and not a client fighting it for the same core.
#
#   SERVER_CPU / LOAD_CPU   the cores (default 0 and 1; on one core both share it)
#   measure NAME URL [wrk args…]   runs wrk for $DURATION s with $CONCURRENCY connections and
#                                  writes target/load/NAME.json (the JSON line of wrk-report.lua)
#   clean_rate NAME URL [wrk args…]   measure, then print the requests a second; fails if any
#                                  request failed
#   with_cpu NAME "PIDS" CMD…       runs CMD, writing target/load/NAME.cpu.json: the share of a
#                                  core the servers PIDS, PostgreSQL and Redis each used meanwhile

SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-$(($(nproc) > 1 ? 1 : 0))}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing wrk with apt" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  else
    echo "wrk is needed (Debian: apt-get install wrk)" >&2
    exit 1
  fi
fi

# Prefix of a server's command line: runs it on the server's core. A prefix, not a function, so
# that `$!` after `$ON_SERVER_CPU cmd &` is the server's own pid (taskset execs it).
ON_SERVER_CPU="taskset -c $SERVER_CPU"

measure() { # name url [wrk args]
  local name=$1 url=$2
  shift 2
  if ! [[ $url =~ ^http://(127\.0\.0\.1|localhost):[0-9]+(/|$) ]]; then
    echo "refusing to load $url: loopback only" >&2
    return 1
  fi
  echo "== $name" >&2
  taskset -c "$LOAD_CPU" wrk --threads 1 --connections "$CONCURRENCY" --duration "${DURATION}s" \
    --timeout 10s --script "$(dirname "${BASH_SOURCE[0]}")/wrk-report.lua" "$@" "$url" \
    > "target/load/$name.txt"
  tail -n 1 "target/load/$name.txt" | tee "target/load/$name.json"
}

# The requests a second of one measured run (`measure`'s arguments); fails when any request
# failed or was answered other than 2xx/3xx.
clean_rate() { # name url [wrk args]
  measure "$@" >/dev/null
  python3 - "target/load/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["errors"] + r.get("non_2xx_3xx", 0)
if bad:
    sys.exit(f"{sys.argv[1]}: {bad} requests failed")
print(round(r["requests_per_second"]))
PY
}

# The requests a wrk run (its output OUT) had answered, or fails naming NAME and LOG: a profile
# of refusals or errors would count the wrong path. With wrk-report.lua, its JSON line counts the
# failures.
wrk_answered() { # name out log
  local requests failed
  requests=$(awk '/requests in/ {print $1}' <<<"$2")
  if [ "${requests:-0}" -eq 0 ]; then
    echo "$1: no request was answered ($3)" >&2
    return 1
  fi
  failed=$(tail -n 1 <<<"$2" | python3 -c \
    'import json, sys; r = json.load(sys.stdin); print(r["errors"] + r.get("non_2xx_3xx", 0))' \
    2>/dev/null || echo 0)
  if [ "$failed" != 0 ]; then
    echo "$1: $failed requests failed while profiled" >&2
    return 1
  fi
  echo "$requests"
}

# Waits until URL answers, or fails naming it.
wait_for() { # url
  for _ in $(seq 1 300); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.2
  done
  echo "$1 never answered" >&2
  return 1
}

# Peak resident memory of a process so far (Linux VmHWM), in MiB.
peak_rss() { awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$1/status"; }

# CPU time (clock ticks, user and system, with that of exited children) of the servers PIDS…,
# of PostgreSQL (every backend, and through the postmaster those that exited) and of Redis.
cpu_ticks() { # pids…
  local t=0 pid n
  for pid in "$@"; do
    # Fields after the command name, which is in parentheses and may hold spaces; a process
    # that has just exited counts nothing.
    n=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')
    t=$((t + ${n:-0}))
  done
  echo "$t"
}
cpu_sample() { # server pids…
  # shellcheck disable=SC2046 # one pid a word
  echo "$(date +%s.%N) $(cpu_ticks "$@") $(cpu_ticks $(pgrep -x postgres)) $(cpu_ticks $(pgrep -x redis-server))"
}

# Runs CMD… and writes target/load/NAME.cpu.json: the share of one core the servers PIDS (a
# space-separated list), PostgreSQL and Redis each used while it ran.
with_cpu() { # name "pids" cmd…
  local name=$1 pids=$2 before after
  shift 2
  # shellcheck disable=SC2086 # the pids split into words
  before=$(cpu_sample $pids)
  "$@"
  # shellcheck disable=SC2086
  after=$(cpu_sample $pids)
  python3 - "$before" "$after" "$(getconf CLK_TCK)" > "target/load/$name.cpu.json" <<'PY'
import json, sys
b, a, hz = sys.argv[1].split(), sys.argv[2].split(), int(sys.argv[3])
secs = float(a[0]) - float(b[0])
share = lambda i: round((int(a[i]) - int(b[i])) / hz / secs, 3)
print(json.dumps({"seconds": round(secs, 2), "server": share(1), "postgres": share(2), "redis": share(3)}))
PY
}
