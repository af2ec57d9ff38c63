#!/usr/bin/env bash
# Install everything the offline data builders need: TTS engines and voices, sox,
# fluidsynth, the General MIDI soundfonts and the pip training extras.
# Idempotent; runs as root or through sudo. Usage: scripts/install-data-tools.sh [PYTHON]
set -euo pipefail

PYTHON="${1:-${PYTHON:-python3}}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y)

# MBROLA, svox pico and RHVoice live in contrib/non-free. Add them in a sources file of our own,
# with the suite and keyring of the system's Debian sources, instead of editing the system file.
SOURCES=/etc/apt/sources.list.d/neural-audio-nonfree.sources
. /etc/os-release
SUITE="${VERSION_CODENAME:-bookworm}"
# main is already in the system's own sources; listing it twice makes apt warn.
WANTED="Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE $SUITE-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
if [ "$(cat "$SOURCES" 2>/dev/null)" != "$WANTED" ]; then
    echo "$WANTED" | $SUDO tee "$SOURCES" >/dev/null
    "${APT[@]}" update
elif [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*non-free_binary*Packages*' -print -quit 2>/dev/null)" ]; then
    "${APT[@]}" update
fi

MBROLA_VOICES="mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4
 mbrola-de5 mbrola-de6 mbrola-fr1 mbrola-fr4 mbrola-nl2 mbrola-hu1 mbrola-sw1 mbrola-sw2 mbrola-af1
 mbrola-pl1 mbrola-gr2 mbrola-ro1"
# shellcheck disable=SC2086
"${APT[@]}" install --no-install-recommends \
    espeak-ng mbrola $MBROLA_VOICES \
    flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
    libttspico-utils rhvoice rhvoice-english \
    sox fluidsynth libfluidsynth3 \
    fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont csound-soundfont opl3-soundfont

# tinysoundfont declares pyaudio, which does not build here and is only used for playback.
"$PYTHON" -m pip install --no-deps "tinysoundfont>=0.3"
"$PYTHON" -m pip install -r "$ROOT/requirements-train.txt"
