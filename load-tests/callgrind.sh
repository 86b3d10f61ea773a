# Sourced by load-tests/bench and load-tests/profile.sh (after pinned.sh): a server under
# `valgrind --tool=callgrind`, which counts instructions, so the figures repeat whatever else the
# machine is doing, and the instructions each request of a row takes, by component.
#
#   callgrind_start NAME COMMAND…   runs COMMAND under callgrind on the server's core; its pid in
#                                   $CALLGRIND_PID, its dumps target/load/callgrind.NAME.out.*
#   callgrind_count NAME URL [wrk args…]   zeroes the counters, runs wrk for $PROFILE_SECONDS s
#                                   (20) at 4 connections, dumps, and writes
#                                   target/load/NAME.callgrind.json (load-tests/callgrind_split.py)
#   callgrind_stop                  stops the server

PROFILE_SECONDS=${PROFILE_SECONDS:-20}
callgrind_start() { # name command…
  command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: apt-get install valgrind)" >&2; exit 1; }
  local name=$1
  shift
  rm -f "target/load/callgrind.$name.out"*
  CALLGRIND_NAME=$name
  $ON_SERVER_CPU valgrind --tool=callgrind --callgrind-out-file="target/load/callgrind.$name.out" \
    "$@" 2> "target/load/callgrind.$name.log" &
  CALLGRIND_PID=$!
}

callgrind_count() { # name url [wrk args]
  local name=$1 url=$2
  shift 2
  echo "== $name, under callgrind" >&2
  callgrind_control -z "$CALLGRIND_PID" >/dev/null
  local out requests
  out=$(taskset -c "$LOAD_CPU" wrk --threads 1 --connections 4 --duration "${PROFILE_SECONDS}s" \
    --timeout 10s "$@" "$url")
  callgrind_control -d "$CALLGRIND_PID" >/dev/null
  requests=$(wrk_answered "$name" "$out" "target/load/callgrind.$CALLGRIND_NAME.log") || return 1
  local dump
  dump=$(ls -t "target/load/callgrind.$CALLGRIND_NAME.out".* | head -1)
  python3 "$(dirname "${BASH_SOURCE[0]}")/callgrind_split.py" "$dump" "$requests" \
    > "target/load/$name.callgrind.json"
  CALLGRIND_DUMP=$dump
}

callgrind_stop() {
  [ -n "${CALLGRIND_PID:-}" ] || return 0
  kill "$CALLGRIND_PID" 2>/dev/null || true
  wait "$CALLGRIND_PID" 2>/dev/null || true
  CALLGRIND_PID=
}
