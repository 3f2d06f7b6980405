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
FAKE_PID=""

cleanup() {
  for m in "$MNT" "$WORK/confined" "$WORK/shared"; do grep -q " $m " /proc/mounts && umount -l "$m"; done
  [ -n "$AGENTD_PID" ] && kill "$AGENTD_PID" 2>/dev/null
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
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
check "ls lists the agent's files" sh -c "ls '$A' | tr '\n' ' ' | grep -q '^compute config containers ctl deadletter goals identity inbox logs mounts outbox state status $'"
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

# compute/ on the mount, with the fake OpenAI server (Tests/support/fake_openai.py) as the provider.
python3 "$HERE/../support/fake_openai.py" --port 0 >"$WORK/fake.out" 2>"$WORK/fake.err" &
FAKE_PID=$!
eventually 5 grep -q '^PORT ' "$WORK/fake.out"
FAKE_PORT=$(sed -n 's/^PORT //p' "$WORK/fake.out")
code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $T" \
  -d "{\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:$FAKE_PORT/v1\",\"api_key\":\"sk-fuse\",\"models\":[\"fixed\",\"drip\",\"hang\"],\"price\":{\"input\":1000000,\"output\":1000000000}}" \
  "$AGENTD_URL/runtime/providers/fake.json")
check "the fake server is registered as provider over HTTP ($code)" test "$code" = 204 -o "$code" = 200 -o "$code" = 201
"$CTL" create worker --kind echo >/dev/null
W="$MNT/agents/worker"
eventually 3 test -e "$W/compute/new"
field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
# The call: one handle, the request written, the answer read back.
compute_new() { (cd "$W" && exec 3<>compute/new && echo -n "$1" >&3 && cat <&3); }
ANSWER=$(compute_new '{"model":"fixed","prompt":"hi"}')
J1=$(printf '%s' "$ANSWER" | field job_id)
STATE=$(printf '%s' "$ANSWER" | field state)
check "exec 3<>compute/new; echo -n {...} >&3; cat <&3 answers {job_id, state}" sh -c "case '$J1' in j?*) [ '$STATE' = queued ] || [ '$STATE' = running ];; *) false;; esac"
[ -n "$J1" ] || echo "     the answer was: $ANSWER"
check "ls compute/jobs/ lists the job" sh -c "ls '$W/compute/jobs/' | grep -qx '$J1'"
check "ls compute/jobs/<j>/ shows ctl result status stream" sh -c "[ \"\$(ls '$W/compute/jobs/$J1' | tr '\n' ' ')\" = 'ctl result status stream ' ]"
check "cat compute/jobs/<j>/status eventually shows succeeded" eventually 10 grep -q '"state":"succeeded"' "$W/compute/jobs/$J1/status"
check "cat compute/jobs/<j>/result has the answer" grep -q '"text":"Hello from the fake."' "$W/compute/jobs/$J1/result"
check "cat compute/jobs/<j>/stream has one line per delta" sh -c "[ \"\$(wc -l < '$W/compute/jobs/$J1/stream')\" = 4 ] && head -1 '$W/compute/jobs/$J1/stream' | grep -qx '{\"delta\":\"Hello\"}'"
check "the job's notice woke the echo agent (its reply is in outbox)" eventually 5 grep -q "\"job_id\":\"$J1\"" "$W/outbox"
usage_ok() { python3 -c 'import json,sys; u=json.load(open(sys.argv[1])); sys.exit(0 if u["reserved"] == 0 and u["spent"] == 4010 and u["per_day"]["spent"] == 4010 else 1)' "$W/compute/usage"; }
check "cat compute/usage: spent 4010 (10 input + 4 output tokens), reserved 0" usage_ok
# A stream followed as it is written: `drip` sends 10 deltas 300 ms apart.
J2=$(compute_new '{"model":"drip","prompt":"drip"}' | field job_id)
: >"$WORK/stream.tail"
(cd "$W/compute/jobs/$J2" && timeout 20 tail -f stream >"$WORK/stream.tail" 2>&1) &
TAILS=$!
check "tail -f compute/jobs/<j>/stream shows a delta while the job still runs" \
  eventually 5 sh -c "grep -q '\"d0 \"' '$WORK/stream.tail' && grep -q '\"state\":\"running\"' '$W/compute/jobs/$J2/status'"
check "tail -f follows the stream to its last delta" eventually 10 grep -q '"d9 "' "$WORK/stream.tail"
kill $TAILS 2>/dev/null; wait $TAILS 2>/dev/null
check "what tail -f showed is the stream, in order" cmp -s "$WORK/stream.tail" "$W/compute/jobs/$J2/stream"
check "the drip job succeeded" eventually 5 grep -q '"state":"succeeded"' "$W/compute/jobs/$J2/status"
# The operator writes compute/policy (a merge-patch); a hang job is cancelled through its ctl.
check "echo {...} > compute/policy (operator)" sh -c "echo '{\"per_job\":1000000}' > '$W/compute/policy' && grep -q '\"per_job\":1000000' '$W/compute/policy'"
check "compute/policy is merged, not replaced" sh -c "echo '{\"max_running\":8}' > '$W/compute/policy' && grep -q '\"per_job\":1000000' '$W/compute/policy' && grep -q '\"max_running\":8' '$W/compute/policy'"
J3=$(compute_new '{"model":"hang","prompt":"hang"}' | field job_id)
check "a hang job runs" eventually 5 grep -q '"state":"running"' "$W/compute/jobs/$J3/status"
check "echo cancel > compute/jobs/<j>/ctl" sh -c "echo cancel > '$W/compute/jobs/$J3/ctl'"
check "the hang job ends cancelled" eventually 5 grep -q '"state":"cancelled"' "$W/compute/jobs/$J3/status"
check "echo cancel again is refused (the job has ended)" sh -c "! (echo cancel > '$W/compute/jobs/$J3/ctl') 2>/dev/null"
check "a cancelled job has no result (ENOENT)" sh -c "! cat '$W/compute/jobs/$J3/result' 2>/dev/null"
# As on a disk: what ls lists, cat reads (find | xargs cat and grep -r depend on it).
listed_reads() {
  local f
  for f in $(ls "$1"); do
    [ -e "$1/$f" ] || { echo "     ls lists $f, but stat says it does not exist"; return 1; }
    [ -d "$1/$f" ] || cat "$1/$f" >/dev/null || return 1
  done
}
check "every file ls lists in a cancelled job's directory can be read" listed_reads "$W/compute/jobs/$J3"
check "cat compute/usage: reserved 0 after the cancel" sh -c "python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))[\"reserved\"])' '$W/compute/usage'"

# containers/ on the mount: a session and execs through call files, files/ with coreutils.
"$CTL" create runner --kind echo >/dev/null
C="$MNT/agents/runner/containers"
eventually 3 test -e "$C/new"
# json FILE EXPR: EXPR (Python, over `d`, the file's JSON) holds.
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }
# jsonl FILE EXPR: EXPR holds over `r`, the file's JSON lines.
jsonl() { python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }
check "ls containers/ shows new policy providers sessions usage" sh -c "[ \"\$(ls '$C' | tr '\n' ' ')\" = 'new policy providers sessions usage ' ]"
check "cat containers/providers/local/info: bubblewrap, every limit enforced" json "$C/providers/local/info" \
  'd["kind"] == "bubblewrap" and sorted(d["limits"]) == ["cpu", "disk", "memory", "output", "pids", "timeout"]'
ANSWER=$(cd "$C" && exec 3<>new && echo -n '{}' >&3 && cat <&3)
S1=$(printf '%s' "$ANSWER" | field session_id)
check "exec 3<>containers/new; echo -n {} >&3; cat <&3 answers {session_id}" sh -c "case '$S1' in s?*) true;; *) false;; esac"
[ -n "$S1" ] || echo "     the answer was: $ANSWER"
SD="$C/sessions/$S1"
check "ls containers/sessions/ lists the session" sh -c "ls '$C/sessions/' | grep -qx '$S1'"
check "ls containers/sessions/<s>/ shows ctl exec files output status" sh -c "[ \"\$(ls '$SD' | tr '\n' ' ')\" = 'ctl exec files output status ' ]"
check "cat containers/sessions/<s>/status says running" json "$SD/status" 'd["state"] == "running" and d["id"] == "'"$S1"'"'
# The README's line: the exec's result is the call's answer.
(cd "$SD/exec" && exec 3<>new && echo '{"argv":["python3","-c","print(6*7)"],"wait":true}' >&3 && cat <&3) >"$WORK/exec.out"
E1=$(field exec_id <"$WORK/exec.out")
check "echo '{\"argv\":[\"python3\",\"-c\",\"print(6*7)\"],\"wait\":true}' through exec/new answers the result: exited 0" \
  json "$WORK/exec.out" 'd["state"] == "exited" and d["exit_code"] == 0 and d["exec_id"].startswith("e")'
[ -n "$E1" ] || echo "     the answer was: $(cat "$WORK/exec.out")"
check "ls exec/ lists new and the exec" sh -c "[ \"\$(ls '$SD/exec' | tr '\n' ' ')\" = '$E1 new ' ]"
check "ls exec/<e>/ shows output result status" sh -c "[ \"\$(ls '$SD/exec/$E1' | tr '\n' ' ')\" = 'output result status ' ]"
check "cat exec/<e>/output is one stdout record: 42" jsonl "$SD/exec/$E1/output" 'r == [{"stream": "stdout", "data": "42\n"}]'
check "cat exec/<e>/result: exit_code 0, not truncated" json "$SD/exec/$E1/result" 'd["exit_code"] == 0 and d["truncated"] is False'
check "cat exec/<e>/status: exited" json "$SD/exec/$E1/status" 'd["state"] == "exited"'
check "the exec's notice woke the echo agent (its reply is in outbox)" eventually 5 grep -q "\"exec_id\":\"$E1\"" "$MNT/agents/runner/outbox"
# files/: echo, cp, cat, ls, rm; the program inside sees them and what it writes is read back.
check "echo > files/hello.txt creates" sh -c "echo hello > '$SD/files/hello.txt'"
printf 'print("from cp")\n' >"$WORK/main.py"
check "cp a file into files/" cp "$WORK/main.py" "$SD/files/main.py"
check "cat files/hello.txt" sh -c "[ \"\$(cat '$SD/files/hello.txt')\" = hello ]"
check "echo >> files/hello.txt appends" sh -c "echo again >> '$SD/files/hello.txt' && [ \"\$(cat '$SD/files/hello.txt' | tr '\n' ' ')\" = 'hello again ' ]"
check "ls files/" sh -c "[ \"\$(ls '$SD/files' | tr '\n' ' ')\" = 'hello.txt main.py ' ]"
check "stat files/main.py: its size" sh -c "[ \"\$(stat -c %s '$SD/files/main.py')\" = 17 ]"
(cd "$SD/exec" && exec 3<>new && echo -n '{"argv":["sh","-c","python3 main.py; mkdir -p out && cat hello.txt > out/copy.txt"],"wait":true}' >&3 && cat <&3) >"$WORK/exec2.out"
E2=$(field exec_id <"$WORK/exec2.out")
check "the program runs the copied main.py" jsonl "$SD/exec/$E2/output" '"".join(x["data"] for x in r if x["stream"] == "stdout") == "from cp\n"'
check "ls files/out/ and cat what the program wrote" sh -c "[ \"\$(ls '$SD/files/out')\" = copy.txt ] && [ \"\$(cat '$SD/files/out/copy.txt' | tr '\n' ' ')\" = 'hello again ' ]"
check "echo > files/out/new.txt in a directory the program made" sh -c "echo new > '$SD/files/out/new.txt' && [ \"\$(cat '$SD/files/out/new.txt')\" = new ]"
check "rm files/hello.txt removes" rm "$SD/files/hello.txt"
check "ls files/ after rm" sh -c "[ \"\$(ls '$SD/files' | tr '\n' ' ')\" = 'main.py out ' ]"
check "rm -r files/out removes a directory" rm -r "$SD/files/out"
check "the removed files are gone over HTTP too" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $T' $AGENTD_URL/agents/runner/containers/sessions/$S1/files/hello.txt)\" = 404 ]"
check "tail -n 2 of the session's output: both execs' stdout" sh -c "tail -n 2 '$SD/output' | grep -q '\"data\":\"42\\\\n\"' && tail -n 1 '$SD/output' | grep -q 'from cp'"
# An output followed while it is written: 10 lines 300 ms apart.
(cd "$SD/exec" && exec 3<>new && echo -n '{"argv":["python3","-u","-c","import time\nfor i in range(10): print(\"t%d\" % i); time.sleep(0.3)"]}' >&3 && cat <&3) >"$WORK/exec3.out"
E3=$(field exec_id <"$WORK/exec3.out")
: >"$WORK/exec.tail"
(cd "$SD/exec/$E3" && timeout 20 tail -f output >"$WORK/exec.tail" 2>&1) &
TAILE=$!
# The text of an output's records (a record is what one read got: "t0" and its newline may be two).
printf '%s\n' 'import json, sys' 'sys.stdout.write("".join(json.loads(l)["data"] for l in open(sys.argv[1]) if l.strip()))' >"$WORK/text.py"
if eventually 5 sh -c "python3 '$WORK/text.py' '$WORK/exec.tail' | grep -qx t0 && grep -q '\"state\":\"running\"' '$SD/exec/$E3/status'"; then
  ok "tail -f exec/<e>/output shows a line while the exec still runs"
else
  bad "tail -f exec/<e>/output shows a line while the exec still runs" "tail shows $(wc -l < "$WORK/exec.tail") records; the output has $(wc -l < "$SD/exec/$E3/output"); status: $(cat "$SD/exec/$E3/status")"
fi
check "tail -f follows the output to its last line" eventually 10 sh -c "[ \"\$(python3 '$WORK/text.py' '$WORK/exec.tail' | tr '\n' ' ')\" = 't0 t1 t2 t3 t4 t5 t6 t7 t8 t9 ' ]"
kill $TAILE 2>/dev/null; wait $TAILE 2>/dev/null
check "what tail -f showed is the output, in order" cmp -s "$WORK/exec.tail" "$SD/exec/$E3/output"
check "cat containers/usage: reserved 0 and the execs' CPU counted" eventually 5 json "$C/usage" 'd["reserved"] == 0 and d["sessions"] == 1 and d["cpu_ms"] > 0'
check "cat containers/policy (empty: the defaults)" json "$C/policy" 'isinstance(d, dict)'
check "echo {...} > containers/policy (operator) is merged" sh -c "echo '{\"max_sessions\":4}' > '$C/policy' && echo '{\"max_running\":2}' > '$C/policy' && grep -q '\"max_sessions\":4' '$C/policy' && grep -q '\"max_running\":2' '$C/policy'"
# The policy is checked when the file is closed (cp reports close's error; the shell's echo > does not).
printf '{"bogus":1}' >"$WORK/bogus.json"
check "cp of a policy with an unknown key is refused, the policy unchanged" sh -c "! cp '$WORK/bogus.json' '$C/policy' 2>/dev/null && ! grep -q bogus '$C/policy' && grep -q '\"max_running\":2' '$C/policy'"
check "echo stop > containers/sessions/<s>/ctl" sh -c "echo stop > '$SD/ctl'"
check "the stopped session says stopped" json "$SD/status" 'd["state"] == "stopped"'
check "a stopped session's files are gone (ls files/ fails)" sh -c "! ls '$SD/files' >/dev/null 2>&1"
check "echo stop again is refused (the session has ended)" sh -c "! (echo stop > '$SD/ctl') 2>/dev/null"
check "every file ls lists in a stopped session's exec can be read" listed_reads "$SD/exec/$E1"
check "every file ls lists in a stopped session's directory exists and can be read" listed_reads "$SD"

# exec agents: the program is a file like any other (cp, cat > program, cat, stat), byte for byte.
printf '#!/bin/sh\ncat >/dev/null\n' >"$WORK/prog.sh"
printf '#!/bin/sh\n# the second version\ncat >/dev/null\n' >"$WORK/prog2.sh"
code=$(curl -s -o "$WORK/create.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $T" -d '{"id":"coder","kind":"exec"}' "$AGENTD_URL/agents")
check "an exec agent without a program ($code)" test "$code" = 201
P="$MNT/agents/coder"
eventually 3 test -e "$P/status"
check "cp prog.sh <mnt>/agents/coder/program (its first program)" cp "$WORK/prog.sh" "$P/program"
check "cat program gives the same bytes" sh -c "cat '$P/program' | cmp -s - '$WORK/prog.sh'"
check "ls lists program" sh -c "ls '$P' | grep -qx program"
check "stat: the program is a regular file 644 on the operator's mount" sh -c "[ \"\$(stat -c '%F %a' '$P/program')\" = 'regular file 644' ]"
check "cp replaces it" sh -c "cp '$WORK/prog2.sh' '$P/program' && cat '$P/program' | cmp -s - '$WORK/prog2.sh'"
check "stat size is the program's" sh -c "[ \"\$(stat -c %s '$P/program')\" = \"\$(wc -c < '$WORK/prog2.sh')\" ]"
check "cat prog.sh > program (the SPEC's way)" sh -c "cat '$WORK/prog.sh' > '$P/program' && cat '$P/program' | cmp -s - '$WORK/prog.sh'"
check "a binary program through the mount, byte for byte" sh -c "cp /bin/true '$P/program' && cmp -s /bin/true '$P/program'"
check "cp prog.sh back" cp "$WORK/prog.sh" "$P/program"
check "the mount's program is HTTP's" sh -c "curl -s -H 'Authorization: Bearer $T' '$AGENTD_URL/agents/coder/program' | cmp -s - '$WORK/prog.sh'"
check "status: program version 5, its bytes and sha256" json "$P/status" \
  "d['program']['version'] == 5 and d['program']['bytes'] == $(wc -c < "$WORK/prog.sh") and d['program']['sha256'] == '$(sha256sum "$WORK/prog.sh" | cut -d' ' -f1)'"
check "echo hi > inbox: the tick runs the program and takes the message" sh -c "echo hi > '$P/inbox'" 
check "the exec agent ticked and its inbox is empty" eventually 10 json "$P/status" 'd["tick_count"] >= 1 and d["queue_depth"] == 0'
check "an echo agent has no program (ENOENT)" sh -c "! test -e '$A/program' && ! cat '$A/program' 2>/dev/null"
check "cp to an echo agent's program is refused" sh -c "! cp '$WORK/prog.sh' '$A/program' 2>/dev/null && ! test -e '$A/program'"

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
check "find reached every agent's status" sh -c "[ \"\$(find '$MNT/agents' -mindepth 2 -maxdepth 2 -type f -name status | wc -l)\" = \"\$(ls '$MNT/agents' | wc -l)\" ]"

# A directory larger than one READDIR (the kernel asks a page at a time, in offset mode), and a
# walk that descends through READDIRPLUS dentries: every name once, every status read whole.
fleet=$(python3 -c 'import json; print(json.dumps([{"id": "fleet-%03d" % i, "kind": "echo"} for i in range(300)]))')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $T" -d "$fleet" "$AGENTD_URL/agents")
check "create 300 agents in one request ($code)" test "$code" = 201
check "ls agents/ lists each of 300 agents once" eventually 3 sh -c "[ \"\$(ls '$MNT/agents' | grep -c '^fleet-')\" = 300 ] && [ -z \"\$(ls '$MNT/agents' | sort | uniq -d)\" ]"
check "ls -f (raw getdents, no sort) lists them too" sh -c "[ \"\$(ls -f '$MNT/agents' | grep -c '^fleet-')\" = 300 ]"
# Three passes: the later ones meet the dentries and page cache the first one left. A listing's
# sizes are 0 (a listing does not render files); a kernel that took them would read status empty.
for pass in 1 2 3; do
  check "find | xargs cat reads all 300 status files whole (pass $pass)" sh -c "[ \"\$(find '$MNT/agents' -path '*/fleet-*' -name status | xargs cat | grep -o '\"id\":\"fleet-[0-9]*\"' | sort -u | wc -l)\" = 300 ]"
done
check "stat of a file after its directory was listed is the file's size" sh -c "ls -l '$MNT/agents/fleet-007' >/dev/null && [ \"\$(stat -c %s '$MNT/agents/fleet-007/status')\" = \"\$(cat '$MNT/agents/fleet-007/status' | wc -c)\" ] && [ \"\$(stat -c %s '$MNT/agents/fleet-007/status')\" -gt 0 ]"
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $T" "$AGENTD_URL/agents/fleet-123"
check "an agent deleted over HTTP leaves the listing" eventually 3 sh -c "! ls '$MNT/agents' | grep -qx fleet-123"
check "and its directory is gone" eventually 3 sh -c "! ls '$MNT/agents/fleet-123' >/dev/null 2>&1"

if [ "$MODE" = remote ]; then
  # An agent token: only that agent, under its access levels (goals/ budgeted with a limit of 1).
  "$CTL" write scout/config '{"access":{"/goals":"budgeted"},"budget":{"limit":1}}' >/dev/null
  AT=$(curl -s -X POST -H "Authorization: Bearer $T" "$AGENTD_URL/agents/scout/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  "$BIN/agentfs" mount "$AGENTD_URL" "$WORK/confined" --token "$AT" >/dev/null
  if python3 "$HERE/fuse_checks.py" confined "$WORK/confined" scout >"$WORK/py.out" 2>&1; then ok "agent-token mount confinement ($(grep -c '^ok' "$WORK/py.out") checks)"; else bad "confinement" "$(cat "$WORK/py.out")"; fi
  "$BIN/agentfs" unmount "$WORK/confined"
  check "agentfs unmount (confined)" eventually 5 sh -c "! grep -q ' $WORK/confined ' /proc/mounts"

  # An exec agent's own token: it reads its program (0444) but cannot write it.
  CT=$(curl -s -X POST -H "Authorization: Bearer $T" "$AGENTD_URL/agents/coder/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  "$BIN/agentfs" mount "$AGENTD_URL" "$WORK/confined" --token "$CT" >/dev/null
  if python3 "$HERE/fuse_checks.py" program "$WORK/confined" coder "$WORK/prog.sh" >"$WORK/py.out" 2>&1; then ok "agent-token mount: its program ($(grep -c '^ok' "$WORK/py.out") checks)"; else bad "agent-token program" "$(cat "$WORK/py.out")"; fi
  "$BIN/agentfs" unmount "$WORK/confined"
  check "agentfs unmount (confined exec agent)" eventually 5 sh -c "! grep -q ' $WORK/confined ' /proc/mounts"

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
