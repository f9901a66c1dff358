#!/usr/bin/env bash
# Installs the outside tools sigtap's tests use, pinned, into a cache inside the checkout
# (target/tools), and prints where they are. Safe to re-run: finished steps are skipped.
#
#   target/tools/venv      Python venv with the SDKs of fixtures/requirements.txt (fixture generator)
#   target/tools/clients   Python venv with the real clients of tests/clients/requirements.txt
#   target/tools/browser   Python venv with selenium and boto3 (tests/clients/browser-requirements.txt)
#   chromium               Debian's chromium and chromium-driver, for the web view's browser test
#   target/tools/s3s-fs    s3s-fs 0.14.1, a real server that verifies SigV4 and SigV2
#   rclone                 Debian's package (apt, when this user may install; else one line says how)
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

# Debian packages the tests drive (a system install: not cached under target/). Installed with
# apt when this user may; otherwise the script stops here with the one command that does it.
system_packages() { # system_packages COMMAND=PACKAGE...
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  [ ${#missing[@]} -eq 0 ] && { echo "tools: system packages present"; return; }
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "tools: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "tools: installing ${missing[*]} (apt)"
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    { echo "tools: apt could not install ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2; exit 1; }
}

# rclone is a client the proxy tests drive; the web view's browser test drives Debian's chromium
# through its chromedriver
system_packages rclone=rclone chromium=chromium chromedriver=chromium-driver

venv "$TOOLS/venv" fixtures/requirements.txt
venv "$TOOLS/clients" tests/clients/requirements.txt
venv "$TOOLS/browser" tests/clients/browser-requirements.txt

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
