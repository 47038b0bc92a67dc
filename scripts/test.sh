#!/usr/bin/env bash
# Quick start 2: set everything up, then run the whole test suite (lint included).
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k decoder
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src simulator tests bench
# Type check of the Qt-free core ([tool.mypy] in pyproject.toml says what it covers).
.venv/bin/mypy
# No display is needed: tests/conftest.py selects Qt's offscreen platform.
exec .venv/bin/python -m pytest "$@"
