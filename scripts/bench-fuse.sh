#!/usr/bin/env bash
# FUSE benchmarks, each against baselines measured in the same run:
#   N stat(2) and N open/read/close of an agent's status through
#   - the in-process mount (agentd --mount) and the remote mount (agentfs over HTTP), each with
#     the page cache (the default) and with --no-cache (direct I/O on every open, as before),
#   - the same bytes on tmpfs (the kernel's own floor),
#   - libfuse's example hello.c serving a file of the same size (the floor for any FUSE
#     file system; compiled here from /usr/share/doc/libfuse3-dev/examples).
# and `find | xargs cat` of 1,000 agents' status through each mount.
# The loop is a small C program (scripts/fsbench.c); each figure is the median of 5 runs.
# Needs root (or user_allow_other) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
N=${N:-100000}
CC=${CC:-$(command -v gcc || command -v clang)}
swift build -c release --product agentd >/dev/null && swift build -c release --product agentfs >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/agentns-bench-fuse.XXXXXX)
mkdir -p "$WORK/inproc" "$WORK/inproc-direct" "$WORK/remote" "$WORK/remote-direct" "$WORK/tmpfs" "$WORK/hello"
cleanup() {
  for m in inproc inproc-direct remote remote-direct tmpfs hello; do umount -l "$WORK/$m" 2>/dev/null || true; done
  kill ${AGENTD_PID:-} ${AGENTD2_PID:-} ${HELLO_PID:-} 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$CC" -O2 -o "$WORK/fsbench" scripts/fsbench.c
"$CC" -O2 -o "$WORK/hellofs" /usr/share/doc/libfuse3-dev/examples/hello.c $(pkg-config fuse3 --cflags --libs)

start_agentd() {  # DATA LOG [agentd options...]: sets PORT
  local data=$1 log=$2; shift 2
  "$BIN/agentd" --data "$data" --listen 127.0.0.1:0 --log-level warning "$@" >"$log" 2>&1 &
  LAST_PID=$!
  for _ in $(seq 1 100); do PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true); [ -n "$PORT" ] && break; sleep 0.1; done
}
start_agentd "$WORK/data" "$WORK/agentd.log" --mount "$WORK/inproc"; AGENTD_PID=$LAST_PID
T=$(cat "$WORK/data/token"); U="http://127.0.0.1:$PORT"
start_agentd "$WORK/data2" "$WORK/agentd2.log" --mount "$WORK/inproc-direct" --no-cache; AGENTD2_PID=$LAST_PID
T2=$(cat "$WORK/data2/token"); U2="http://127.0.0.1:$PORT"
AGENTS=${AGENTS:-1000}
echo "creating $AGENTS echo agents in each agentd..."
python3 - "$U" "$T" "$U2" "$T2" "$AGENTS" <<'PY'
import http.client, json, sys
from urllib.parse import urlsplit
for url, token in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port)
    for i in range(int(sys.argv[5])):
        c.request("POST", "/agents", json.dumps({"id": "a" if i == 0 else f"fleet-{i:05d}", "kind": "echo"}),
                  {"Authorization": f"Bearer {token}"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
PY
"$BIN/agentfs" mount "$U" "$WORK/remote" --token "$T" >/dev/null
"$BIN/agentfs" mount "$U" "$WORK/remote-direct" --token "$T" --no-cache >/dev/null
STATUS=$(cat "$WORK/inproc/agents/a/status")

mount -t tmpfs -o size=1m tmpfs "$WORK/tmpfs"
printf '%s' "$STATUS" >"$WORK/tmpfs/status"
"$WORK/hellofs" "$WORK/hello" --name=status "--contents=$STATUS"
for _ in $(seq 1 50); do grep -q " $WORK/hello " /proc/mounts && break; sleep 0.1; done

echo "FUSE benchmark: $N operations per run, median of 5 runs, ns per operation (status is ${#STATUS} bytes)"
declare -A R
for target in tmpfs:"$WORK/tmpfs/status" hello:"$WORK/hello/status" inproc:"$WORK/inproc/agents/a/status" \
              inproc-direct:"$WORK/inproc-direct/agents/a/status" remote:"$WORK/remote/agents/a/status" \
              remote-direct:"$WORK/remote-direct/agents/a/status"; do
  name=${target%%:*}; path=${target#*:}
  n=$N; [ "$name" = remote-direct ] && n=$((N / 10))  # over HTTP each uncached operation is a request
  R[$name.stat]=$("$WORK/fsbench" stat "$path" "$n")
  R[$name.read]=$("$WORK/fsbench" read "$path" "$n")
  printf '  %-14s stat %8s ns   open/read/close %8s ns\n' "$name" "${R[$name.stat]}" "${R[$name.read]}"
done
# find | xargs cat of every agent's status: ms per pass, median of 5 (the first pass fills the cache).
median5() { sort -n | sed -n 3p; }
# And xargs cat alone, of the same files listed once: what the page cache changes (find's walk
# is 12 directory reads per agent, which it does not cache).
for m in inproc inproc-direct remote remote-direct; do
  R[$m.find]=$(for _ in 1 2 3 4 5; do
    s=$(date +%s%N); find "$WORK/$m/agents" -name status | xargs cat >/dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
  done | median5)
  ls "$WORK/$m/agents" | sed "s|^|$WORK/$m/agents/|; s|\$|/status|" >"$WORK/$m.list"
  R[$m.cat]=$(for _ in 1 2 3 4 5; do
    s=$(date +%s%N); xargs cat <"$WORK/$m.list" >/dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 100000 ))
  done | median5)
done
tenths() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 10 }'; }
printf '  find | xargs cat of %d status files, ms: in-process %s (--no-cache %s), remote %s (--no-cache %s)\n' \
  "$AGENTS" "${R[inproc.find]}" "${R[inproc-direct.find]}" "${R[remote.find]}" "${R[remote-direct.find]}"
printf '  xargs cat of the %d listed status files, ms: in-process %s (--no-cache %s), remote %s (--no-cache %s)\n' \
  "$AGENTS" "$(tenths "${R[inproc.cat]}")" "$(tenths "${R[inproc-direct.cat]}")" "$(tenths "${R[remote.cat]}")" "$(tenths "${R[remote-direct.cat]}")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "ratios:"
echo "  in-process open/read/close / hello.c          $(ratio "${R[inproc.read]}" "${R[hello.read]}")   (goal <= 1.0)"
echo "  remote open/read/close / hello.c              $(ratio "${R[remote.read]}" "${R[hello.read]}")   (goal <= 2.0)"
echo "  in-process --no-cache open/read/close / hello.c  $(ratio "${R[inproc-direct.read]}" "${R[hello.read]}")   (before the page cache)"
echo "  remote --no-cache open/read/close / hello.c      $(ratio "${R[remote-direct.read]}" "${R[hello.read]}")   (before the page cache)"
echo "  find|xargs cat, in-process --no-cache / cached   $(ratio "${R[inproc-direct.find]}" "${R[inproc.find]}")   (goal >= 5)"
echo "  find|xargs cat, remote --no-cache / cached       $(ratio "${R[remote-direct.find]}" "${R[remote.find]}")"
echo "  xargs cat, in-process --no-cache / cached        $(ratio "${R[inproc-direct.cat]}" "${R[inproc.cat]}")"
echo "  xargs cat, remote --no-cache / cached            $(ratio "${R[remote-direct.cat]}" "${R[remote.cat]}")"
echo "  in-process stat / tmpfs stat                  $(ratio "${R[inproc.stat]}" "${R[tmpfs.stat]}")   (goal <= 2)"
echo "  in-process open/read/close / tmpfs            $(ratio "${R[inproc.read]}" "${R[tmpfs.read]}")"
echo "  hello.c stat / tmpfs stat                     $(ratio "${R[hello.stat]}" "${R[tmpfs.stat]}")"
echo "  remote stat / tmpfs stat                      $(ratio "${R[remote.stat]}" "${R[tmpfs.stat]}")"
