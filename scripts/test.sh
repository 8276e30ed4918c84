#!/usr/bin/env bash
# Runs every test of cellar: `cargo test --workspace --locked`, with a local AWS endpoint
# (moto server, see scripts/moto.sh) started first for the AWS-backend tests (tests/aws.rs)
# and stopped afterwards. moto installs while cargo builds the tests. If moto cannot be
# installed, a line starting with SKIPPED: says so and those tests skip (loudly); the rest
# still runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
moto_install_begin
cargo test --workspace --locked --no-run
moto_start
cargo test --workspace --locked
