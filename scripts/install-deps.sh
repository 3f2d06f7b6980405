#!/usr/bin/env bash
# Installs what agentns needs to build and test, if any of it is missing:
# Debian packages (C libraries, fuse3 for mounts, bubblewrap for sandboxes, curl; a C++ compiler, make and python3-venv for the
# local model, which scripts/local-model.sh builds from source once) and the Python tools the
# OpenAPI, metrics and fuzzing checks use (schemathesis).
# Idempotent and quiet when everything is present.
set -euo pipefail
need=(pkg-config libsqlite3-dev libsecp256k1-dev libfuse3-dev fuse3 curl python3)
# The local model: llama.cpp builds with g++ and make (cmake itself comes from PyPI); its venv
# needs ensurepip, which Debian's python3 has only with python3-venv.
need+=(g++ make python3-venv)
# containers/: bubblewrap is the sandbox (PLATFORM.md, "Sandboxing").
need+=(bubblewrap)
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
