#!/usr/bin/env bash
# Writes the symbol order of a `cellar` binary for CELLAR_SYMBOL_ORDER (cli/build.rs): every
# function the one-server commands run (and `--version`), in the order callgrind first
# lists them, for LLD's --symbol-ordering-file. The names carry the build's hashes: make it
# from a binary built exactly as the one it is for (same profile, features, lockfile,
# compiler), then rebuild that binary with CELLAR_SYMBOL_ORDER set.
#
#   scripts/symbol-order.sh CELLAR_BINARY WORLD_DIR OUT_FILE
#
# WORLD_DIR: a world the world bench kept (CELLAR_BENCH_KEEP=1): config/ and sim.db.
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
bin=$(realpath "$1"); world=$(realpath "$2"); out=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # NAME STATE WORDS...
    local name=$1 state=$2; shift 2
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/$name.%p.cg" \
        "$bin" --config "$world/config" --sim-state "$state" "$@" >/dev/null 2>&1 || true
}
(cd "$tmp" && valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/0-version.%p.cg" "$bin" --version >/dev/null 2>&1)
run 1-status "$world/sim.db" status web-00000
run 2-plan "$world/sim.db" plan upgrade-ami@web-00000 --restart
cp "$world/sim.db" "$tmp/run.db"
(cd "$tmp" && run 3-apply "$tmp/run.db" apply create-server@new-0 30 --yes --dns-confirmed)
# `fn=(id) name` names a function the first time the file mentions it (cfn= likewise).
cat "$tmp"/*.cg | sed -n 's/^c\{0,1\}fn=([0-9]*) \(.*\)$/\1/p' | awk '!seen[$0]++' >"$out"
echo "$(wc -l <"$out") symbols in $out" >&2
