# shellcheck shell=bash
# Sourced by load-tests/bench and load-tests/profile.sh (after pinned.sh): a running server's CPU
# time sampled by the clock (`perf record -e cpu-clock`), under the row's full load, split by
# component (load-tests/perf_split.py). Where callgrind counts instructions (repeatable, but blind
# to the kernel and to what an instruction costs), this shows where the server's core goes.
#
#   perf_usable                       whether perf can sample here (it needs linux-perf and
#                                     perf_event_paranoid ≤ 1 or root)
#   perf_count NAME PID URL [wrk args…]   samples PID while wrk runs $PROFILE_SECONDS s at
#                                     $CONCURRENCY connections (64), and writes
#                                     target/load/NAME.perf.json (the samples stay in
#                                     target/load/perf.NAME.data, for `perf report -i`)
#   PERF_RECORD_ARGS                  more for `perf record`: `--call-graph dwarf` records who
#                                     called each sampled function

PERF_HZ=${PERF_HZ:-2999}

perf_usable() {
  command -v perf >/dev/null && perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1
}

perf_count() { # name pid url [wrk args]
  local name=$1 pid=$2 url=$3
  shift 3
  echo "== $name, sampled by perf" >&2
  local data=target/load/perf.$name.data log=target/load/perf.$name.log
  # shellcheck disable=SC2086 # the options split into words
  perf record -q -e cpu-clock -F "$PERF_HZ" ${PERF_RECORD_ARGS:-} -p "$pid" -o "$data" 2> "$log" &
  local perf_pid=$! out requests
  sleep 0.5
  out=$(taskset -c "$LOAD_CPU" wrk --threads 1 --connections "${CONCURRENCY:-64}" \
    --duration "${PROFILE_SECONDS}s" --timeout 10s "$@" "$url")
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  requests=$(wrk_answered "$name" "$out" "$log") || return 1
  python3 "$(dirname "${BASH_SOURCE[0]}")/perf_split.py" "$data" "$requests" \
    > "target/load/$name.perf.json"
}
