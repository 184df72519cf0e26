#!/usr/bin/env bash
# Undefined-behaviour check of the unit tests and the core integration tests under miri,
# with strict provenance. Case counts are cut under cfg(miri) to keep this within minutes.
# Also the panic/drop-safety tests and the model-based property tests (tests/model_props.rs,
# 6 cases per property under miri), and the builder options (tests/builder.rs). Miri also
# fails on memory leaks.
set -euo pipefail
export MIRIFLAGS="-Zmiri-strict-provenance"
cargo +nightly miri test --features testing --lib --test semantics --test panic_safety --test model_props --test builder
# The `portable-atomic` build swaps the wakers' atomics and Arc (and builds each chunk's
# Arc<[Cell]> itself): run the semantics suite on that path too.
cargo +nightly miri test --features testing,portable-atomic --test semantics
