"""The builders use only TTS voices and soundfonts: never the recordings reserved for evaluation."""

from __future__ import annotations

from pathlib import Path

import neural_audio.data as data

ROOT = Path(data.__file__).parent
# shared/DATA.md: real recordings kept for evaluation only.
RESERVED = ("asterisk", "pocketsphinx", "sound-theme-freedesktop", "/usr/share/sounds/freedesktop",
            "/usr/share/sounds/alsa", "alsa-utils", "ovos", "sound_like")


def test_no_builder_or_install_step_names_a_reserved_recording():
    files = sorted(ROOT.glob("*.py")) + [ROOT.parents[1] / "scripts" / "install-data-tools.sh",
                                         ROOT.parents[1] / "requirements-train.txt"]
    for path in files:
        text = path.read_text().lower()
        for name in RESERVED:
            assert name not in text, f"{path.name} mentions {name}, which DATA.md reserves for evaluation"


def test_soundfonts_and_voices_are_synthetic_sources():
    from neural_audio.data.instruments import SOUNDFONTS

    assert all(f.path.suffix in (".sf2", ".sf3") for f in SOUNDFONTS)
    assert all("/sounds/alsa" not in str(f.path) for f in SOUNDFONTS)
