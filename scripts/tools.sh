#!/usr/bin/env bash
# Installs the outside tools sigtap's tests use, pinned, into a cache inside the checkout
# (target/tools), and prints where they are. Safe to re-run: finished steps are skipped.
#
#   target/tools/venv      Python venv with the SDKs of fixtures/requirements.txt (fixture generator)
#   target/tools/clients   Python venv with the real clients of tests/clients/requirements.txt
#   target/tools/s3s-fs    s3s-fs 0.14.1, a real server that verifies SigV4 and SigV2
#   target/tools/node      npm packages of tests/clients/node (s3rver 5.0.0, @aws-sdk/client-s3), from its lockfile
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=target/tools
mkdir -p "$TOOLS"

venv() { # venv DIR REQUIREMENTS
  local dir="$1" req="$2" want have
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  have="$(cat "$dir/.requirements.sha256" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    echo "tools: creating $dir from $req"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$dir/.requirements.sha256"
  else
    echo "tools: $dir is up to date"
  fi
}

venv "$TOOLS/venv" fixtures/requirements.txt
venv "$TOOLS/clients" tests/clients/requirements.txt

want_lock="$(sha256sum tests/clients/node/package-lock.json | cut -d' ' -f1)"
if [ "$want_lock" != "$(cat "$TOOLS/node/.lock.sha256" 2>/dev/null || true)" ]; then
  echo "tools: installing the node clients (npm ci, pinned by tests/clients/node/package-lock.json)"
  rm -rf "$TOOLS/node"
  mkdir -p "$TOOLS/node"
  cp tests/clients/node/package.json tests/clients/node/package-lock.json "$TOOLS/node/"
  (cd "$TOOLS/node" && npm ci --no-audit --no-fund --silent)
  echo "$want_lock" > "$TOOLS/node/.lock.sha256"
else
  echo "tools: $TOOLS/node is up to date"
fi

if [ ! -x "$TOOLS/s3s-fs/bin/s3s-fs" ]; then
  echo "tools: building s3s-fs 0.14.1 (about two minutes)"
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet --root "$TOOLS/s3s-fs"
else
  echo "tools: $TOOLS/s3s-fs is up to date"
fi
