#!/usr/bin/env bash
# CI: a plain install serves. A fresh venv gets `pip install .` (no extras), exactly the
# README's first command; then .ci/plain_install_check.py, run by that venv's Python from a
# folder outside the checkout, checks that every module imports (except those of an extra),
# that a command needing a missing extra says so on one line, and that `chatport serve` on
# SQLite stores a signed WAHA webhook. Usable alone: bash .ci/plain_install.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
unset PYTHONPATH PYTHONHOME  # the plain venv and nothing else

work=$(mktemp -d /tmp/chatport-plain.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
(cd "$repo" && "$work/venv/bin/pip" install --quiet .)

cd "$work"  # not the checkout: the installed package is what is checked
"$work/venv/bin/python" "$repo/.ci/plain_install_check.py" "$work"
