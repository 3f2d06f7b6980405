#!/usr/bin/env bash
# FUSE benchmarks, each against baselines measured in the same run:
#   N stat(2) and N open/read/close of an agent's status through
#   - the in-process mount (agentd --mount) and the remote mount (agentfs over HTTP),
#   - the same bytes on tmpfs (the kernel's own floor),
#   - libfuse's example hello.c serving a file of the same size (the floor for any FUSE
#     file system; compiled here from /usr/share/doc/libfuse3-dev/examples).
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
mkdir -p "$WORK/inproc" "$WORK/remote" "$WORK/tmpfs" "$WORK/hello"
cleanup() {
  for m in inproc remote tmpfs hello; do umount -l "$WORK/$m" 2>/dev/null || true; done
  kill ${AGENTD_PID:-} ${HELLO_PID:-} 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$CC" -O2 -o "$WORK/fsbench" scripts/fsbench.c
"$CC" -O2 -o "$WORK/hellofs" /usr/share/doc/libfuse3-dev/examples/hello.c $(pkg-config fuse3 --cflags --libs)

"$BIN/agentd" --data "$WORK/data" --listen 127.0.0.1:0 --log-level warning --mount "$WORK/inproc" >"$WORK/agentd.log" 2>&1 &
AGENTD_PID=$!
for _ in $(seq 1 100); do PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/agentd.log" | grep -o '[0-9]*$' || true); [ -n "$PORT" ] && break; sleep 0.1; done
T=$(cat "$WORK/data/token"); U="http://127.0.0.1:$PORT"
curl -sf -H "Authorization: Bearer $T" -d '{"id":"a","kind":"echo"}' "$U/agents" >/dev/null
"$BIN/agentfs" mount "$U" "$WORK/remote" --token "$T" >/dev/null
STATUS=$(cat "$WORK/inproc/agents/a/status")

mount -t tmpfs -o size=1m tmpfs "$WORK/tmpfs"
printf '%s' "$STATUS" >"$WORK/tmpfs/status"
"$WORK/hellofs" "$WORK/hello" --name=status "--contents=$STATUS"
for _ in $(seq 1 50); do grep -q " $WORK/hello " /proc/mounts && break; sleep 0.1; done

echo "FUSE benchmark: $N operations per run, median of 5 runs, ns per operation (status is ${#STATUS} bytes)"
declare -A R
for target in tmpfs:"$WORK/tmpfs/status" hello:"$WORK/hello/status" inproc:"$WORK/inproc/agents/a/status" remote:"$WORK/remote/agents/a/status"; do
  name=${target%%:*}; path=${target#*:}
  n=$N; [ "$name" = remote ] && n=$((N / 10))  # over HTTP each uncached operation is a request
  R[$name.stat]=$("$WORK/fsbench" stat "$path" "$n")
  R[$name.read]=$("$WORK/fsbench" read "$path" "$n")
  printf '  %-8s stat %8s ns   open/read/close %8s ns\n' "$name" "${R[$name.stat]}" "${R[$name.read]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "ratios:"
echo "  in-process stat / tmpfs stat              $(ratio "${R[inproc.stat]}" "${R[tmpfs.stat]}")   (goal <= 2)"
echo "  in-process open/read/close / hello.c      $(ratio "${R[inproc.read]}" "${R[hello.read]}")   (goal <= 1.5)"
echo "  in-process open/read/close / tmpfs        $(ratio "${R[inproc.read]}" "${R[tmpfs.read]}")"
echo "  hello.c stat / tmpfs stat                 $(ratio "${R[hello.stat]}" "${R[tmpfs.stat]}")"
echo "  remote stat / tmpfs stat                  $(ratio "${R[remote.stat]}" "${R[tmpfs.stat]}")"
echo "  remote open/read/close / hello.c          $(ratio "${R[remote.read]}" "${R[hello.read]}")"
