#!/usr/bin/env bash
# Issue 18: the docs build with `-D warnings`, and `cargo test` passes (doctests included),
# with each feature alone, as for a user who has the crate as a path or workspace dependency
# with only the features they use. 30-doc.sh does the same for `--all-features`.
#
# The features are read from Cargo.toml's [features], so a new one is covered with no edit
# here (`default` is `std`, which is in the list).
#
# Docs: one `cargo doc --no-deps` per feature, and one with none. They build in their own
# target dir: RUSTDOCFLAGS would otherwise re-document the crate in target/ (30-doc.sh
# checks target/doc/staggered, all features), and these builds only need the dependencies'
# metadata (a `check` build), a minute cold for all of them.
#
# Tests: `cargo test -p staggered --no-default-features --features X` builds the crate with X
# plus what its dev-dependency on itself turns on (testing, net-tokio, net-async-io,
# net-hickory, and default), so most features resolve to the same build: X = none, std,
# alloc, testing, tokio, async-io, net-tokio, net-async-io and net-hickory give one and the
# same crate (the one a plain `cargo test` builds). The script asks cargo which features each
# X resolves to (`cargo tree`, dev-dependencies unified in) and runs each distinct set once,
# so every feature is covered by the run of its set; today that is 5 sets, not 13.
#   - Each set runs the unit tests (`--lib`) and the doctests (`--doc`), where the code and
#     the examples of its features are. Not the integration tests: they would rebuild a
#     dozen test binaries per set (about 2 minutes each on 2 cores, for tests that run in
#     seconds), and 20-test.sh runs them all with every feature on (among them
#     tests/fairness.rs with futures-timer, tests/extra's runtime_embassy.rs and hyper.rs),
#     and 50-miri.sh runs the semantics suite on portable-atomic's path.
# Measured on a fresh clone (2 cores, nothing else running): 413 s when the first set also
# ran the integration suite; each set is about 45 s, most of it its 120 doctests, each
# compiled on its own. Each step prints its figures.
set -euo pipefail
t0=$(date +%s)

features=$(awk '/^\[features\]/ { on = 1; next } /^\[/ { on = 0 }
  on && /^[a-z0-9-]+ *=/ { sub(/ *=.*/, ""); if ($0 != "default") print }' Cargo.toml)
[ -n "$features" ] || { echo "31-doc-features: no features found in Cargo.toml" >&2; exit 1; }
echo "features: $(echo $features)"

# --- Docs, warnings as errors, for no feature and each feature alone.
t=$(date +%s)
for feature in "" $features; do
  echo "--- cargo doc --no-default-features ${feature:+--features $feature}"
  RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/doc-features" \
    timeout 600 cargo doc -p staggered --no-deps --no-default-features ${feature:+--features "$feature"}
done
echo "31-doc-features: docs for $(( $(echo $features | wc -w) + 1 )) feature sets in $(( $(date +%s) - t ))s"

# --- Tests, once per distinct resolved feature set.
declare -A runs=()   # resolved feature list -> the features (X) that resolve to it
order=()
for feature in "" $features; do
  resolved=$(cargo tree -p staggered --no-default-features ${feature:+--features "$feature"} \
               -e normal,dev -f '{f}' --depth 0 | sed -n 1p)
  if [ -z "${runs[$resolved]+set}" ]; then
    order+=("$resolved")
    runs[$resolved]="${feature:-none}"
  else
    runs[$resolved]+=" ${feature:-none}"
  fi
done

for resolved in "${order[@]}"; do
  # The first feature of the set names it on the command line (none: no --features).
  x=${runs[$resolved]%% *}
  args=(-p staggered --no-default-features)
  [ "$x" = none ] || args+=(--features "$x")
  t=$(date +%s)
  echo "--- features ${runs[$resolved]} resolve to: $resolved"
  timeout 900 cargo test "${args[@]}" --lib
  timeout 900 cargo test "${args[@]}" --doc
  echo "31-doc-features: tests for (${runs[$resolved]}) in $(( $(date +%s) - t ))s"
done
echo "31-doc-features: ${#order[@]} test builds for $(( $(echo $features | wc -w) + 1 )) feature sets; $(( $(date +%s) - t0 ))s in all"
