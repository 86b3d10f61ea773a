# shellcheck shell=bash
# Sourced by load-tests/bench and load-tests/profile.sh (after pinned.sh): where a running server's
# CPU time goes, sampled by the clock (`perf record -e cpu-clock`) while wrk loads it at full
# concurrency, split by component (load-tests/perf_split.py). Where callgrind counts instructions
# (repeatable, but blind to the kernel and to what an instruction costs), this shows where the
# server's core goes, its kernel work included.
#
# The server's core is sampled and the server's own samples kept. Sampling costs time of its own,
# unevenly: against the measured run, perf's CPU time a request has come out from a tenth less
# (the baseline) to a fifth more (rows that wait on Redis). So load-tests/bench_report.py takes
# the time a request from the measured run and only the shares from perf.
#
#   perf_usable                       whether perf can sample here, the kernel included (root,
#                                     or perf_event_paranoid ≤ 0)
#   perf_count NAME PID URL [wrk args…]   samples the server's core ($SERVER_CPU) while wrk
#                                     runs $PROFILE_SECONDS s at $CONCURRENCY connections (64),
#                                     and writes target/load/NAME.perf.json: the server's CPU
#                                     time a request and its split (the samples stay in
#                                     target/load/perf.NAME.data, for `perf report -i … --pid PID`)
#   PERF_HZ                           samples a second (2999)
#   PERF_RECORD_ARGS                  more for `perf record`: `--call-graph dwarf` records who
#                                     called each sampled function

PERF_HZ=${PERF_HZ:-2999}

perf_usable() {
  command -v perf >/dev/null || return 1
  # Without root, perf would quietly leave the kernel's samples out; per-core events need
  # perf_event_paranoid ≤ 0.
  [ "$(id -u)" = 0 ] || [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -le 0 ] || return 1
  perf record -q -e cpu-clock -C "$SERVER_CPU" -o /dev/null -- true >/dev/null 2>&1
}

perf_count() { # name pid url [wrk args]
  local name=$1 pid=$2 url=$3
  shift 3
  echo "== $name, sampled by perf" >&2
  local data=target/load/perf.$name.data log=target/load/perf.$name.log
  # shellcheck disable=SC2086 # the options split into words
  perf record -q -e cpu-clock -F "$PERF_HZ" ${PERF_RECORD_ARGS:-} -C "$SERVER_CPU" -o "$data" \
    2> "$log" &
  local perf_pid=$! out requests status=0
  sleep 0.5
  if ! kill -0 "$perf_pid" 2>/dev/null; then
    echo "$name: perf stopped before the load ($log)" >&2
    return 1
  fi
  out=$(taskset -c "$LOAD_CPU" wrk --threads 1 --connections "${CONCURRENCY:-64}" \
    --duration "${PROFILE_SECONDS}s" --timeout 10s "$@" "$url") || status=$?
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" || true
  [ "$status" = 0 ] || { echo "$name: wrk failed ($status)" >&2; return 1; }
  requests=$(wrk_answered "$name" "$out" "$log") || return 1
  python3 "$(dirname "${BASH_SOURCE[0]}")/perf_split.py" "$data" "$pid" "$requests" \
    > "target/load/$name.perf.json"
}
