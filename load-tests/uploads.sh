#!/usr/bin/env bash
# Document uploads under load: CLIENTS citizens' apps (default 20) each upload FILES files of
# SIZE_MB megabytes (default 10, the per-file cap) at once to `POST /v1/me/uploads`, as the level-2
# demo citizen. Prints the upload throughput (MB/s over the whole run) and the server's RSS,
# sampled every 100 ms, before, at its peak and after: uploads are streamed to storage, so the
# peak must not grow with the file size (compare SIZE_MB=1 with SIZE_MB=10).
# Builds in release, uses a scratch database and a scratch object directory under target/load/.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-20}
FILES=${FILES:-1}
SIZE_MB=${SIZE_MB:-10}
PORT=${PORT:-18097}

scripts/services
scripts/eid-sim
# The same packages as the other load tests, so one release build serves them all.
SQLX_OFFLINE=true cargo build --release --locked -p motcua -p motcua-load
mkdir -p target/load

DB=motcua_load_uploads
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export MOTCUA_PUBLIC_URL=http://127.0.0.1:$PORT
export MOTCUA_REDIS_PREFIX="load-uploads-$$:"
export MOTCUA_OBJECT_STORE="file://$PWD/target/load/objects-$$"
export RUST_LOG=error
# One address and one client make the load: lift their limits so the figures measure the work.
export MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN=1000000000
export MOTCUA_RATE_LIMIT_CLIENT_PER_MIN=1000000000
bin=target/release/motcua
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

MOTCUA_LISTEN=127.0.0.1:$PORT $bin serve 2> target/load/uploads-server.log &
server=$!
sampler=
cleanup() {
  kill $server $sampler 2>/dev/null || true
  wait $server 2>/dev/null || true
  rm -rf "target/load/objects-$$" "target/load/upload-$$.pdf" "target/load/uploads-peak-$$"
  redis-cli --scan --pattern "$MOTCUA_REDIS_PREFIX*" | xargs -r -d '\n' redis-cli del >/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres || true
}
trap cleanup EXIT
up=
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && up=1 && break
  sleep 0.2
done
[ -n "$up" ] || { echo "the server did not start (target/load/uploads-server.log)" >&2; exit 1; }
A=http://127.0.0.1:$PORT

app=$($bin client create --name "Load app" --kind public \
  --redirect-uri http://127.0.0.1:53117/oauth/callback --rate-limit 1000000000)
app_id=$(json '["client_id"]' <<<"$app")
token=$(python3 load-tests/signin.py --server "$A" --client-id "$app_id" | json '["access_token"]')

# A PDF by its magic bytes, padded to the size asked (the cap counts 1 MB as 10^6 bytes).
file="target/load/upload-$$.pdf"
python3 - "$file" "$SIZE_MB" <<'EOF'
import os, sys
path, size = sys.argv[1], int(float(sys.argv[2]) * 1000 * 1000)
head = b"%PDF-1.7\n"
with open(path, "wb") as f:
    f.write(head)
    f.write(os.urandom(size - len(head)))
EOF

rss_kib() { ps -o rss= -p "$server" | tr -d ' '; }
before=$(rss_kib)
(
  peak=0
  while kill -0 "$server" 2>/dev/null; do
    now=$(rss_kib || echo 0)
    [ "${now:-0}" -gt "$peak" ] && peak=$now && echo "$peak" > "target/load/uploads-peak-$$"
    sleep 0.1
  done
) &
sampler=$!

echo "== $CLIENTS clients x $FILES files x $SIZE_MB MB" >&2
start=$(date +%s.%N)
pids=()
for c in $(seq 1 "$CLIENTS"); do
  (
    for _ in $(seq 1 "$FILES"); do
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        -F "file=@$file;filename=scan.pdf" "$A/v1/me/uploads")
      [ "$code" = 201 ] || { echo "upload answered $code" >&2; exit 1; }
    done
  ) &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
end=$(date +%s.%N)
sleep 0.3
after=$(rss_kib)
peak=$(cat "target/load/uploads-peak-$$" 2>/dev/null || echo "$before")
rm -f "target/load/uploads-peak-$$"

python3 - "$start" "$end" "$CLIENTS" "$FILES" "$SIZE_MB" "$before" "$peak" "$after" "$failed" <<'EOF' | tee target/load/uploads.json
import json, sys
start, end, clients, files, size_mb, before, peak, after, failed = sys.argv[1:]
seconds = float(end) - float(start)
total_mb = int(clients) * int(files) * float(size_mb)
print(json.dumps({
    "clients": int(clients), "files_per_client": int(files), "file_mb": float(size_mb),
    "failed_clients": int(failed), "seconds": round(seconds, 2),
    "mb_per_second": round(total_mb / seconds, 1),
    "rss_mib": {"before": round(int(before) / 1024), "peak": round(int(peak) / 1024),
                "after": round(int(after) / 1024)},
}))
EOF
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; server, curl clients and storage on the same machine" >&2
[ "$failed" = 0 ]
