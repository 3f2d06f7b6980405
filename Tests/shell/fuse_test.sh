#!/usr/bin/env bash
# Real FUSE mounts, driven with coreutils: the same suite over both mount modes.
#   remote     agentd on a real port, `agentfs mount URL DIR` over HTTP
#   inprocess  `agentd --mount DIR`, the same adapter over the in-process file client
# Needs root (or user_allow_other) and /dev/fuse. Prints "N passed, M failed"; exits 1 on any failure.
set -u
MODE=${1:?usage: fuse_test.sh remote|inprocess}
[ -c /dev/fuse ] || { echo "fuse_test.sh: /dev/fuse is missing; FUSE mounts cannot be tested on this machine (modprobe fuse)"; exit 1; }
BIN=${BIN:-$(swift build --show-bin-path)}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/agentns-fuse.XXXXXX)
MNT="$WORK/mnt"
mkdir -p "$MNT" "$WORK/confined"
PASS=0; FAIL=0
AGENTD_PID=""

cleanup() {
  for m in "$MNT" "$WORK/confined" "$WORK/shared"; do grep -q " $m " /proc/mounts && umount -l "$m"; done
  [ -n "$AGENTD_PID" ] && kill "$AGENTD_PID" 2>/dev/null
  pkill -f "agentfs mount .* $WORK/" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   [$MODE] $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL [$MODE] $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
mounted() { grep -q " $1 fuse.agentfs " /proc/mounts; }
# eventually SECONDS COMMAND...: true once COMMAND succeeds.
eventually() { local n=$(($1 * 10)); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }

. "$HERE/lib.sh"
# In-process mode mounts from agentd itself.
start_mode_agentd() {
  if [ "$MODE" = inprocess ]; then start_agentd "${1:-0}" --mount "$MNT"; else start_agentd "${1:-0}"; fi
}

start_mode_agentd
export AGENTD_URL="http://127.0.0.1:$PORT" AGENTD_DATA="$WORK/data"
T=$(cat "$WORK/data/token")
CTL="$BIN/agentctl"
if [ "$MODE" = remote ]; then
  out=$("$BIN/agentfs" mount "$AGENTD_URL" "$MNT" 2>&1)
  check "agentfs mount returns once mounted" mounted "$MNT"
  echo "     $out"
fi
check "the mount is in /proc/mounts" eventually 5 mounted "$MNT"

# The README's shell session, line by line.
"$CTL" create scout --kind echo >/dev/null
A="$MNT/agents/scout"
check "ls agents/ shows the new agent" eventually 3 sh -c "ls '$MNT/agents' | grep -qx scout"
(cd "$A" && timeout 20 tail -f logs/trace >"$WORK/trace.tail" 2>&1) &
TAIL=$!
sleep 1.5
check "echo hello > inbox" sh -c "echo hello > '$A/inbox'"
check "cat outbox shows the reply" eventually 5 sh -c "cat '$A/outbox' | grep -q '\"body\":\"hello\"'"
check "cat status shows tick_count moved" sh -c "cat '$A/status' | grep -q '\"tick_count\":1'"
check "tail -f logs/trace sees the tick" eventually 8 grep -q '"type":"tick_end"' "$WORK/trace.tail"
echo tick > "$A/ctl"
check "tail -f follows the next tick too" eventually 8 grep -q '"tick":2' "$WORK/trace.tail"
kill $TAIL 2>/dev/null
check "cat status after a manual tick shows it (no stale cache)" sh -c "grep -q '\"tick_count\":2' '$A/status'"
check "ls lists the agent's files" sh -c "ls '$A' | tr '\n' ' ' | grep -q '^config ctl deadletter goals identity inbox logs mounts outbox state status $'"
check "stat: status is a read-only regular file" sh -c "[ \"\$(stat -c '%F %a' '$A/status')\" = 'regular file 444' ]"
check "stat: inodes are stable" sh -c "[ \"\$(stat -c %i '$A/status')\" = \"\$(stat -c %i '$A/status')\" ] && [ \"\$(stat -c %i '$A/status')\" != \"\$(stat -c %i '$A/state')\" ]"
check "stat size of a log matches its bytes" sh -c "[ \"\$(stat -c %s '$A/outbox')\" = \"\$(cat '$A/outbox' | wc -c)\" ]"
check "echo x > status fails in the shell" sh -c "! (echo x > '$A/status') 2>/dev/null"
check "echo bad > ctl fails in the shell" sh -c "! (echo bad > '$A/ctl') 2>/dev/null"
check "call file: write then read on one handle" sh -c "cd '$A' && exec 3<>identity/sign && echo -n data >&3 && [ \"\$(cat <&3 | tr -d '\n' | wc -c)\" = 128 ]"
check "grep -r finds the reply" sh -c "grep -rq '\"body\":\"hello\"' '$A'"

# Goals with coreutils.
check "echo > goals/g1.json creates" sh -c "echo '{\"aim\":\"scout\"}' > '$A/goals/g1.json'"
check "ls goals/ lists it" sh -c "[ \"\$(ls '$A/goals')\" = g1.json ]"
check "cat goals/g1.json" sh -c "[ \"\$(cat '$A/goals/g1.json')\" = '{\"aim\":\"scout\"}' ]"
echo '{"aim":"map"}' >"$WORK/g2.json"
check "cp a file into goals/" cp "$WORK/g2.json" "$A/goals/g2.json"
check "echo > replaces" sh -c "echo '{\"aim\":\"return\"}' > '$A/goals/g1.json' && grep -q return '$A/goals/g1.json'"
check "rm goals/g1.json removes" rm "$A/goals/g1.json"
check "ls goals/ after rm" sh -c "[ \"\$(ls '$A/goals')\" = g2.json ]"
check "the goal is gone over HTTP too" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $T' $AGENTD_URL/agents/scout/goals/g1.json)\" = 404 ]"

# Exact errno values from real syscalls, and call-file isolation.
if python3 "$HERE/fuse_checks.py" errnos "$MNT" scout >"$WORK/py.out" 2>&1; then ok "errno table from syscalls ($(grep -c '^ok' "$WORK/py.out") checks)"; else bad "errno table" "$(cat "$WORK/py.out")"; fi
if python3 "$HERE/fuse_checks.py" calls "$MNT" scout >"$WORK/py.out" 2>&1; then ok "call-file isolation"; else bad "call-file isolation" "$(cat "$WORK/py.out")"; fi

# Byte ranges on every file of a populated agent's tree: pread equals the slice of the whole.
"$CTL" create ranger --kind echo >/dev/null
R="$MNT/agents/ranger"
eventually 3 test -e "$R/inbox"
echo hello > "$R/inbox"
eventually 10 sh -c "grep -q hello '$R/outbox'"
echo '{"aim":"range"}' > "$R/goals/g1.json"
echo '{"inbox":{"max_depth":1,"overflow":"dead_letter"}}' > "$R/config"
echo pause > "$R/ctl"
echo pending > "$R/inbox"; echo overflow > "$R/inbox"
if python3 "$HERE/fuse_checks.py" ranges "$MNT" ranger >"$WORK/py.out" 2>&1; then ok "$(grep '^ok' "$WORK/py.out" | tail -1 | cut -c6-)"; else bad "ranges" "$(grep -v '^ok' "$WORK/py.out" | head -20)"; fi
# Every file has a time, the same on the mount as over HTTP (Last-Modified).
same_time() {
  local lm; lm=$(curl -sI -H "Authorization: Bearer $T" "$AGENTD_URL/agents/ranger/$1" | tr -d '\r' | sed -n 's/^[Ll]ast-[Mm]odified: //p')
  [ -n "$lm" ] && [ "$(stat -c %Y "$R/$1")" = "$(date -d "$lm" +%s)" ]
}
for f in status config deadletter/count goals/g1.json mounts; do check "stat time of $f is its Last-Modified" same_time "$f"; done
# JSON files are one line and a newline: wc -l counts 1, and cat leaves the prompt on its own line.
DL=$(ls "$R/deadletter" | grep -v -x -e count -e list -e ctl | head -1)
for f in status config state goals/g1.json "deadletter/$DL"; do
  check "wc -l $f is 1 and it ends in a newline" sh -c "[ \"\$(wc -l < '$R/$f')\" = 1 ] && [ \"\$(tail -c 1 '$R/$f' | od -An -c | tr -d ' ')\" = '\\n' ]"
done
check "wc -l /runtime/status is 1" sh -c "[ \"\$(wc -l < '$MNT/runtime/status')\" = 1 ]"

# Malformed names through the mount: refused, nothing created.
for name in $'bad\x01name' '%2e%2e' 'a%2fb' "$(printf 'x%.0s' $(seq 1 300))" $'\xff\xfe' 'ＡＢ'; do
  if (echo x > "$A/goals/$name") 2>/dev/null; then bad "refuse goal name $(printf %q "$name" | cut -c1-40)"; else ok "refuse goal name $(printf %q "$name" | cut -c1-40)"; fi
done
check "nothing was created by refused names" sh -c "[ \"\$(ls '$A/goals')\" = g2.json ]"

# 100 agents: find | xargs cat finishes and matches the HTTP reads.
for i in $(seq -w 1 100); do
  curl -s -o /dev/null -X POST -H "Authorization: Bearer $T" -d "{\"id\":\"bulk$i\",\"kind\":\"echo\",\"config\":{\"note\":\"n$i\"}}" "$AGENTD_URL/agents"
done
check "100 agents listed" eventually 3 sh -c "[ \"\$(ls '$MNT/agents' | grep -c '^bulk')\" = 100 ]"
check "find -type f | xargs cat finishes" sh -c "find '$MNT/agents' -type f | xargs cat > '$WORK/all.txt'"
for i in $(seq -w 1 100); do cat "$MNT/agents/bulk$i/config"; done >"$WORK/fuse.cfg"
for i in $(seq -w 1 100); do curl -s -H "Authorization: Bearer $T" "$AGENTD_URL/agents/bulk$i/config"; done >"$WORK/http.cfg"
check "100 configs read through the mount equal the HTTP reads" cmp -s "$WORK/fuse.cfg" "$WORK/http.cfg"
check "find reached every agent's status" sh -c "[ \"\$(find '$MNT/agents' -type f -name status | wc -l)\" = 102 ]"

if [ "$MODE" = remote ]; then
  # An agent token: only that agent, under its access levels (goals/ budgeted with a limit of 1).
  "$CTL" write scout/config '{"access":{"/goals":"budgeted"},"budget":{"limit":1}}' >/dev/null
  AT=$(curl -s -X POST -H "Authorization: Bearer $T" "$AGENTD_URL/agents/scout/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  "$BIN/agentfs" mount "$AGENTD_URL" "$WORK/confined" --token "$AT" >/dev/null
  if python3 "$HERE/fuse_checks.py" confined "$WORK/confined" scout >"$WORK/py.out" 2>&1; then ok "agent-token mount confinement ($(grep -c '^ok' "$WORK/py.out") checks)"; else bad "confinement" "$(cat "$WORK/py.out")"; fi
  "$BIN/agentfs" unmount "$WORK/confined"
  check "agentfs unmount (confined)" eventually 5 sh -c "! grep -q ' $WORK/confined ' /proc/mounts"

  # --allow-other: another local user reads what is world-readable and acts as nobody
  # (default_permissions: the kernel checks the modes; only the owner writes, calls, creates, removes).
  chmod 711 "$WORK"; mkdir -p "$WORK/shared"
  "$BIN/agentfs" mount "$AGENTD_URL" "$WORK/shared" --allow-other >/dev/null
  S="$WORK/shared/agents/scout"
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$1" 2>/dev/null; }
  check "allow-other: another user reads status" as_nobody "grep -q '\"id\":\"scout\"' '$S/status'"
  before=$(curl -s -H "Authorization: Bearer $T" "$AGENTD_URL/agents/scout/status")
  goals_before=$(ls "$A/goals")
  for attempt in "echo '{\"note\":\"owned\"}' > '$S/config'" "echo pause > '$S/ctl'" "echo tick > '$S/ctl'" \
                 "echo -n data > '$S/identity/sign'" "echo hi > '$S/inbox'" "echo '{}' > '$S/goals/intruder.json'" \
                 "rm '$S/goals/g2.json'" "exec 3<>'$S/identity/sign' && echo -n data >&3 && cat <&3"; do
    if as_nobody "$attempt"; then bad "allow-other: another user is refused: $attempt"; else ok "allow-other: another user is refused: $attempt"; fi
  done
  check "allow-other: the owner still writes" sh -c "echo '{\"aim\":\"own\"}' > '$S/goals/g3.json' && rm '$S/goals/g3.json'"
  after=$(curl -s -H "Authorization: Bearer $T" "$AGENTD_URL/agents/scout/status")
  check "allow-other: the refusals changed nothing" test "$before" = "$after"
  check "allow-other: no goal was created or removed" test "$(ls "$A/goals")" = "$goals_before"
  "$BIN/agentfs" unmount "$WORK/shared"

  # agentd vanishes: EIO, not a hang; the mount recovers when it returns.
  kill -9 "$AGENTD_PID"; wait "$AGENTD_PID" 2>/dev/null
  start=$(date +%s)
  if python3 "$HERE/fuse_checks.py" unreachable "$MNT" scout >"$WORK/py.out" 2>&1; then ok "agentd gone: EIO"; else bad "agentd gone: EIO" "$(cat "$WORK/py.out")"; fi
  check "the EIO came within 5 s" test $(($(date +%s) - start)) -le 5
  start_mode_agentd "$PORT"
  check "the mount recovers when agentd returns" eventually 10 sh -c "grep -q '\"id\":\"scout\"' '$A/status'"

  # A stale mount (agentfs killed) is cleared by the next mount, with a message.
  pkill -9 -f "agentfs mount $AGENTD_URL $MNT"
  check "a killed agentfs leaves a stale mount" eventually 5 sh -c "! ls '$MNT' >/dev/null 2>&1"
  out=$("$BIN/agentfs" mount "$AGENTD_URL" "$MNT" 2>&1)
  check "mount over a stale mount says it cleared it" sh -c "printf '%s' \"\$0\" | grep -q 'cleared a stale mount'" "$out"
  check "and the new mount works" sh -c "grep -q '\"id\":\"scout\"' '$A/status'"
  "$BIN/agentfs" mount "$AGENTD_URL" "$MNT" >/dev/null 2>"$WORK/err"
  check "mounting on a live mount is refused with a message" grep -q "already a mount point" "$WORK/err"

  FSPID=$(pgrep -f "agentfs mount $AGENTD_URL $MNT" | head -1)
  "$BIN/agentfs" unmount "$MNT"
  check "agentfs unmount leaves nothing in /proc/mounts" eventually 5 sh -c "! grep -q ' $MNT fuse.agentfs ' /proc/mounts"
  check "the agentfs process exits after unmount" eventually 5 sh -c "[ -n '$FSPID' ] && ! kill -0 '$FSPID' 2>/dev/null"
  # In the foreground, SIGTERM unmounts.
  "$BIN/agentfs" mount "$AGENTD_URL" "$MNT" --foreground >/dev/null 2>&1 &
  FG=$!
  check "agentfs --foreground mounts" eventually 5 mounted "$MNT"
  kill -TERM $FG; wait $FG; rc=$?
  check "SIGTERM: exit 0 and unmounted" sh -c "[ $rc = 0 ] && ! grep -q ' $MNT ' /proc/mounts"
else
  kill -TERM "$AGENTD_PID"; wait "$AGENTD_PID"; rc=$?
  check "agentd SIGTERM: exit 0" test "$rc" = 0
  check "agentd SIGTERM leaves nothing in /proc/mounts" sh -c "! grep -q ' $MNT ' /proc/mounts"
  AGENTD_PID=""
fi

echo "$PASS passed, $FAIL failed ($MODE)"
[ "$FAIL" = 0 ]
