#!/usr/bin/env bash
# System tools the test suite exercises: ffmpeg (WebM/M4A input), Debian's chromium (browser test),
# and the data builders' TTS voices and soundfonts (scripts/install-data-tools.sh, into .venv).
# Idempotent; needs root or passwordless sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q -o DPkg::Lock::Timeout=600
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
if [ -f scripts/install-data-tools.sh ]; then
  bash scripts/install-data-tools.sh .venv/bin/python
fi
