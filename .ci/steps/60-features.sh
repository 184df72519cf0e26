#!/usr/bin/env bash
# Every combination of features compiles on the host, warnings as errors (cargo-hack's
# feature powerset: 144 combinations, about 40 s warm), and a runtime feature adds its runtime
# and nothing else to the dependency graph.
set -euo pipefail
t0=$(date +%s)
if [ "$(cargo hack --version 2>/dev/null)" != "cargo-hack 0.6.46" ]; then
  cargo install cargo-hack --version 0.6.46 --locked
fi
echo "cargo-hack ready in $(( $(date +%s) - t0 ))s"

# Its own target dir: RUSTFLAGS differ from the other steps', so they don't evict each other.
t0=$(date +%s)
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check --feature-powerset
echo "feature powerset checked in $(( $(date +%s) - t0 ))s"

# No cost without the feature: each runtime crate is in the normal dependency graph only when
# its own feature is on.
runtimes="tokio async-io futures-timer embassy-time"
for features in "" alloc std testing portable-atomic $runtimes; do
  deps=$(cargo tree -e normal --prefix none --format '{p}' --target all \
           --no-default-features ${features:+--features "$features"} | awk '{print $1}' | sort -u)
  for rt in $runtimes; do
    if [ "$rt" != "$features" ] && grep -qx "$rt" <<<"$deps"; then
      echo "feature set '${features}' pulls in $rt" >&2
      exit 1
    fi
  done
  if [ -n "$features" ] && [[ " $runtimes " == *" $features "* ]] && ! grep -qx "$features" <<<"$deps"; then
    echo "feature '$features' does not pull in its runtime" >&2
    exit 1
  fi
  echo "features '${features}': $(wc -l <<<"$deps") crates, no other runtime"
done
