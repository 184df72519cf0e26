#!/usr/bin/env bash
# Every combination of features compiles on the host, warnings as errors (cargo-hack's
# feature powerset: 160 combinations; `default` is left out, as it is only `std`), and a
# runtime feature adds its runtime and nothing else to the dependency graph.
set -euo pipefail
t0=$(date +%s)
if [ "$(cargo hack --version 2>/dev/null)" != "cargo-hack 0.6.46" ]; then
  cargo install cargo-hack --version 0.6.46 --locked
fi
echo "cargo-hack ready in $(( $(date +%s) - t0 ))s"

# Its own target dir: RUSTFLAGS differ from the other steps', so they don't evict each other.
t0=$(date +%s)
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --exclude-features default
echo "feature powerset checked in $(( $(date +%s) - t0 ))s"

# No cost without the feature: each runtime crate is in the normal dependency graph only when
# a feature that needs it is on (the runtime's own, or the Happy Eyeballs feature built on it).
runtimes="tokio async-io futures-timer embassy-time"
wants() { # wants FEATURE RUNTIME: does FEATURE need RUNTIME?
  case "$1" in
    "$2") true ;;
    net-tokio) [ "$2" = tokio ] ;;
    net-async-io) [ "$2" = async-io ] ;;
    *) false ;;
  esac
}
for features in "" alloc std testing portable-atomic $runtimes net-tokio net-async-io; do
  deps=$(cargo tree -e normal --prefix none --format '{p}' --target all \
           --no-default-features ${features:+--features "$features"} | awk '{print $1}' | sort -u)
  for rt in $runtimes; do
    if wants "$features" "$rt"; then
      grep -qx "$rt" <<<"$deps" || { echo "feature '$features' lacks $rt" >&2; exit 1; }
    elif grep -qx "$rt" <<<"$deps"; then
      echo "feature set '${features}' pulls in $rt" >&2
      exit 1
    fi
  done
  echo "features '${features}': $(wc -l <<<"$deps") crates, no runtime it does not need"
done
