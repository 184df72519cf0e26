#!/usr/bin/env bash
# Model checking of the wakers, the ready queue and both races (loom/models.rs) with
# loom: wakes from several threads racing with the consumer's pops and polls, and with the
# race's drop. A lost wake-up is a deadlock loom reports; a reference count given back twice or
# never is a loom failure. Bounded by LOOM_MAX_PREEMPTIONS.
#
# Runs in the harness crate loom/, which compiles ../src with `--cfg loom` (src/sync.rs then
# uses loom's atomics, Arc and a mutex-based AtomicWaker); the crate's own dev-dependencies do
# not build under `--cfg loom`.
set -euo pipefail
cd loom
export RUSTFLAGS="--cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test --release loom_ -- --test-threads=1
