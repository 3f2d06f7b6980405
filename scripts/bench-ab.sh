#!/usr/bin/env bash
# Two agentd binaries side by side, for a change measured on a busy machine: GET status with
# wrk (-t2 -c64, DUR seconds) against each in turn, ROUNDS rounds, and each one's CPU per
# request from /proc (utime+stime over the requests wrk counted). Both share whatever else
# the machine does, so the ratios say what the change did even when the absolute figures
# do not.   scripts/bench-ab.sh OLD_AGENTD NEW_AGENTD [ROUNDS]   (DUR=5 by default)
#   MODE=send        POST "hello" to the agent's inbox instead (durable sends, 202 = flushed);
#   FSYNC_DELAY_US=N preload scripts/fsync-delay.c into both, every fsync N us longer.
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-6}; DUR=${DUR:-5}; MODE=${MODE:-get}
command -v wrk >/dev/null || "$(dirname "$0")/install-deps.sh" wrk
W=$(mktemp -d /tmp/agentns-bench-ab.XXXXXX)
PRELOAD=""
if [ -n "${FSYNC_DELAY_US:-}" ]; then
  cc -O2 -shared -fPIC -o "$W/fsync-delay.so" "$(dirname "$0")/fsync-delay.c" -ldl
  PRELOAD="$W/fsync-delay.so"
  export FSYNC_DELAY_US
fi
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"' EXIT
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() { # NAME BINARY -> sets PID_NAME, URL_NAME
  LD_PRELOAD=$PRELOAD "$2" --data "$W/$1" --listen 127.0.0.1:0 --log-level warning >"$W/$1.log" 2>&1 &
  local pid=$! port=""
  PIDS+=("$pid")
  for _ in $(seq 1 100); do port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$W/$1.log" | grep -o '[0-9]*$' || true); [ -n "$port" ] && break; sleep 0.1; done
  [ -n "$port" ] || { echo "agentd $2 did not start: $(cat "$W/$1.log")" >&2; exit 1; }
  # As bench-http: a paused agent with room for every send, so a send costs what a send does.
  curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$W/$1/token")" -d '{"id":"a","kind":"echo","config":{"inbox":{"max_depth":1000000}}}' "http://127.0.0.1:$port/agents"
  curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$W/$1/token")" -X PUT -d pause "http://127.0.0.1:$port/agents/a/ctl"
  printf -v "PID_$1" %s "$pid"; printf -v "URL_$1" %s "http://127.0.0.1:$port"
}
start old "$OLD"; start new "$NEW"
TICK=$(getconf CLK_TCK)
run() { # NAME -> "req/s cpu_us_per_request"
  local pid url tok c0 c1 out n rps
  pid=PID_$1; url=URL_$1; tok=$(cat "$W/$1/token")
  c0=$(cpu "${!pid}")
  if [ "$MODE" = send ]; then
    printf 'wrk.method = "POST"\nwrk.body = "hello"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$tok" >"$W/$1.lua"
    out=$(wrk -t2 -c64 -d"${DUR}s" -s "$W/$1.lua" "${!url}/agents/a/inbox")
  else
    out=$(wrk -t2 -c64 -d"${DUR}s" -H "Authorization: Bearer $tok" "${!url}/agents/a/status")
  fi
  c1=$(cpu "${!pid}")
  n=$(echo "$out" | grep -o '[0-9]* requests in' | grep -o '^[0-9]*')
  rps=$(echo "$out" | grep -o 'Requests/sec: *[0-9.]*' | grep -o '[0-9.]*$')
  echo "$rps $(python3 -c "print(($c1 - $c0) * 1e6 / $TICK / $n)")"
}
RESULTS=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  RESULTS+=("$(run old) $(run new)")
done
printf '%s\n' "${RESULTS[@]}" | python3 -c '
import statistics as st, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda xs: st.median(xs)
print(f"old: {med([r[0] for r in rows]):.0f} req/s, {med([r[1] for r in rows]):.1f} us CPU per request (medians)")
print(f"new: {med([r[2] for r in rows]):.0f} req/s, {med([r[3] for r in rows]):.1f} us CPU per request")
print("new/old answers per round:", [round(r[2] / r[0], 3) for r in rows], f"median {med([r[2] / r[0] for r in rows]):.3f}")
print(f"new/old CPU per request: {med([r[3] for r in rows]) / med([r[1] for r in rows]):.3f}")
'
