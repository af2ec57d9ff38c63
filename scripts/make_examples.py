"""Regenerate the bundled example clips in examples/ (run from the repo root, data tools installed).

Every clip is spoken by a voice whose person is held out for testing, so the demo's examples are
speech the models never trained on; none uses MBROLA, whose licence forbids use in sold products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_audio.audio import SAMPLE_RATE, save
from neural_audio.data.voices import VOICES, synthesize, trim_silence

OUT = Path("examples")
# (file stem, voice key, text)
SPEECH = [
    ("speech-yes", "flite:rms", "yes"),
    ("speech-no", "piper:joe", "no"),
    ("speech-up", "pico:en-GB", "up"),
    ("speech-seven", "pico:en-GB", "seven"),
    ("speech-marvin", "flite:rms", "marvin"),
    ("speech-stop", "pico:en-GB", "stop"),
]


def main() -> None:
    voices = {v.key: v for v in VOICES}
    for stem, key, text in SPEECH:
        voice = voices[key]
        assert voice.split == "test" and voice.engine != "mbrola", key
        audio = trim_silence(synthesize(voice, text))
        audio = 0.7 * audio / max(1e-6, float(np.abs(audio).max()))
        pad = np.zeros(int(0.15 * SAMPLE_RATE), np.float32)
        save(OUT / f"{stem}.wav", np.concatenate([pad, audio, pad]))
        print(f"{stem}.wav: {key} says {text!r}")


if __name__ == "__main__":
    main()
