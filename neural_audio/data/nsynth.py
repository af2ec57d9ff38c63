"""NSynth builder: 4-s notes (3 s held, 1 s release) from the GM soundfonts, in NSynth's layout.

DIR/nsynth-{train,valid,test}/audio/<name>.wav and examples.json, with NSynth's fields plus
``soundfont`` and ``program``. One instrument is one (soundfont, program); each split has its own fonts.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, save
from .build import Report, item_rng, run_items
from .instruments import (FAMILIES, GM_FAMILY, PITCH_RANGE, SOURCES, VELOCITIES, SoundFont, available_soundfonts,
                          has_program, instrument_source, render_note)

log = logging.getLogger(__name__)

HELD_SECONDS, RELEASE_SECONDS = 3.0, 1.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def split_dir(split: str) -> str:
    return f"nsynth-{split}"


def _instrument_item(item: tuple[int, SoundFont, int], out: Path, pitch_step: int, velocities: int,
                     seed: int) -> list[dict]:
    index, font, program = item
    if not has_program(font, program):
        return []
    family = GM_FAMILY[program]
    source = instrument_source(font, program)
    rng = item_rng(seed, "nsynth", font.name, program)
    lo, hi = PITCH_RANGE[family]
    # One gain per instrument from its loudest note, so velocity still changes the level.
    ref = render_note(font, program, int(np.clip(60, lo, hi)), 127, HELD_SECONDS, RELEASE_SECONDS)
    peak = float(np.abs(ref).max(initial=0.0))
    if peak < 1e-4:
        return []
    gain = 0.9 / peak
    instrument_str = f"{family}_{source}_{index:03d}"
    examples = []
    for pitch in range(lo + int(rng.integers(pitch_step)), hi + 1, pitch_step):
        for velocity in sorted(rng.choice(VELOCITIES, size=velocities, replace=False).tolist()):
            audio = render_note(font, program, pitch, velocity, HELD_SECONDS, RELEASE_SECONDS) * gain
            if np.abs(audio).max(initial=0.0) < 1e-3:
                continue  # the font has no sample this far from the instrument's range
            audio = audio / max(1.0, float(np.abs(audio).max()) / 0.99)
            name = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
            save(out / split_dir(font.split) / "audio" / f"{name}.wav", audio)
            examples.append({
                "note": index * 10000 + pitch * 10 + VELOCITIES.index(velocity),
                "note_str": name, "instrument": index, "instrument_str": instrument_str,
                "pitch": pitch, "velocity": velocity, "sample_rate": SAMPLE_RATE,
                # NSynth's ten quality labels are annotated by people; unknown here.
                "qualities": [0] * 10, "qualities_str": [],
                "instrument_family": FAMILIES.index(family), "instrument_family_str": family,
                "instrument_source": SOURCES.index(source), "instrument_source_str": source,
                "soundfont": font.name, "program": program, "split": font.split,
            })
    return examples


def build_nsynth(out: Path, seed: int = 0, pitch_step: int = 3, velocities: int = 3,
                 programs: Sequence[int] | None = None, soundfonts: Sequence[str] | None = None,
                 workers: int = 2) -> Report:
    """Render every GM program with an NSynth family from every installed soundfont (or ``soundfonts``)."""
    out = Path(out)
    fonts = available_soundfonts(names=soundfonts)
    if not fonts:
        raise RuntimeError("No soundfont renderer or soundfont installed: run scripts/install-data-tools.sh")
    chosen = sorted(GM_FAMILY) if programs is None else sorted(p for p in programs if p in GM_FAMILY)
    items = [(i, font, program) for i, (font, program) in enumerate((f, p) for f in fonts for p in chosen)]
    results = run_items(functools.partial(_instrument_item, out=out, pitch_step=pitch_step,
                                          velocities=min(velocities, len(VELOCITIES)), seed=seed),
                        items, workers, "nsynth")
    report = Report("nsynth", str(out))
    by_split: dict[str, dict] = {f.split: {} for f in fonts}
    for examples in results:
        for ex in examples:
            split = ex.pop("split")
            by_split[split][ex["note_str"]] = ex
            report.add(split, HELD_SECONDS + RELEASE_SECONDS, ex["instrument_family_str"])
    for split, examples in sorted(by_split.items()):
        path = out / split_dir(split) / "examples.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(examples.items())), indent=1) + "\n")
    report.persons = {s: sorted({f.name for f in fonts if f.split == s}) for s in by_split}
    report.notes.append("instruments are (soundfont, program); 'persons' are the soundfonts of each split")
    report.save()
    return report

