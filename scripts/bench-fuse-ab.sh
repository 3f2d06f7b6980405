#!/usr/bin/env bash
# `find DIR/agents -name status | xargs cat` of AGENTS agents through two builds side by side:
# each build's agentd with an in-process mount and its agentfs mounting that agentd remotely,
# passes alternating between the builds, so both share whatever else the machine does.
#   scripts/bench-fuse-ab.sh OLD_BIN_DIR NEW_BIN_DIR [PASSES]   (AGENTS=1000 by default)
# Each BIN_DIR holds agentd and agentfs. Prints the median ms per pass and new/old.
# Needs root (or user_allow_other) and /dev/fuse.
set -euo pipefail
OLD=$1; NEW=$2; PASSES=${3:-5}; AGENTS=${AGENTS:-1000}
W=$(mktemp -d /tmp/agentns-bench-fuse-ab.XXXXXX)
PIDS=()
cleanup() {
  for m in "$W"/*/inproc "$W"/*/remote; do grep -q " $m " /proc/mounts && umount -l "$m"; done
  kill "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
start() { # NAME BIN_DIR
  mkdir -p "$W/$1/inproc" "$W/$1/remote"
  "$2/agentd" --data "$W/$1/data" --listen 127.0.0.1:0 --log-level warning --mount "$W/$1/inproc" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  local port=""
  for _ in $(seq 1 100); do port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$W/$1.log" | grep -o '[0-9]*$' || true); [ -n "$port" ] && break; sleep 0.1; done
  [ -n "$port" ] || { echo "agentd in $2 did not start: $(cat "$W/$1.log")" >&2; exit 1; }
  local tok; tok=$(cat "$W/$1/data/token")
  python3 -c 'import json,sys; print(json.dumps([{"id": "fleet-%05d" % i, "kind": "echo"} for i in range(int(sys.argv[1]))]))' "$AGENTS" |
    curl -sf -o /dev/null -H "Authorization: Bearer $tok" --data-binary @- "http://127.0.0.1:$port/agents"
  "$2/agentfs" mount "http://127.0.0.1:$port" "$W/$1/remote" --token "$tok" >/dev/null
}
start old "$OLD"; start new "$NEW"
pass() { # DIR -> ms
  local s e
  s=$(date +%s%N); find "$1/agents" -name status | xargs cat >/dev/null; e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}
for m in old new; do pass "$W/$m/inproc" >/dev/null; pass "$W/$m/remote" >/dev/null; done  # warm
R=()
for p in $(seq 1 "$PASSES"); do
  echo "pass $p/$PASSES" >&2
  R+=("$(pass "$W/old/inproc") $(pass "$W/new/inproc") $(pass "$W/old/remote") $(pass "$W/new/remote")")
done
printf '%s\n' "${R[@]}" | python3 -c '
import statistics as st, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
m = [st.median(r[i] for r in rows) for i in range(4)]
print(f"find | xargs cat of '"$AGENTS"' status files, median ms of {len(rows)} passes")
print(f"  in-process: old {m[0]:.0f}, new {m[1]:.0f}: {m[0] / m[1]:.2f}x faster")
print(f"  remote:     old {m[2]:.0f}, new {m[3]:.0f}: {m[2] / m[3]:.2f}x faster")
'
