#!/usr/bin/env bash
# Leaks and memory errors: the unit tests, the core integration tests, the panic/drop-safety
# tests, the model-based properties and the soak tests, each test binary run directly under
# valgrind memcheck. Any definite or indirect leak, or any memory error, fails the step.
#
# Skipped: the lib's `net::resolution::props`, property tests of the name-resolution state
# machine (safe code, no `unsafe` in the module; a thousand cases each). They were 250 of the
# lib binary's 300 s under valgrind, and they run natively in 20-test.sh. The lib's other
# net tests stay, among them the `getaddrinfo` and `if_nametoindex` FFI of src/net/resolve.rs,
# which miri cannot run and valgrind is the only check of.
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
    "$bin" --test-threads=2 --skip net::resolution::props
  echo "valgrind: $(basename "$bin"): clean in $(( $(date +%s) - t0 ))s"
done
