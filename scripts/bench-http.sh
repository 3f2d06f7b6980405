#!/usr/bin/env bash
# HTTP benchmarks for agentd, each with its baseline measured in the same run:
#  1. GET /agents/a/status with wrk (64 connections) against nginx serving the same bytes.
#  2. Durable sends: wrk POSTing to an inbox from 64 connections (acknowledged = committed)
#     against raw SQLite inserting one row per transaction at the same durability.
#  3. The same durable sends on a slow disk: agentd and raw SQLite again, both with
#     scripts/fsync-delay.c preloaded (every fsync/fdatasync 2 ms longer; FSYNC_DELAY_US to
#     change it), which is where group commit pays.
#  4. Durable creates (POST /agents, a new agent per request) against the sends of the same run.
# Each also against Hummingbird alone (agentns-bench http-ceiling: same bytes, no runtime), the
# ceiling any handler on this framework has here. Figures are medians of RUNS runs (default 3),
# the servers measured in turn within each run.
# Needs wrk and nginx (installed with apt if missing). Loopback only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh wrk nginx-light
DUR=${DUR:-5}
RUNS=${RUNS:-3}
# One product per call: with several --product flags SwiftPM builds only the last.
for p in agentd agentns-bench; do swift build -c release --product "$p" >/dev/null; done
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/agentns-bench-http.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# start_agentd NAME [PRELOAD]: an agentd on a data directory of its own ($WORK/NAME), with
# PRELOAD in LD_PRELOAD if given; sets STARTED_PID, STARTED_URL and STARTED_TOKEN.
start_agentd() {
  local log="$WORK/$1.log" port=""
  LD_PRELOAD="${2:-}" "$BIN/agentd" --data "$WORK/$1" --listen 127.0.0.1:0 --log-level warning >"$log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 1 100); do port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true); [ -n "$port" ] && break; sleep 0.1; done
  [ -n "$port" ] || { echo "agentd ($1) did not start: $(cat "$log")" >&2; exit 1; }
  STARTED_URL="http://127.0.0.1:$port"
  STARTED_TOKEN=$(cat "$WORK/$1/token")
}

# stop_agentd PID: stops one started above and forgets it (cleanup must not signal a reused pid).
stop_agentd() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local left=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || left+=("$p"); done
  PIDS=("${left[@]}")
}

start_agentd data
T=$STARTED_TOKEN; U=$STARTED_URL
curl -sf -H "Authorization: Bearer $T" -d '{"id":"a","kind":"echo","config":{"inbox":{"max_depth":1000000}}}' "$U/agents" >/dev/null
curl -sf -H "Authorization: Bearer $T" -X PUT -d pause "$U/agents/a/ctl" >/dev/null

# The slow disk: a second agentd whose every fsync takes FSYNC_DELAY_US (2 ms) longer.
FSYNC_DELAY_US=${FSYNC_DELAY_US:-2000}
export FSYNC_DELAY_US
cc -O2 -shared -fPIC -o "$WORK/fsync-delay.so" scripts/fsync-delay.c -ldl
SLOW="$WORK/fsync-delay.so"
start_agentd slow "$SLOW"
TS=$STARTED_TOKEN; US=$STARTED_URL
curl -sf -H "Authorization: Bearer $TS" -d '{"id":"a","kind":"echo","config":{"inbox":{"max_depth":1000000}}}' "$US/agents" >/dev/null
curl -sf -H "Authorization: Bearer $TS" -X PUT -d pause "$US/agents/a/ctl" >/dev/null
curl -sf -H "Authorization: Bearer $T" "$U/agents/a/status" >"$WORK/status"

mkdir -p "$WORK/nginx/logs" "$WORK/www"
cp "$WORK/status" "$WORK/www/status"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:0; }
  server {
    listen 127.0.0.1:${NGINX_PORT:-5681};
    location / { root $WORK/www; default_type application/json; }
  }
}
CONF
sed -i '/listen 127.0.0.1:0;/d' "$WORK/nginx/nginx.conf"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
PIDS+=($!)
sleep 0.5

CEIL_PORT=${CEIL_PORT:-5682}
"$BIN/agentns-bench" http-ceiling "$CEIL_PORT" "$WORK/status" >"$WORK/ceiling.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$CEIL_PORT/status" >/dev/null && break; sleep 0.1; done

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "hello"
wrk.headers["Authorization"] = "Bearer $T"
LUA
cat >"$WORK/post-slow.lua" <<LUA
wrk.method = "POST"
wrk.body = "hello"
wrk.headers["Authorization"] = "Bearer $TS"
LUA
# Creates: every request a new agent (ids unique per wrk thread), answered 201 once committed.
# Each run's creates go to an agentd of their own, started empty: every run measures the same.
create_lua() {
  cat <<LUA
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $1"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  return wrk.format(nil, "/agents", nil, '{"id":"c' .. tid .. '-' .. n .. '","kind":"echo"}')
end
function response(status) if status ~= 201 then wrk.thread:stop() end end
LUA
}
rps() { grep -o 'Requests/sec: *[0-9.]*' | grep -o '[0-9.]*$'; }
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }
NG=(); HB=(); AG=(); HBP=(); SENDS=(); RAW=(); SSENDS=(); SRAW=(); CREATES=()
for run in $(seq 1 "$RUNS"); do
  echo "run $run/$RUNS: GET status and POST inbox, wrk -t2 -c64 -d${DUR}s each" >&2
  NG+=("$(wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:${NGINX_PORT:-5681}/status" | rps)")
  HB+=("$(wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:$CEIL_PORT/status" | rps)")
  AG+=("$(wrk -t2 -c64 -d"${DUR}s" -H "Authorization: Bearer $T" "$U/agents/a/status" | rps)")
  HBP+=("$(wrk -t2 -c64 -d"${DUR}s" -s "$WORK/post.lua" "http://127.0.0.1:$CEIL_PORT/agents/a/inbox" | rps)")
  SENDS+=("$(wrk -t2 -c64 -d"${DUR}s" -s "$WORK/post.lua" "$U/agents/a/inbox" | rps)")
  start_agentd "creates$run"
  create_lua "$STARTED_TOKEN" >"$WORK/create$run.lua"
  wrk -t2 -c64 -d"${DUR}s" -s "$WORK/create$run.lua" "$STARTED_URL/agents" >"$WORK/create$run.out"
  if grep -q "Non-2xx" "$WORK/create$run.out"; then echo "creates were refused (not 201): $(cat "$WORK/create$run.out")" >&2; exit 1; fi
  CREATES+=("$(rps <"$WORK/create$run.out")")
  CREATED=$(curl -sf -H "Authorization: Bearer $STARTED_TOKEN" "$STARTED_URL/agents" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') ||
    { echo "the creates' agentd stopped answering: $(tail -5 "$WORK/creates$run.log")" >&2; exit 1; }
  stop_agentd "$STARTED_PID"
  RAW+=("$("$BIN/agentns-bench" raw-inserts "$WORK/raw$run.sqlite" 3000)")
  SSENDS+=("$(wrk -t2 -c64 -d"${DUR}s" -s "$WORK/post-slow.lua" "$US/agents/a/inbox" | rps)")
  SRAW+=("$(LD_PRELOAD="$SLOW" "$BIN/agentns-bench" raw-inserts "$WORK/sraw$run.sqlite" 500)")
done
NG=$(median "${NG[@]}"); HB=$(median "${HB[@]}"); AG=$(median "${AG[@]}")
HBP=$(median "${HBP[@]}"); SENDS=$(median "${SENDS[@]}"); RAW=$(median "${RAW[@]}")
SSENDS=$(median "${SSENDS[@]}"); SRAW=$(median "${SRAW[@]}"); CREATES=$(median "${CREATES[@]}")
DEPTH=$(curl -s -H "Authorization: Bearer $T" "$U/agents/a/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queue_depth"])')

echo "== GET status, wrk -t2 -c64, median of $RUNS x ${DUR}s"
echo "nginx (same bytes, static file):       $NG req/s"
echo "Hummingbird alone (same bytes):        $HB req/s"
echo "agentd GET /agents/a/status:           $AG req/s"
python3 -c "print(f'ratio agentd/nginx: {$AG/$NG:.2f} (goal >= 0.8); agentd/Hummingbird alone: {$AG/$HB:.2f}; Hummingbird alone/nginx: {$HB/$NG:.2f}')"

echo "== durable sends, wrk -t2 -c64 POST inbox (acknowledged = committed and flushed; raw SQLite at synchronous=FULL), median of $RUNS x ${DUR}s"
echo "raw SQLite, one row per transaction:   $RAW rows/s"
echo "Hummingbird alone, POST answered 202:  $HBP req/s"
echo "agentd sends from 64 connections:      $SENDS sends/s ($DEPTH envelopes in the inbox afterwards)"
python3 -c "print(f'ratio agentd/raw: {$SENDS/$RAW:.2f} (goal >= 5); agentd/Hummingbird alone: {$SENDS/$HBP:.2f}; Hummingbird alone/raw: {$HBP/$RAW:.2f}')"

echo "== durable creates, wrk -t2 -c64 POST /agents, a new agent each (201 = committed), median of $RUNS x ${DUR}s"
echo "agentd creates from 64 connections:    $CREATES agents/s (each run on an empty agentd; the last made $CREATED)"
python3 -c "print(f'ratio creates/sends: {$CREATES/$SENDS:.2f} (goal >= 0.7)')"

echo "== durable sends with every fsync ${FSYNC_DELAY_US} us longer (scripts/fsync-delay.c preloaded into both), median of $RUNS x ${DUR}s"
echo "raw SQLite, one row per transaction:   $SRAW rows/s"
echo "agentd sends from 64 connections:      $SSENDS sends/s"
python3 -c "print(f'ratio agentd/raw: {$SSENDS/$SRAW:.1f} (goal >= 40); agentd/Hummingbird alone: {$SSENDS/$HBP:.2f} (goal >= 0.8)')"
# One row per transaction cannot beat one flush per row: if it did, the shim was not in effect.
python3 -c "import sys; sys.exit(0 if $FSYNC_DELAY_US == 0 or $SRAW <= 1e6 / $FSYNC_DELAY_US else 1)" ||
  { echo "the fsync-delay shim had no effect (raw SQLite outran one flush per row): the slow-disk figures are not valid"; exit 1; }
