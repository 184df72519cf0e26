#!/usr/bin/env bash
# Model checking of the wakers and the ready queue (src/waker.rs, `loom_tests`) with loom:
# wakes from several threads racing with the consumer's pops and polls and with the race's
# drop. A lost wake-up is a deadlock loom reports; a count given back twice or never is a
# loom panic. Bounded by LOOM_MAX_PREEMPTIONS; its own target dir, since `--cfg loom`
# rebuilds every dependency.
set -euo pipefail
export RUSTFLAGS="--cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="target/loom"
cargo test --lib --release loom -- --test-threads=1
