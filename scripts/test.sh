#!/usr/bin/env bash
# The one test command (README, .ci/run): installs the pinned outside tools into target/tools,
# checks that the fixtures still match the pinned SDKs, runs every cargo test, the lints, and
# the shared public checks when ../shared is present (always in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }
t0=$(date +%s)

step "tools (pinned, cached in target/tools)"
scripts/tools.sh

step "fixtures: regenerate with the pinned SDKs and compare"
target/tools/venv/bin/python fixtures/generate.py --check

step "format and lints"
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings

step "cargo test (unit, conformance, fixtures, CLI, properties, real clients, replay, robustness, secrets)"
cargo test --release --quiet

step "fuzzing: every target for ${SIGTAP_FUZZ_SECS:-30}s (scripts/fuzz.sh)"
scripts/fuzz.sh "${SIGTAP_FUZZ_SECS:-30}"

SHARED="${SIGTAP_SHARED_DIR:-../shared}"
if [ -x "$SHARED/checks/engine-public" ]; then
  step "shared public checks ($SHARED/checks)"
  cargo build --release --quiet
  "$SHARED/checks/engine-public" target/release/sigtap | tail -n 3
  "$SHARED/checks/diagnose-public" target/release/sigtap | tail -n 1
elif [ "${CI:-}" = "true" ]; then
  echo "FAIL: $SHARED/checks is missing in CI" >&2
  exit 1
else
  echo "note: $SHARED/checks not found; skipped the shared public checks (set SIGTAP_SHARED_DIR)"
fi

step "all tests passed in $(( $(date +%s) - t0 ))s"
