"""Regenerate the bundled example clips in examples/ (run from the repo root, data tools installed).

Every clip is spoken by a voice whose person is held out for testing, so the demo's examples are
speech the models never trained on; none uses MBROLA, whose licence forbids use in sold products.
The instrument and drum clips come from the soundfont held out for testing (TimGM6mb).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_audio.audio import SAMPLE_RATE, save
from neural_audio.data.instruments import DRUM_BANK, available_soundfonts, render_notes
from neural_audio.data.tagging import drum_pattern
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
    # connected speech for the transcriber: digit strings and word sequences
    ("words-three-one-four", "flite:rms", "three one four"),
    ("words-go-left-stop", "piper:joe", "go left stop"),
    ("words-seven-two-nine-five", "pico:en-GB", "seven two nine five"),
    ("words-happy-bird", "flite:slt", "happy bird"),
]

# (file stem, GM program, notes as (start s, duration s, MIDI pitch, velocity)); 2 s each
INSTRUMENTS = [
    ("note-flute", 73, [(0.1, 1.4, 72, 100)]),
    ("note-piano", 0, [(0.1, 0.5, 60, 100), (0.6, 0.5, 64, 100), (1.1, 0.8, 67, 100)]),
]


def normalized(audio: np.ndarray, peak: float = 0.7) -> np.ndarray:
    return (peak * audio / max(1e-6, float(np.abs(audio).max()))).astype(np.float32)


def instruments() -> None:
    [font] = available_soundfonts(("test",))
    for stem, program, notes in INSTRUMENTS:
        save(OUT / f"{stem}.wav", normalized(render_notes(font, program, notes, 2.0)))
        print(f"{stem}.wav: {font.name} program {program}")
    pattern = drum_pattern(np.random.default_rng(0), 2.0)
    save(OUT / "drums.wav", normalized(render_notes(font, 0, pattern, 2.0, bank=DRUM_BANK)))
    print(f"drums.wav: {font.name} drum kit")


def main() -> None:
    voices = {v.key: v for v in VOICES}
    for stem, key, text in SPEECH:
        voice = voices[key]
        assert voice.split == "test" and voice.engine != "mbrola", key
        audio = trim_silence(synthesize(voice, text))
        audio = normalized(audio)
        pad = np.zeros(int(0.15 * SAMPLE_RATE), np.float32)
        save(OUT / f"{stem}.wav", np.concatenate([pad, audio, pad]))
        print(f"{stem}.wav: {key} says {text!r}")
    instruments()


if __name__ == "__main__":
    main()
