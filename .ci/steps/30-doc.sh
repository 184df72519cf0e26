#!/usr/bin/env bash
# API docs build without warnings (broken links, missing docs), on stable and as docs.rs
# builds them; every link in the rendered pages resolves and every page has an example.
set -euo pipefail
RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps

# The docs.rs build (Cargo.toml's [package.metadata.docs.rs]: all features, `--cfg docsrs`),
# on nightly as docs.rs runs it.
rustup toolchain install nightly --profile minimal
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --no-deps --all-features

# Links. `rustdoc::broken_intra_doc_links` is an error (Cargo.toml's [lints.rustdoc]), but
# rustdoc does not warn about two kinds of dead link: one to a dependency whose docs it has no
# URL for (it prints the bare text in brackets), and one inside a macro's input (the docs of
# `StaggeredRace`, inside `pin_project!`), whose href is then the Rust path itself. So build
# again as docs.rs does, with `-Zrustdoc-map` (links to dependencies go to docs.rs), and check
# the HTML for both. The same script checks that every module, type, trait and function page
# has an example.
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --no-deps --all-features -Zrustdoc-map
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }
python3 .ci/check-docs.py "${CARGO_TARGET_DIR:-target}/doc/staggered"
