#!/usr/bin/env bash
# One command for a demo site on this machine: installs what is missing (as root), builds hive,
# writes a project in ./demo (or $1) with `hive init --provider local`, and runs every phase.
#   bash scripts/demo.sh [PROJECT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
project=${1:-demo}

bash "$here/scripts/install-deps.sh"
(cd "$here" && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build)

mkdir -p "$project"
cd "$project"
[ -f inventory/hive.yml ] || node "$here/bin/hive.js" init --provider local --name "$(basename "$(pwd)" | tr -c 'a-z0-9\n-' '-')"
node "$here/bin/hive.js" all --stage private
echo
echo "The site is up. From $(pwd): node $here/bin/hive.js ssh p-hive0   (or add $here/bin to PATH)"
