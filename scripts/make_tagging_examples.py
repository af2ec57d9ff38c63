"""Regenerate the bundled tagging examples, examples/tagging-*.wav and their events in
examples/tagging-events.csv (run from the repo root, data tools installed).

Each clip mixes two sound events at known times, rendered the way the tagging builder renders them but
only from sources held out of training: a test voice (not MBROLA, whose licence forbids use in sold
products) and the test soundfont, TimGM6mb. (TimGM6mb's bird and telephone are 0.1-0.3 s chirps, too
short to show a timeline, so the examples use sustained sounds.)
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from neural_audio.audio import SAMPLE_RATE, save
from neural_audio.data.instruments import available_soundfonts
from neural_audio.data.speech import make_speakers
from neural_audio.data.tagging import _Sources
from neural_audio.data.voices import VOICES, trim_silence

OUT = Path("examples")
SECONDS = 6.0
VOICE = "pico:en-GB"
# (file stem, [(label, onset in s, longest length in s, level in dB)])
CLIPS = [
    ("tagging-speech-siren", [("speech", 0.4, 2.4, 0.0), ("siren", 3.2, 2.5, -4.0)]),
    ("tagging-drums-helicopter", [("drums", 0.3, 2.6, 0.0), ("helicopter", 3.4, 2.2, -2.0)]),
    ("tagging-piano-applause", [("piano", 0.5, 2.5, 0.0), ("applause", 3.3, 2.0, -3.0)]),
]


def main() -> None:
    voice = next(v for v in VOICES if v.key == VOICE)
    assert voice.split == "test" and voice.engine != "mbrola", VOICE
    fonts = available_soundfonts(splits=("test",))
    sources = _Sources(make_speakers([voice], 1, 0, "examples"), fonts)
    rows = []
    for k, (stem, events) in enumerate(CLIPS):
        rng = np.random.default_rng(k)
        mix = np.zeros(int(SECONDS * SAMPLE_RATE))
        for label, onset, seconds, db in events:
            audio = trim_silence(sources.render(label, seconds, rng), top_db=50)
            start = int(onset * SAMPLE_RATE)
            audio = audio[: mix.size - start]
            mix[start: start + audio.size] += audio / np.abs(audio).max() * 10 ** (db / 20)
            rows.append((f"{stem}.wav", label, round(start / SAMPLE_RATE, 3), round((start + audio.size) / SAMPLE_RATE, 3)))
        save(OUT / f"{stem}.wav", (0.7 * mix / np.abs(mix).max()).astype(np.float32))
        print(f"{stem}.wav: " + ", ".join(f"{r[1]} {r[2]}-{r[3]} s" for r in rows if r[0] == f"{stem}.wav"))
    with open(OUT / "tagging-events.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "onset", "offset"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
