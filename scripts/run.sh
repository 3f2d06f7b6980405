#!/usr/bin/env bash
# make run: agentd on 127.0.0.1:5640 with the echo agent "demo" and, unless LOCAL_MODEL=0, a local
# model (scripts/local-model.sh: llama-server with SmolLM2-135M on 127.0.0.1:5641) registered as
# the provider "local" behind an llm agent "assistant".
#
# Environment: BIN (agentd's build directory; default: swift build --show-bin-path), DATA (default
# <repo>/.data), MOUNT (also mount the namespace there with FUSE), LOCAL_MODEL=0 (no model),
# MODEL_PORT (default 5641), MODEL_DIR (default $DATA/model: the server's log and pid file).
#
# Supervision: this script is the supervisor, not agentd. llama-server runs detached (setsid, its
# pid in $MODEL_DIR); a background loop here checks every 2 s that it lives and restarts it if it
# died (at most 5 times in 10 minutes, then it gives up and says so: agentd keeps running and the
# assistant's jobs fail until the model is back). A trap on EXIT, INT and TERM stops agentd
# (TERM, so it unmounts and closes the database cleanly), the loop and the model, in that order, so
# nothing outlives `make run`, whether agentd exits or the user presses Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$(cd "$ROOT" && swift build --show-bin-path)}
DATA=${DATA:-$ROOT/.data}
MOUNT=${MOUNT:-}
LOCAL_MODEL=${LOCAL_MODEL:-1}
MODEL_PORT=${MODEL_PORT:-5641}
export MODEL_DIR=${MODEL_DIR:-$DATA/model}
AGENTD_PORT=5640
export AGENTD_URL=http://127.0.0.1:$AGENTD_PORT AGENTD_DATA=$DATA
MODEL=$ROOT/scripts/local-model.sh

agentd_pid="" supervisor_pid="" model_started=0 setup_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$setup_pid" ] && kill -0 "$setup_pid" 2>/dev/null; then kill -TERM "$setup_pid" 2>/dev/null || true; wait "$setup_pid" 2>/dev/null || true; fi
  if [ -n "$agentd_pid" ] && kill -0 "$agentd_pid" 2>/dev/null; then
    kill -TERM "$agentd_pid" 2>/dev/null || true
    wait "$agentd_pid" 2>/dev/null || true
  fi
  if [ -n "$supervisor_pid" ]; then kill -TERM "$supervisor_pid" 2>/dev/null || true; wait "$supervisor_pid" 2>/dev/null || true; fi
  if [ "$model_started" = 1 ]; then "$MODEL" stop || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$LOCAL_MODEL" != 0 ]; then
  # In the background and waited for, so that Ctrl-C during a first (long) build is handled at once.
  "$MODEL" setup &
  setup_pid=$!
  wait "$setup_pid" || { echo "run: the local model's setup failed (LOCAL_MODEL=0 make run runs without it)" >&2; exit 1; }
  setup_pid=""
  model_started=1
  [ -d "$DATA" ] || (umask 077 && mkdir -p "$DATA")   # agentd wants its data directory private
  out=$("$MODEL" start --port "$MODEL_PORT")
  sed '$d' <<<"$out"
  MODEL_URL=$(tail -n 1 <<<"$out")

  supervise() {
    # TERM (from cleanup) ends the loop only between checks, never in the middle of a restart,
    # so no server is started after cleanup has stopped the model.
    trap 'exit 0' TERM
    local restarts=() now
    while sleep 2; do
      "$MODEL" status >/dev/null 2>&1 && continue
      now=$SECONDS
      local recent=()
      for t in "${restarts[@]}"; do [ $((now - t)) -lt 600 ] && recent+=("$t"); done
      restarts=("${recent[@]}")
      if [ ${#restarts[@]} -ge 5 ]; then
        echo "run: llama-server died 5 times in 10 minutes; not restarting it (log: $MODEL_DIR/llama-server.log)" >&2
        return
      fi
      echo "run: llama-server is gone; restarting it (log: $MODEL_DIR/llama-server.log)" >&2
      restarts+=("$now")
      "$MODEL" start --port "$MODEL_PORT" >/dev/null || true
    done
  }
  supervise &
  supervisor_pid=$!
fi

"$BIN/agentd" --data "$DATA" --demo ${MOUNT:+--mount "$MOUNT"} &
agentd_pid=$!
deadline=$((SECONDS + 30))
until curl -sf -m 2 "$AGENTD_URL/runtime/status" >/dev/null 2>&1; do
  kill -0 "$agentd_pid" 2>/dev/null || { wait "$agentd_pid" || rc=$?; echo "run: agentd exited (status ${rc:-0})" >&2; agentd_pid=""; exit "${rc:-1}"; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "run: agentd did not answer $AGENTD_URL/runtime/status within 30 s" >&2; exit 1; }
  sleep 0.1
done

if [ "$LOCAL_MODEL" != 0 ]; then
  ctl=$BIN/agentctl
  # Both steps are warnings, not failures: agentd and the demo agent are useful without them.
  if "$ctl" providers add local --base-url "$MODEL_URL" --model smollm2 --price-input 0 --price-output 0 >/dev/null; then
    cfg=$(mktemp)
    echo '{"provider":"local","model":"smollm2","system":"You are a helpful assistant. Answer briefly.","max_tokens":64,"memory":4}' >"$cfg"
    if out=$("$ctl" create assistant --kind llm --config "$cfg" 2>&1) || grep -q "already exists" <<<"$out"; then
      assistant=1
    else
      echo "run: could not create the llm agent 'assistant': $out" >&2
    fi
    rm -f "$cfg"
  else
    echo "run: could not register the local model as provider 'local' with agentd (see above)" >&2
  fi
fi

cat <<EOF

agentd is running on $AGENTD_URL (data in $DATA${MOUNT:+, mounted at $MOUNT}); Ctrl-C stops it${MODEL_URL:+ and the model}.
Try, in another shell:
  export AGENTD_DATA=$DATA AGENTD_URL=$AGENTD_URL
  alias agentctl=$BIN/agentctl
  agentctl send demo hello; agentctl cat demo/outbox        # the echo agent
EOF
if [ -n "${assistant:-}" ]; then
  cat <<EOF
  agentctl send assistant "hello"                          # the llm agent, on the local model ($MODEL_URL)
  agentctl cat assistant/outbox                            # its reply, a second or two later
  agentctl ls assistant/compute/jobs/                      # the jobs it ran
EOF
fi
echo

rc=0
wait "$agentd_pid" || rc=$?
agentd_pid=""
exit "$rc"
