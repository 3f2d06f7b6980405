# Shared by the shell suites: start_agentd [PORT [ARGS...]] runs agentd on $WORK/data in the
# background (port 0 picks one), waits until it listens, and sets AGENTD_PID and PORT.
start_agentd() {
  local port=${1:-0}
  [ $# -gt 0 ] && shift
  "$BIN/agentd" --data "$WORK/data" --listen "127.0.0.1:$port" "$@" >"$WORK/agentd.log" 2>&1 &
  AGENTD_PID=$!
  PORT=""
  for _ in $(seq 1 100); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/agentd.log" | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "agentd did not start:"; cat "$WORK/agentd.log"; exit 1; }
}
