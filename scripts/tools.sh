#!/usr/bin/env bash
# Installs the outside tools sigtap's tests use, pinned, into a cache inside the checkout
# (target/tools), and prints where they are. Safe to re-run: finished steps are skipped.
#
#   target/tools/venv   Python venv with the SDKs of fixtures/requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=target/tools
mkdir -p "$TOOLS"

want_req="$(sha256sum fixtures/requirements.txt | cut -d' ' -f1)"
have_req="$(cat "$TOOLS/venv/.requirements.sha256" 2>/dev/null || true)"
if [ "$want_req" != "$have_req" ]; then
  echo "tools: creating $TOOLS/venv with the pinned SDKs (fixtures/requirements.txt)"
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check -r fixtures/requirements.txt
  echo "$want_req" > "$TOOLS/venv/.requirements.sha256"
else
  echo "tools: $TOOLS/venv is up to date"
fi
