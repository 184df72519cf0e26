#!/usr/bin/env bash
# Leaks and memory errors: the unit tests, the core integration tests, the panic/drop-safety
# tests, the model-based properties and the soak tests, each test binary run directly under
# valgrind memcheck. Any definite or indirect leak, or any memory error, fails the step.
set -euo pipefail
if ! command -v valgrind >/dev/null; then
  apt-get update
  apt-get install -y valgrind
fi
tests=(--lib --test semantics --test panic_safety --test model_props --test soak)
cargo test --no-run "${tests[@]}"
bins=$(cargo test --no-run --message-format=json "${tests[@]}" 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//')
for bin in $bins; do
  t0=$(date +%s)
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
    "$bin" --test-threads=2
  echo "valgrind: $(basename "$bin"): clean in $(( $(date +%s) - t0 ))s"
done
