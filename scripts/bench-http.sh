#!/usr/bin/env bash
# HTTP benchmarks for agentd, each with its baseline measured in the same run:
#  1. GET /agents/a/status with wrk (64 connections) against nginx serving the same bytes.
#  2. Durable sends: wrk POSTing to an inbox from 64 connections (acknowledged = committed)
#     against raw SQLite inserting one row per transaction at the same durability.
# Needs wrk and nginx (installed with apt if missing). Loopback only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh wrk nginx-light
DUR=${DUR:-10}
swift build -c release --product agentd --product agentns-bench >/dev/null 2>&1 || swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/agentns-bench-http.XXXXXX)
cleanup() { kill ${AGENTD_PID:-} ${NGINX_PID:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN/agentd" --data "$WORK/data" --listen 127.0.0.1:0 --log-level warning >"$WORK/agentd.log" 2>&1 &
AGENTD_PID=$!
for _ in $(seq 1 100); do PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/agentd.log" | grep -o '[0-9]*$' || true); [ -n "$PORT" ] && break; sleep 0.1; done
T=$(cat "$WORK/data/token"); U="http://127.0.0.1:$PORT"
curl -sf -H "Authorization: Bearer $T" -d '{"id":"a","kind":"echo","config":{"inbox":{"max_depth":1000000}}}' "$U/agents" >/dev/null
curl -sf -H "Authorization: Bearer $T" -X PUT -d pause "$U/agents/a/ctl" >/dev/null
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
NGINX_PID=$!
sleep 0.5

rps() { grep -o 'Requests/sec: *[0-9.]*' | grep -o '[0-9.]*$'; }
echo "== GET status, wrk -t2 -c64 -d${DUR}s"
NG=$(wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:${NGINX_PORT:-5681}/status" | rps)
AG=$(wrk -t2 -c64 -d"${DUR}s" -H "Authorization: Bearer $T" "$U/agents/a/status" | rps)
echo "nginx (same bytes, static file): $NG req/s"
echo "agentd GET /agents/a/status:     $AG req/s"
python3 -c "print(f'ratio agentd/nginx: {$AG/$NG:.2f} (goal >= 0.8)')"

echo "== durable sends, wrk -t2 -c64 -d${DUR}s POST inbox (acknowledged = committed, synchronous=FULL)"
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "hello"
wrk.headers["Authorization"] = "Bearer $T"
LUA
SENDS=$(wrk -t2 -c64 -d"${DUR}s" -s "$WORK/post.lua" "$U/agents/a/inbox" | rps)
RAW=$("$BIN/agentns-bench" raw-inserts "$WORK/raw.sqlite" 3000)
DEPTH=$(curl -s -H "Authorization: Bearer $T" "$U/agents/a/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queue_depth"])')
echo "raw SQLite, one row per transaction: $RAW rows/s"
echo "agentd sends from 64 connections:    $SENDS sends/s ($DEPTH envelopes in the inbox afterwards)"
python3 -c "print(f'ratio agentd/raw: {$SENDS/$RAW:.2f} (goal >= 5)')"
