#!/usr/bin/env bash
# Create .venv (if missing) and install the Python requirements into it.
#   scripts/setup.sh          the demo's requirements
#   scripts/setup.sh --dev    plus the test tools, and the system tools the tests use (when root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }

if [ ! -x .venv/bin/python ]; then
  if ! "${PYTHON:-python3}" -m venv .venv 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    rm -rf .venv
    as_root apt-get install -y -q -o DPkg::Lock::Timeout=600 python3-venv \
      || { echo "python3 -m venv failed; install python3-venv and retry" >&2; exit 1; }
    "${PYTHON:-python3}" -m venv .venv
  fi
fi

requirements=requirements.txt
if [ "${1:-}" = "--dev" ]; then
  requirements=requirements-dev.txt
  bash scripts/install-system-deps.sh || echo "note: could not install system tools; tests that need them will skip" >&2
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
