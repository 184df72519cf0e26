#!/usr/bin/env bash
# Every combination of features compiles on the host, warnings as errors (cargo-hack's
# feature powerset: 160 combinations; `default` is left out, as it is only `std`), and a
# runtime feature adds its runtime and nothing else to the dependency graph.
#
# `net-hyper` is left out of the full powerset (it would add 48 combinations, each with the
# hyper stack): its code depends only on `net-tokio` (which it implies), on whether
# `net-async-io` is on too (the shared net modules), and on `portable-atomic` (the race), so
# a second, small powerset over those covers it (4 new combinations; the others are already
# checked and stay fresh). `net-hickory` (issue 12) is left out the same way, for the same
# reason (it implies `net-tokio` and adds one module), with its own small powerset; and so is
# `net-reqwest` (issue 21: implies `net-tokio`, adds one module, brings reqwest), whose code
# depends on `net-async-io` only through the shared net modules (2 new combinations). So are
# `hedge` and `hedge-tower` (issue 19): their code depends only on `std` (implied), on
# `testing` and the timer features (the `Clock` impls), so their small powerset is over those.
set -euo pipefail
t0=$(date +%s)
if [ "$(cargo hack --version 2>/dev/null)" != "cargo-hack 0.6.46" ]; then
  cargo install cargo-hack --version 0.6.46 --locked
fi
echo "cargo-hack ready in $(( $(date +%s) - t0 ))s"

# Its own target dir: RUSTFLAGS differ from the other steps', so they don't evict each other.
t0=$(date +%s)
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --exclude-features default,net-hyper,net-hickory,net-reqwest,net-tls,hedge,hedge-tower
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --include-features net-hyper,net-async-io,portable-atomic
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --include-features net-hickory,net-hyper,net-async-io
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --include-features hedge,hedge-tower,testing,tokio
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --include-features net-reqwest,net-async-io
# `net-tls` (issue 22) implies `net-hickory` and `net-hyper` and adds two modules; its code
# depends on `net-async-io` only through the shared net modules (2 new combinations).
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/feature-powerset \
  cargo hack check -p staggered --feature-powerset --include-features net-tls,net-async-io
echo "feature powerset checked in $(( $(date +%s) - t0 ))s"

# No cost without the feature: each runtime crate is in the normal dependency graph only when
# a feature that needs it is on (the runtime's own, or the Happy Eyeballs feature built on it).
runtimes="tokio async-io futures-timer embassy-time"
wants() { # wants FEATURE RUNTIME: does FEATURE need RUNTIME?
  case "$1" in
    "$2") true ;;
    net-tokio | net-hyper | net-hickory | net-reqwest | net-tls) [ "$2" = tokio ] ;;
    net-async-io) [ "$2" = async-io ] ;;
    *) false ;;
  esac
}
for features in "" alloc std testing portable-atomic $runtimes net-tokio net-async-io net-hyper net-hickory net-reqwest net-tls hedge hedge-tower; do
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
  # The hyper stack comes with `net-hyper` only (and with `net-reqwest`, as reqwest's, and
  # `net-tls`, which implies `net-hyper`).
  for crate in hyper hyper-util http; do
    if [ "$features" = net-hyper ] || [ "$features" = net-reqwest ] || [ "$features" = net-tls ]; then
      grep -qx "$crate" <<<"$deps" || { echo "feature net-hyper lacks $crate" >&2; exit 1; }
    elif grep -qx "$crate" <<<"$deps"; then
      echo "feature set '${features}' pulls in $crate" >&2
      exit 1
    fi
  done
  # tower-service comes with `net-hyper`, `net-reqwest` (reqwest's) and `hedge-tower` only; tower-layer with
  # `hedge-tower` only (and reqwest brings it with `net-reqwest`); hdrhistogram with the hedge
  # features only.
  for crate in tower-service tower-layer hdrhistogram; do
    case "$crate:$features" in
      tower-service:net-hyper | tower-service:net-reqwest | tower-service:net-tls | tower-service:hedge-tower | tower-layer:hedge-tower | hdrhistogram:hedge | hdrhistogram:hedge-tower)
        grep -qx "$crate" <<<"$deps" || { echo "feature $features lacks $crate" >&2; exit 1; } ;;
      tower-layer:net-reqwest) ;; # reqwest's own (it uses tower); nothing of ours needs it
      *)
        if grep -qx "$crate" <<<"$deps"; then
          echo "feature set '${features}' pulls in $crate" >&2
          exit 1
        fi ;;
    esac
  done
  # The DNS client comes with `net-hickory` only (and `net-tls`, which implies it).
  if [ "$features" = net-hickory ] || [ "$features" = net-tls ]; then
    grep -qx hickory-resolver <<<"$deps" || { echo "feature net-hickory lacks hickory-resolver" >&2; exit 1; }
  elif grep -qx hickory-resolver <<<"$deps"; then
    echo "feature set '${features}' pulls in hickory-resolver" >&2
    exit 1
  fi
  # reqwest comes with `net-reqwest` only.
  if [ "$features" = net-reqwest ]; then
    grep -qx reqwest <<<"$deps" || { echo "feature net-reqwest lacks reqwest" >&2; exit 1; }
  elif grep -qx reqwest <<<"$deps"; then
    echo "feature set '${features}' pulls in reqwest" >&2
    exit 1
  fi
  # rustls and tokio-rustls come with `net-tls` only, and without a crypto provider.
  for crate in rustls tokio-rustls ring aws-lc-rs; do
    case "$crate:$features" in
      rustls:net-tls | tokio-rustls:net-tls)
        grep -qx "$crate" <<<"$deps" || { echo "feature net-tls lacks $crate" >&2; exit 1; } ;;
      *)
        if grep -qx "$crate" <<<"$deps"; then
          echo "feature set '${features}' pulls in $crate" >&2
          exit 1
        fi ;;
    esac
  done
  echo "features '${features}': $(wc -l <<<"$deps") crates, no runtime it does not need"
done
