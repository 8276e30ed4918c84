#!/usr/bin/env bash
# The simulator-vs-endpoint benchmark (benches/endpoint.rs) with a local moto server, built
# with the release profile (the bench profile adds LTO, which costs minutes over the SDK).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
moto_install_begin
cargo bench --profile release --bench endpoint --no-run
moto_start
[ -n "${CELLAR_MOTO_ENDPOINT:-}" ] || { echo "no moto endpoint: nothing to compare" >&2; exit 1; }
cargo bench --profile release --bench endpoint
