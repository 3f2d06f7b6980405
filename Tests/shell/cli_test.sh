#!/usr/bin/env bash
# End-to-end checks with the real binaries: agentd on a real port, agentctl's output compared
# exactly, curl -N on a watch, and `agentctl logs --follow` surviving an agentd restart.
# Prints "N passed, M failed" and exits non-zero on any failure.
set -u
BIN=${BIN:-$(swift build --show-bin-path)}
WORK=$(mktemp -d /tmp/agentns-cli.XXXXXX)
chmod 711 "$WORK"  # the sandbox user passes through to the session work directories under data/
PASS=0; FAIL=0
AGENTD_PID=""

cleanup() { [ -n "$AGENTD_PID" ] && kill "$AGENTD_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }

# expect NAME EXPECTED_EXIT EXPECTED_STDOUT -- COMMAND...
expect() {
  local name=$1 want_rc=$2 want_out=$3; shift 4
  local out rc
  out=$("$@" 2>"$WORK/stderr"); rc=$?
  if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then ok "$name"; else
    bad "$name" "exit $rc (want $want_rc); stdout: $out; stderr: $(cat "$WORK/stderr")"; fi
}

. "$(dirname "$0")/lib.sh"

start_agentd
export AGENTD_URL="http://127.0.0.1:$PORT" AGENTD_DATA="$WORK/data"
CTL="$BIN/agentctl"
T=$(cat "$WORK/data/token")

[ "$(stat -c %a "$WORK/data/token")" = 600 ] && ok "token file is mode 0600" || bad "token file mode"
expect "create" 0 "created scout (echo)" -- "$CTL" create scout --kind echo
expect "list" 0 "ID                   KIND       STATE       TICKS
scout                echo       active      0" -- "$CTL" list
for a in fleet-1 fleet-2 fleet-3 fleet-4 fleet-5; do "$CTL" create "$a" --kind counter >/dev/null; done
expect "list follows the pages" 0 "fleet-1 fleet-2 fleet-3 fleet-4 fleet-5 scout" -- sh -c "'$CTL' list --page-size 2 | awk 'NR > 1 { print \$1 }' | xargs"
expect "list --json follows the pages" 0 "6" -- sh -c "'$CTL' list --json --page-size 4 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'"
expect "list --after --limit" 0 "fleet-3 fleet-4" -- sh -c "'$CTL' list --after fleet-2 --limit 2 --page-size 1 | awk 'NR > 1 { print \$1 }' | xargs"
expect "list --page-size 0 exits 2" 2 "" -- "$CTL" list --page-size 0
curl -s -D "$WORK/headers" -o /dev/null -H "Authorization: Bearer $T" "http://127.0.0.1:$PORT/agents?limit=2"
grep -qi '^Link: </agents?after=fleet-2&limit=2>; rel="next"' "$WORK/headers" && ok "GET /agents?limit=2 names the next page" || bad "Link header" "$(cat "$WORK/headers")"
for a in fleet-1 fleet-2 fleet-3 fleet-4 fleet-5; do "$CTL" delete "$a" >/dev/null; done
# create --from: a fleet from NDJSON, 1,000 a request, each request whole or not at all.
seq -f '{"id":"many-%04g","kind":"counter"}' 1 2500 > "$WORK/fleet.ndjson"
expect "create --from FILE (2,500 agents, 3 requests)" 0 "created 2500 agents" -- "$CTL" create --from "$WORK/fleet.ndjson"
grep -q "created 2000 of 2500" "$WORK/stderr" && ok "create --from shows its progress on stderr" || bad "create --from progress" "$(cat "$WORK/stderr")"
expect "the fleet is listed" 0 "2500" -- sh -c "'$CTL' list --json | python3 -c 'import json,sys; print(sum(a[\"id\"].startswith(\"many-\") for a in json.load(sys.stdin)))'"
{ seq -f '{"id":"more-%04g","kind":"echo"}' 1 1500; echo '{"id":"many-0001","kind":"echo"}'; seq -f '{"id":"more-x%g","kind":"echo"}' 1 10; } > "$WORK/fleet2.ndjson"
expect "create --from with a taken id on line 1501 exits 1" 1 "" -- "$CTL" create --from "$WORK/fleet2.ndjson"
grep -q "line 1501: .*1000 agents were created (the lines before 1001), none from line 1001 on" "$WORK/stderr" && ok "and names the taken id's line and which lines were created" || bad "create --from refusal message" "$(cat "$WORK/stderr")"
printf '{"id":"crlf-1","kind":"echo"}\r\n{"id":"crlf-2","kind":"echo"}\r\n' > "$WORK/fleet-crlf.ndjson"
expect "create --from a file with CRLF line ends" 0 "created 2 agents" -- "$CTL" create --from "$WORK/fleet-crlf.ndjson"
expect "the request before the refused one exists, none of it or after" 0 "1000" -- sh -c "'$CTL' list --json | python3 -c 'import json,sys; print(sum(a[\"id\"].startswith(\"more-\") for a in json.load(sys.stdin)))'"
printf '{"id":"bad-1","kind":"echo"}\n{"id":"bad-2","kind":"nosuch"}\n' > "$WORK/fleet3.ndjson"
expect "create --from with an unknown kind on line 2 exits 1" 1 "" -- "$CTL" create --from "$WORK/fleet3.ndjson"
grep -q "line 2: agent 1 ('bad-2'): unknown kind" "$WORK/stderr" && ok "and names the line" || bad "create --from bad kind message" "$(cat "$WORK/stderr")"
expect "and creates nothing of that request" 1 "" -- "$CTL" info bad-1
expect "create --from with an id too is bad usage (exit 2)" 2 "" -- "$CTL" create x --from "$WORK/fleet3.ndjson"
expect "create without --kind is bad usage (exit 2)" 2 "" -- "$CTL" create x
"$CTL" create --help | grep -q -- "--from" && ok "create --help describes --from" || bad "create --help --from"
"$CTL" pause scout >/dev/null
expect "send (json envelope)" 0 "queued hello-1" -- "$CTL" send scout '{"id":"hello-1","body":"hello"}'
expect "send again is a duplicate" 0 "duplicate hello-1" -- "$CTL" send scout '{"id":"hello-1","body":"hello"}'
expect "tick" 0 "scout: paused, tick 1" -- "$CTL" tick scout
expect "cat outbox body" 0 '"hello"' -- sh -c "'$CTL' cat scout/outbox | grep -o '\"body\":\"hello\"' | cut -d: -f2"
expect "resume" 0 "scout: active, tick 1" -- "$CTL" resume scout
expect "ls" 0 "compute/
config
containers/
ctl
deadletter/
goals/
identity/
inbox
logs/
mounts
outbox
state
status" -- "$CTL" ls scout/
expect "providers add" 0 "added provider local" -- "$CTL" providers add local --base-url http://127.0.0.1:9/v1 --model smollm2 --api-key-file - --price-output 250000 <<< "sk-cli-secret"
expect "providers list" 0 "NAME             KIND     MODELS                    PRICE IN/OUT  BASE URL
local            openai   smollm2                   0/250000      http://127.0.0.1:9/v1" -- "$CTL" providers list
expect "providers list --json hides the key" 0 '{"local":{"api_key":"***","base_url":"http://127.0.0.1:9/v1","kind":"openai","max_retries":3,"models":["smollm2"],"price":{"input":0,"output":250000},"timeout_ms":120000}}' -- "$CTL" providers list --json
expect "an agent's view of the provider" 0 '{"kind":"openai","models":["smollm2"],"price":{"input":0,"output":250000,"unit":"micro-USD per million tokens"}}' -- "$CTL" cat scout/compute/providers/local/info
expect "compute policy (operator)" 0 '{"per_day":10}' -- "$CTL" write scout/compute/policy '{"per_day":10}'
expect "a job over the budget exits 1" 1 "" -- "$CTL" write --append scout/compute/new '{"prompt":"hi","max_tokens":100}'
grep -q "^agentctl: compute: the per-day budget of \$0.000010 would be passed" "$WORK/stderr" && ok "budget refusal says which limit" || bad "budget refusal" "$(cat "$WORK/stderr")"
expect "providers rm" 0 "removed provider local" -- "$CTL" providers rm local
expect "providers list (none)" 0 "NAME             KIND     MODELS                    PRICE IN/OUT  BASE URL" -- "$CTL" providers list
expect "goals add" 0 "added g1" -- "$CTL" goals scout add g1 '{"aim":"find"}'
expect "goals list" 0 'g1	{"aim":"find"}' -- "$CTL" goals scout
expect "goals rm" 0 "removed g1" -- "$CTL" goals scout rm g1
expect "write config" 0 '{"inbox":{"max_depth":5}}' -- "$CTL" write scout/config '{"inbox":{"max_depth":5}}'
expect "cat missing file exits 1" 1 "" -- "$CTL" cat scout/nothing
grep -q "^agentctl: no such file or directory (/agents/scout/nothing)$" "$WORK/stderr" && ok "error is one stderr line" || bad "error line" "$(cat "$WORK/stderr")"
expect "bad ctl command exits 1" 1 "" -- "$CTL" write scout/ctl explode
expect "bad usage exits 2" 2 "" -- "$CTL" goals scout explode
expect "unknown command exits 2" 2 "" -- "$CTL" bogus
expect "wrong token exits 1" 1 "" -- "$CTL" list --token nope
"$CTL" --help | grep -q "logs" && ok "--help lists commands" || bad "--help"
"$CTL" send --help | grep -q "standard input" && ok "subcommand --help" || bad "send --help"

# containers: agentctl run in a sandbox session (bubblewrap; agentd as root), agentctl sessions.
expect "a sandbox provider" 0 "local/" -- "$CTL" ls scout/containers/providers/
expect "run prints the program's output" 0 "42" -- "$CTL" run scout -- python3 -c 'print(6*7)'
S=$(sed -n 's/^agentctl: created session \([a-z0-9]*\) (reuse it with --session \1)$/\1/p' "$WORK/stderr")
[ -n "$S" ] && ok "run names the session it created on stderr" || bad "run's session on stderr" "$(cat "$WORK/stderr")"
expect "run's exit status is the program's" 3 "" -- "$CTL" run scout --session "$S" -- sh -c 'exit 3'
expect "run: stdout to stdout" 0 "out" -- "$CTL" run scout --session "$S" -- sh -c 'echo out; echo err >&2'
[ "$(cat "$WORK/stderr")" = "err" ] && ok "run: stderr to stderr" || bad "run: stderr" "$(cat "$WORK/stderr")"
expect "write a file into the session" 0 "" -- "$CTL" write "scout/containers/sessions/$S/files/main.py" 'print(sum(range(10)))'
expect "run it" 0 "45" -- "$CTL" run scout --session "$S" -- python3 main.py
printf hello >"$WORK/stdin"
expect "run --stdin-file --env" 0 "5 fast" -- "$CTL" run scout --session "$S" --stdin-file "$WORK/stdin" --env MODE=fast -- sh -c 'echo "$(wc -c) $MODE"'
expect "run: a signal is 128+N" 143 "" -- "$CTL" run scout --session "$S" -- sh -c 'kill -TERM $$'
expect "run: a limit is 137" 137 "" -- "$CTL" run scout --session "$S" --timeout-ms 300 -- sleep 5
grep -qx "agentctl: killed by timeout limit" "$WORK/stderr" && ok "run says which limit killed it" || bad "limit message" "$(cat "$WORK/stderr")"
expect "run: all of a long output, once" 0 "$(seq 100000 | md5sum)" -- sh -c "'$CTL' run scout --session '$S' -- seq 100000 | md5sum"
"$CTL" run scout --session "$S" -- sh -c 'echo first; sleep 2; echo second' >"$WORK/live" &
RUN=$!
for _ in $(seq 1 15); do [ -s "$WORK/live" ] && break; sleep 0.1; done
[ "$(cat "$WORK/live")" = "first" ] && kill -0 $RUN 2>/dev/null && ok "run prints output as it comes" || bad "run live" "$(cat "$WORK/live")"
wait $RUN
[ "$(cat "$WORK/live")" = "first
second" ] && ok "run prints the rest at the end" || bad "run live end" "$(cat "$WORK/live")"
expect "sessions header" 0 "ID                 STATE    EXECS  CPU_MS    COST        CREATED                   EXPIRES" -- sh -c "'$CTL' sessions scout | head -1"
expect "sessions lists the session" 0 "$S running 9" -- sh -c "'$CTL' sessions scout | awk 'NR > 1 { print \$1, \$2, \$3 }'"
expect "sessions --json" 0 "$S" -- sh -c "'$CTL' sessions scout --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"id\"])'"
expect "stop the session" 0 "" -- "$CTL" write "scout/containers/sessions/$S/ctl" stop
expect "sessions shows it stopped" 0 "$S stopped -" -- sh -c "'$CTL' sessions scout | awk 'NR > 1 { print \$1, \$2, \$NF }'"
expect "run in a stopped session exits 1" 1 "" -- "$CTL" run scout --session "$S" -- true
grep -q "^agentctl: session '$S' is stopped" "$WORK/stderr" && ok "run says the session has ended" || bad "stopped session message" "$(cat "$WORK/stderr")"
expect "run without a program is bad usage" 2 "" -- "$CTL" run scout

# exec agents: a program is the agent (created with it, read and replaced as a file, run each tick in the sandbox).
printf '#!/bin/sh\ncat >/dev/null\n' >"$WORK/prog.sh"
printf '%s\n' '#!/usr/bin/env python3' 'import json, sys' 'tick = json.load(sys.stdin)' \
  'for e in tick["envelopes"]:' '    print(json.dumps({"reply": {"to": e["id"], "body": "exec got " + str(e["body"])}}))' >"$WORK/reply.py"
# program FILE AGENT: the agent's status says program version 1.. with FILE's size and sha256 (VERSION given as $3).
program_is() {
  "$CTL" status "$2" --json | python3 -c 'import hashlib,json,sys; p=json.load(sys.stdin)["program"]; b=open(sys.argv[1],"rb").read()
sys.exit(0 if p["version"] == int(sys.argv[2]) and p["bytes"] == len(b) and p["sha256"] == hashlib.sha256(b).hexdigest() and p["updated_at"] else 1)' "$1" "$3"
}
expect "create --kind exec --program FILE" 0 "created prog (exec, program of $(wc -c < "$WORK/prog.sh") bytes)" -- "$CTL" create prog --kind exec --program "$WORK/prog.sh"
expect "cat prog/program gives the file's bytes" 0 "" -- sh -c "'$CTL' cat prog/program | cmp - '$WORK/prog.sh'"
program_is "$WORK/prog.sh" prog 1 && ok "status: program version 1, its bytes and sha256" || bad "status program" "$("$CTL" status prog --json)"
expect "ls shows an exec agent's program" 0 "program" -- sh -c "'$CTL' ls prog/ | grep -x program"
expect "create --program - reads standard input" 0 "created prog-stdin (exec, program of $(wc -c < "$WORK/prog.sh") bytes)" -- sh -c "'$CTL' create prog-stdin --kind exec --program - < '$WORK/prog.sh'"
expect "the program from standard input" 0 "" -- sh -c "'$CTL' cat prog-stdin/program | cmp - '$WORK/prog.sh'"
printf '{"timeout_ms":20000}' >"$WORK/prog.config"
expect "create --program with --config -" 0 "created prog-cfg (exec, program of $(wc -c < "$WORK/prog.sh") bytes)" -- sh -c "'$CTL' create prog-cfg --kind exec --config - --program '$WORK/prog.sh' < '$WORK/prog.config'"
expect "its config is the file's" 0 "20000" -- sh -c "'$CTL' cat prog-cfg/config | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"timeout_ms\"])'"
expect "create --program --json: the status with the program" 0 "1 $(wc -c < "$WORK/prog.sh")" -- sh -c "'$CTL' create prog-json --kind exec --program '$WORK/prog.sh' --json | python3 -c 'import json,sys; p=json.load(sys.stdin)[\"program\"]; print(p[\"version\"], p[\"bytes\"])'"
expect "a binary program (not UTF-8) is written after the create" 0 "created prog-bin (exec, program of $(wc -c < /bin/true) bytes)" -- "$CTL" create prog-bin --kind exec --program /bin/true
expect "its bytes are the file's" 0 "" -- sh -c "'$CTL' cat prog-bin/program | cmp - /bin/true"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$WORK/big.txt"
expect "a program past 1 MiB is refused (exit 1)" 1 "" -- "$CTL" create prog-big --kind exec --program "$WORK/big.txt"
expect "and no agent is left" 1 "" -- "$CTL" info prog-big
{ cat /bin/true; head -c $((1024 * 1024)) /dev/zero; } >"$WORK/big.bin"
expect "a binary program past 1 MiB is refused (exit 1)" 1 "" -- "$CTL" create prog-bigbin --kind exec --program "$WORK/big.bin"
grep -q "^agentctl: the program was refused: .*; agent prog-bigbin was deleted again" "$WORK/stderr" && ok "the refusal says the agent was deleted again" || bad "refused program message" "$(cat "$WORK/stderr")"
expect "and the agent is gone" 1 "" -- "$CTL" info prog-bigbin
expect "--program with --kind echo is bad usage (exit 2)" 2 "" -- "$CTL" create prog-echo --kind echo --program "$WORK/prog.sh"
grep -q "exec" "$WORK/stderr" && ok "the usage error says --program is for exec agents" || bad "--program usage message" "$(cat "$WORK/stderr")"
expect "and creates nothing" 1 "" -- "$CTL" info prog-echo
expect "--program of a missing file is bad usage (exit 2)" 2 "" -- "$CTL" create prog-none --kind exec --program "$WORK/no-such-file"
expect "--program - and --config - together are bad usage" 2 "" -- "$CTL" create prog-none --kind exec --program - --config -
"$CTL" create --help | grep -q -- "--program" && ok "create --help describes --program" || bad "create --help"
expect "an exec agent without a program" 0 "created prog-empty (exec)" -- "$CTL" create prog-empty --kind exec
expect "a program not yet written reads empty" 0 "0" -- sh -c "'$CTL' cat prog-empty/program | wc -c"
expect "its status says program null" 0 "None" -- sh -c "'$CTL' status prog-empty --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get(\"program\", \"absent\"))'"
expect "write prog-empty/program - gives it one" 0 "" -- sh -c "'$CTL' write prog-empty/program - < '$WORK/prog.sh'"
program_is "$WORK/prog.sh" prog-empty 1 && ok "status: version 1 after the first write" || bad "first program write" "$("$CTL" status prog-empty --json)"
expect "cat program of an echo agent exits 1" 1 "" -- "$CTL" cat scout/program
expect "write program of an echo agent exits 1" 1 "" -- sh -c "'$CTL' write scout/program - < '$WORK/prog.sh'"
"$CTL" pause prog >/dev/null
expect "send to the exec agent" 0 "queued exec-1" -- "$CTL" send prog '{"id":"exec-1","body":"one"}'
expect "tick runs the program (exit 0 commits the tick)" 0 "prog: paused, tick 1" -- "$CTL" tick prog
expect "the program read the envelope (the inbox is empty)" 0 "0" -- sh -c "'$CTL' status prog --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"queue_depth\"])'"
expect "write prog/program - replaces the program" 0 "" -- sh -c "'$CTL' write prog/program - < '$WORK/reply.py'"
expect "cat prog/program gives the new bytes" 0 "" -- sh -c "'$CTL' cat prog/program | cmp - '$WORK/reply.py'"
program_is "$WORK/reply.py" prog 2 && ok "status: each write is a new version (2)" || bad "program version 2" "$("$CTL" status prog --json)"
expect "send again" 0 "queued exec-2" -- "$CTL" send prog '{"id":"exec-2","body":"two"}'
expect "the next tick runs the new program" 0 "prog: paused, tick 2" -- "$CTL" tick prog
expect "its reply is in the outbox" 0 '"exec got two"' -- sh -c "'$CTL' cat prog/outbox | grep -o '\"body\":\"exec got two\"' | cut -d: -f2"
PT=$("$CTL" tokens prog)
expect "the agent's own token reads its program" 0 "" -- sh -c "'$CTL' cat prog/program --token '$PT' | cmp - '$WORK/reply.py'"
expect "the agent's own token cannot write it (exit 1)" 1 "" -- sh -c "'$CTL' write prog/program - --token '$PT' < '$WORK/prog.sh'"
grep -q "^agentctl: " "$WORK/stderr" && ok "the refusal is one stderr line" || bad "agent-token write message" "$(cat "$WORK/stderr")"
program_is "$WORK/reply.py" prog 2 && ok "the refused write changed nothing" || bad "program after a refused write" "$("$CTL" status prog --json)"
expect "create of an existing id with a program exits 1" 1 "" -- "$CTL" create prog --kind exec --program "$WORK/prog.sh"
program_is "$WORK/reply.py" prog 2 && ok "and leaves its program as it was" || bad "program after a refused create" "$("$CTL" status prog --json)"
"$CTL" resume prog >/dev/null

# curl -N on a watch sees the reply the next message causes.
curl -sN -H "Authorization: Bearer $T" "$AGENTD_URL/agents/scout/outbox?watch=1" >"$WORK/sse" &
CURL=$!
sleep 0.5
"$CTL" send scout ping >/dev/null
for _ in $(seq 1 50); do grep -q '"body":"ping"' "$WORK/sse" && break; sleep 0.1; done
kill $CURL 2>/dev/null
grep -q '^event: record$' "$WORK/sse" && grep -q '"body":"ping"' "$WORK/sse" && ok "curl -N watch" || bad "curl -N watch" "$(cat "$WORK/sse")"

# logs --follow resumes across an agentd restart.
"$CTL" logs scout --follow >"$WORK/follow" 2>"$WORK/follow.err" &
FOLLOW=$!
sleep 0.5
"$CTL" send scout '{"id":"before-restart","body":"x"}' >/dev/null
kill "$AGENTD_PID"; wait "$AGENTD_PID" 2>/dev/null
start_agentd "$PORT"
"$CTL" send scout '{"id":"after-restart","body":"y"}' >/dev/null
for _ in $(seq 1 80); do grep -q 'after-restart' "$WORK/follow" 2>/dev/null && break; sleep 0.1; done
kill $FOLLOW 2>/dev/null
grep -q before-restart "$WORK/follow" && grep -q after-restart "$WORK/follow" && ok "logs --follow survives a restart" \
  || bad "logs --follow across restart" "$(tail -5 "$WORK/follow"; cat "$WORK/follow.err")"
[ "$(grep -c '"in_reply_to"' "$WORK/follow")" = "$(sort -u "$WORK/follow" | grep -c '"in_reply_to"')" ] && ok "no record twice after resume" || bad "duplicate records after resume"

expect "an exec agent's program survives the restart" 0 "" -- sh -c "'$CTL' cat prog/program | cmp - '$WORK/reply.py'"

# The OpenAPI document is valid and every documented operation answers as documented.
if python3 "$(dirname "$0")/openapi_check.py" "$AGENTD_URL" "$T" >"$WORK/openapi" 2>&1; then ok "openapi: $(tail -1 "$WORK/openapi")"
else bad "openapi document walk" "$(cat "$WORK/openapi")"; fi

# /metrics parses with a real Prometheus parser and carries the runtime's and the HTTP layer's series.
curl -s -H "Authorization: Bearer $T" "$AGENTD_URL/metrics" >"$WORK/metrics"
if python3 - "$WORK/metrics" <<'PYEOF' >"$WORK/metrics.check" 2>&1
import sys
from prometheus_client.parser import text_string_to_metric_families
names = {f.name for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = {"agentd_http_requests", "agentd_http_request_duration_seconds", "agentd_ticks", "agentd_tick_duration_seconds",
        "agentd_envelopes", "agentd_agents", "agentd_watchers"}
missing = want - names
print("missing:", sorted(missing)) if missing else print("ok")
sys.exit(1 if missing else 0)
PYEOF
then ok "metrics parse with prometheus_client"; else bad "metrics" "$(cat "$WORK/metrics.check"; head -20 "$WORK/metrics")"; fi

# export / import: the agent moves as one JSON bundle; the private key only when asked for.
"$CTL" goals scout add keep '{"aim":"move"}' >/dev/null
"$CTL" export scout >"$WORK/scout.bundle" && ok "export writes a bundle" || bad "export"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["format"]=="agentns.bundle" and "secret" not in b["identity"]' "$WORK/scout.bundle" \
  && ok "the bundle has no private key unless asked" || bad "bundle without key" "$(head -c 300 "$WORK/scout.bundle")"
"$CTL" export scout --private-key >"$WORK/scout.key.bundle"
expect "import of an existing id exits 1" 1 "" -- sh -c "'$CTL' import < '$WORK/scout.bundle'"
grep -q "already exists" "$WORK/stderr" && ok "import says the id exists and what to do" || bad "import refusal" "$(cat "$WORK/stderr")"
TICKS=$("$CTL" status scout --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick_count"])')
expect "import --as" 0 "imported scout2 (echo, active, tick $TICKS, 0 pending)" -- sh -c "'$CTL' import --as scout2 < '$WORK/scout.key.bundle'"
expect "the imported agent keeps its goals" 0 'keep	{"aim":"move"}' -- "$CTL" goals scout2
[ "$("$CTL" cat scout/identity/pubkey)" = "$("$CTL" cat scout2/identity/pubkey)" ] && ok "with --private-key the identity moves too" || bad "pubkey kept"
expect "import without the key says the identity is new" 0 "imported scout3 (echo, active, tick $TICKS, 0 pending)
new identity: the bundle had no private key, so the agent has a new public key" -- "$CTL" import --as scout3 --file "$WORK/scout.bundle"
expect "import --replace" 0 "imported scout2 (echo, active, tick $TICKS, 0 pending)" -- "$CTL" import --replace --as scout2 --file "$WORK/scout.key.bundle"
expect "import of garbage exits 1" 1 "" -- sh -c "echo '{\"format\":\"zip\"}' | '$CTL' import"
grep -q "not an agentns bundle" "$WORK/stderr" && ok "a bad bundle is named as such" || bad "bad bundle message" "$(cat "$WORK/stderr")"

"$CTL" export prog >"$WORK/prog.bundle" && ok "export of an exec agent" || bad "export prog"
expect "import --as of an exec agent" 0 "ok" -- sh -c "'$CTL' import --as prog-copy < '$WORK/prog.bundle' >/dev/null && echo ok"
expect "the imported agent has the program" 0 "" -- sh -c "'$CTL' cat prog-copy/program | cmp - '$WORK/reply.py'"

# A second agentd on the same data directory refuses.
expect "second agentd refuses" 1 "" -- "$BIN/agentd" --data "$WORK/data" --listen 127.0.0.1:0
grep -q "another agentd" "$WORK/stderr" && ok "second agentd says why" || bad "second agentd message" "$(cat "$WORK/stderr")"

kill "$AGENTD_PID"; wait "$AGENTD_PID" 2>/dev/null; AGENTD_PID=""
grep -q "stopped" "$WORK/agentd.log" && ok "agentd stops gracefully on SIGTERM" || bad "graceful stop" "$(tail -3 "$WORK/agentd.log")"
! grep -E "(error|critical) " "$WORK/agentd.log" && ok "a graceful stop logs no error" || bad "errors logged by a clean run and stop" "$(grep -E "(error|critical) " "$WORK/agentd.log" | head -5)"

echo "cli: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
