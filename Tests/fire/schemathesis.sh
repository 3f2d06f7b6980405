#!/usr/bin/env bash
# The OpenAPI document driven by schemathesis against a live agentd: no 5xx, and every response
# matches the document (status codes, content types, schemas). EXAMPLES per operation (10).
set -euo pipefail
BIN=${BIN:-$(swift build --show-bin-path)}
EXAMPLES=${EXAMPLES:-10}
WORK=$(mktemp -d /tmp/agentns-schemathesis.XXXXXX)
cleanup() { kill "${AGENTD_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. "$(dirname "$0")/../shell/lib.sh"
start_agentd 0 --demo --log-level error
T=$(cat "$WORK/data/token")
curl -sf -H "Authorization: Bearer $T" "http://127.0.0.1:$PORT/openapi.yaml" >"$WORK/openapi.yaml"
cd "$WORK"
schemathesis run "$WORK/openapi.yaml" --url "http://127.0.0.1:$PORT" -H "Authorization: Bearer $T" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases coverage,fuzzing --max-examples "$EXAMPLES" --no-color 2>&1 | tail -25
