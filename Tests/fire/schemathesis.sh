#!/usr/bin/env bash
# The OpenAPI document driven by schemathesis against a live agentd: no 5xx, and every response
# matches the document (status codes, content types, schemas). EXAMPLES per operation (10).
set -euo pipefail
BIN=${BIN:-$(swift build --show-bin-path)}
EXAMPLES=${EXAMPLES:-10}
WORK=$(mktemp -d /tmp/agentns-schemathesis.XXXXXX)
chmod 711 "$WORK"  # the sandbox user passes through to the session work directories under data/
cleanup() { kill "${AGENTD_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. "$(dirname "$0")/../shell/lib.sh"
start_agentd 0 --demo --log-level error
T=$(cat "$WORK/data/token")
# A provider nothing answers (jobs fail at once: connection refused, no retries), so compute/new
# admits real jobs while it is fuzzed.
curl -sf -X PUT -H "Authorization: Bearer $T" "http://127.0.0.1:$PORT/runtime/providers/p.json" \
  -d '{"kind":"openai","base_url":"http://127.0.0.1:9/v1","models":["m"],"price":{"input":1,"output":1},"max_retries":0}' >/dev/null
curl -sf -H "Authorization: Bearer $T" "http://127.0.0.1:$PORT/openapi.yaml" >"$WORK/openapi.yaml"
# Sandbox sessions (agentd has one when bubblewrap is installed and it runs as root), so the
# session-scoped operations reach a real session, exec and work directory: agent "sbx" holds
# session S (an exec run in it, a file in it) for every session path but ctl, which gets a
# session of its own (its "stop" would end S); containers/new, usage and policy are fuzzed on
# agent "sbx-new", so a fuzzed policy cannot expire S; the agent's own paths (GET and DELETE
# /agents/{id}, and whatever methods schemathesis tries on them) get "demo", so neither is
# deleted. Without a sandbox they answer 503 and 404.
A="http://127.0.0.1:$PORT/agents"
call() { curl -sf -H "Authorization: Bearer $T" "$@"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
call -X POST "$A" -d '{"id":"sbx","kind":"echo"}' >/dev/null
call -X POST "$A" -d '{"id":"sbx-new","kind":"echo"}' >/dev/null
# A watch stays open: it is read for 2 s (the default, 10 s, made the streams most of the run).
cat >"$WORK/schemathesis.toml" <<EOF
[[operations]]
include-path-regex = '(/(status|output|inbox|outbox|logs/trace|stream)|^/agents)\$'
request-timeout = 2
EOF
if S=$(call -X POST "$A/sbx/containers/new" -d '{"files":{"main.py":"print(6*7)"}}' | field session_id 2>/dev/null); then
  E=$(call -X POST "$A/sbx/containers/sessions/$S/exec/new" -d '{"argv":["python3","main.py"],"wait":true}' | field exec_id)
  S2=$(call -X POST "$A/sbx/containers/new" -d '{}' | field session_id)
  cat >>"$WORK/schemathesis.toml" <<EOF

[[operations]]
include-path-regex = '/containers/sessions/[{]session[}]/ctl\$'
parameters = { id = "sbx", session = "$S2" }

[[operations]]
include-path-regex = '/containers/sessions/[{]session[}]/'
exclude-path-regex = '/ctl\$'
parameters = { id = "sbx", session = "$S", exec = "$E" }

[[operations]]
include-path-regex = '/containers/(new|usage|policy|providers/)'
parameters = { id = "sbx-new", name = "local" }

[[operations]]
include-path-regex = '^/agents/[{]id[}]/?\$'
parameters = { id = "demo" }
EOF
else
  echo "no sandbox provider (bubblewrap, as root): containers/ is fuzzed without sessions"
fi
# --- exec agents (issue 13): an exec agent with a program, so /agents/{id}/program's GET and PUT
# reach a real program file (fuzzed PUTs replace it, each a new version; nothing sends to "exe",
# so it never ticks). POST /agents fuzzes its own "program" field from the document. ---
call -X POST "$A" -d '{"id":"exe","kind":"exec","program":"#!/bin/sh\ncat >/dev/null\n"}' >/dev/null
cat >>"$WORK/schemathesis.toml" <<EOF

[[operations]]
include-path-regex = '/program\$'
parameters = { id = "exe" }
EOF
# --- end exec agents ---
cd "$WORK"
schemathesis run "$WORK/openapi.yaml" --url "http://127.0.0.1:$PORT" -H "Authorization: Bearer $T" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases coverage,fuzzing --max-examples "$EXAMPLES" --no-color >"$WORK/schemathesis.log" 2>&1 || status=$?
tail -25 "$WORK/schemathesis.log"
# A failure's details (the operation, the response, how to reproduce) are above the summary.
if [ "${status:-0}" -ne 0 ]; then sed -n '/= FAILURES =/,/= WARNINGS =/p' "$WORK/schemathesis.log"; fi
exit "${status:-0}"
