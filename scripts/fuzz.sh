#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (CI: 30; longer runs: the same command with a
# bigger number). A crash fails the run and its input is copied to fuzz/regressions/ as
# `<target>-found-<hash>`, where `tests/fuzz_regressions.rs` replays it on every `cargo test`
# (commit it with the fix).
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]       (default: 30, every target)
#
# cargo-fuzz 0.12.0 is installed into target/tools/cargo-fuzz on first use; it needs the
# unstable sanitizer flags, which the stable toolchain allows with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
shift || true
TOOLS=target/tools
if [ ! -x "$TOOLS/cargo-fuzz/bin/cargo-fuzz" ]; then
  echo "fuzz: installing cargo-fuzz 0.12.0 into $TOOLS/cargo-fuzz"
  cargo install cargo-fuzz --version 0.12.0 --locked --quiet --root "$TOOLS/cargo-fuzz"
fi
FUZZ="$PWD/$TOOLS/cargo-fuzz/bin/cargo-fuzz"
TARGETS=("$@")
# default: every [[bin]] of fuzz/Cargo.toml (a new target is fuzzed without editing this script)
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(sed -n 's/^name = "\([a-z0-9_]*\)"$/\1/p' fuzz/Cargo.toml)
[ ${#TARGETS[@]} -gt 0 ] || { echo "fuzz: no [[bin]] target found in fuzz/Cargo.toml" >&2; exit 2; }
cd fuzz
export RUSTC_BOOTSTRAP=1
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # seed the corpus with the saved regressions and the project's sample requests
  cp ../fuzz/regressions/* ../fixtures/requests/*.http "corpus/$t/" 2>/dev/null || true
  [ "$t" = recording ] && cp ../fuzz/seeds/recording/* "corpus/$t/" 2>/dev/null || true
  rm -f "corpus/$t/README.md"
  echo "fuzz: $t for ${SECS}s"
  if ! "$FUZZ" run "$t" --release -- -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 2> "artifacts/$t.log"; then
    status=1
    echo "FAIL: fuzz target $t crashed; the last lines of its log:" >&2
    tail -n 30 "artifacts/$t.log" >&2
    for a in "artifacts/$t"/*; do
      [ -f "$a" ] || continue
      dest="regressions/$t-found-$(sha256sum "$a" | cut -c1-12)"
      cp "$a" "$dest"
      echo "kept the input as fuzz/$dest (commit it with the fix)" >&2
    done
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "artifacts/$t.log" | tail -n 1 || true
  fi
done
exit $status
