#!/usr/bin/env bash
# End-to-end checks with the real binaries: agentd on a real port, agentctl's output compared
# exactly, curl -N on a watch, and `agentctl logs --follow` surviving an agentd restart.
# Prints "N passed, M failed" and exits non-zero on any failure.
set -u
BIN=${BIN:-$(swift build --show-bin-path)}
WORK=$(mktemp -d /tmp/agentns-cli.XXXXXX)
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
"$CTL" pause scout >/dev/null
expect "send (json envelope)" 0 "queued hello-1" -- "$CTL" send scout '{"id":"hello-1","body":"hello"}'
expect "send again is a duplicate" 0 "duplicate hello-1" -- "$CTL" send scout '{"id":"hello-1","body":"hello"}'
expect "tick" 0 "scout: paused, tick 1" -- "$CTL" tick scout
expect "cat outbox body" 0 '"hello"' -- sh -c "'$CTL' cat scout/outbox | grep -o '\"body\":\"hello\"' | cut -d: -f2"
expect "resume" 0 "scout: active, tick 1" -- "$CTL" resume scout
expect "ls" 0 "config
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

# A second agentd on the same data directory refuses.
expect "second agentd refuses" 1 "" -- "$BIN/agentd" --data "$WORK/data" --listen 127.0.0.1:0
grep -q "another agentd" "$WORK/stderr" && ok "second agentd says why" || bad "second agentd message" "$(cat "$WORK/stderr")"

kill "$AGENTD_PID"; wait "$AGENTD_PID" 2>/dev/null; AGENTD_PID=""
grep -q "stopped" "$WORK/agentd.log" && ok "agentd stops gracefully on SIGTERM" || bad "graceful stop" "$(tail -3 "$WORK/agentd.log")"
! grep -E "(error|critical) " "$WORK/agentd.log" && ok "a graceful stop logs no error" || bad "errors logged by a clean run and stop" "$(grep -E "(error|critical) " "$WORK/agentd.log" | head -5)"

echo "cli: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
