#!/usr/bin/env bash
# Quick start 1: set everything up, then start the console on the bundled simulator.
# Extra arguments go to the console, e.g.  bash scripts/run.sh --speed 10
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/infusion-console --simulate normal "$@"
