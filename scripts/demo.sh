#!/usr/bin/env bash
# cellar's main job on the built-in simulator, no AWS account needed:
# plan create-server@ommegang with the example configuration, save and show the plan,
# apply it, then show the server's status. Uses a fresh simulator world in .cellar/demo.ron.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p cellar
cellar() { ./target/debug/cellar --config fixtures/config --sim-state .cellar/demo.ron "$@"; }

echo "== cellar sim init"
cellar sim init
echo
echo "== cellar plan create-server@ommegang 20 -o .cellar/ommegang.plan.ron"
cellar plan create-server@ommegang 20 -o .cellar/ommegang.plan.ron
echo
echo "== cellar apply .cellar/ommegang.plan.ron --dns-confirmed"
cellar apply .cellar/ommegang.plan.ron --dns-confirmed
echo
echo "== cellar status ommegang"
cellar status ommegang
