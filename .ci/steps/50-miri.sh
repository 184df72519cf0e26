#!/usr/bin/env bash
# Undefined-behaviour check of the unit tests and the core integration tests under miri,
# with strict provenance. Case counts are cut under cfg(miri) to keep this within minutes.
set -euo pipefail
export MIRIFLAGS="-Zmiri-strict-provenance"
cargo +nightly miri test --features testing --lib --test semantics
