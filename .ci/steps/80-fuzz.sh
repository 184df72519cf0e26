#!/usr/bin/env bash
# Differential fuzzing against reference models (tests/support/): race_vs_model (the race
# under noise), interleave_and_slab (the RFC 8305 interleaving adapter, then a race of
# hundreds of attempts over its order, churning the slab). Each target runs for a fixed time
# from the committed seeds (fuzz/seeds/); any crash fails the step. Prints the executions.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
cargo +nightly fuzz build -O
# Input size caps: race_vs_model reads at most 48 attempts and a few hundred noise bytes;
# interleave_and_slab up to 600 items.
for spec in race_vs_model:1024 interleave_and_slab:4096; do
  target="${spec%%:*}"
  max_len="${spec##*:}"
  corpus="$(mktemp -d)"
  cp seeds/"$target"/* "$corpus"/
  log="$(mktemp)"
  t0=$(date +%s)
  if ! cargo +nightly fuzz run -O "$target" "$corpus" -- \
      -max_total_time="$FUZZ_SECONDS" -max_len="$max_len" -len_control=0 -print_final_stats=1 \
      >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz target $target FAILED (artifact in fuzz/artifacts/$target)"
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz $target: ${execs} executions in $(( $(date +%s) - t0 ))s, no crash"
  rm -rf "$corpus" "$log"
done
