#!/usr/bin/env bash
# Installs what agentns needs to build and test, if any of it is missing:
# Debian packages (C libraries, fuse3 for mounts, curl) and the Python tools the OpenAPI, metrics and
# fuzzing checks use (schemathesis).
# Idempotent and quiet when everything is present.
set -euo pipefail
need=(pkg-config libsqlite3-dev libsecp256k1-dev libfuse3-dev fuse3 curl python3)
need+=("$@")
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c "import yaml, openapi_spec_validator, prometheus_client" 2>/dev/null || ! command -v schemathesis >/dev/null; then
  echo "installing: pyyaml openapi-spec-validator prometheus-client schemathesis (pip)"
  python3 -m pip install -q pyyaml openapi-spec-validator prometheus-client schemathesis
fi
