"""Inference entry points shared by the app and the CLI: file or array in, small result out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .audio import MEL_SPECS, SAMPLE_RATE, Source, is_silent, load, loud_span


@dataclass
class AudioSummary:
    """What the front end sees in a recording, before any model runs."""

    duration: float  # seconds, at SAMPLE_RATE
    peak_dbfs: float
    rms_dbfs: float
    silent: bool

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _dbfs(value: float) -> float:
    return float(20 * np.log10(max(value, 1e-10)))


def summarize(audio: np.ndarray) -> AudioSummary:
    """Level and length of mono audio at SAMPLE_RATE."""
    return AudioSummary(
        duration=audio.size / SAMPLE_RATE,
        peak_dbfs=_dbfs(float(np.max(np.abs(audio)))),
        rms_dbfs=_dbfs(float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))),
        silent=is_silent(audio),
    )


def describe(source: Source, orig_sr: int | None = None) -> AudioSummary:
    """Load any supported input and summarize it; raises AudioError on bad input."""
    return summarize(load(source, orig_sr=orig_sr))


def log_mel(audio: np.ndarray, family: str = "kws") -> np.ndarray:
    """Log-mel spectrogram (n_mels, frames) of mono audio with one model family's front end."""
    import torch

    from .features import LogMel

    with torch.no_grad():
        return LogMel(MEL_SPECS[family])(torch.from_numpy(audio)).numpy()


@dataclass
class Segment:
    """A keyword found in a longer recording, in seconds from its start."""

    start: float
    end: float
    label: str
    score: float


@dataclass
class KeywordResult:
    """Top-k labels of the best 1-s window, and for clips over 1 s the keywords found along the way."""

    top: list[tuple[str, float]]
    segments: list[Segment]
    duration: float
    window_starts: np.ndarray  # (windows,) seconds
    probabilities: np.ndarray  # (windows, labels)
    labels: list[str]

    def to_dict(self) -> dict:
        out = {"top": [{"label": label, "score": round(score, 4)} for label, score in self.top]}
        if self.duration > 1.0:
            out["segments"] = [{"start": round(s.start, 3), "end": round(s.end, 3), "label": s.label,
                                "score": round(s.score, 4)} for s in self.segments]
        return out


def _windows(audio: np.ndarray, size: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """1-s windows every ``hop`` samples, the last one flush with the end; short clips centred in one."""
    if audio.size <= size:
        pad = size - audio.size
        return np.pad(audio, (pad // 2, pad - pad // 2))[None], np.zeros(1)
    starts = list(range(0, audio.size - size + 1, hop))
    if starts[-1] != audio.size - size:
        starts.append(audio.size - size)
    return np.stack([audio[s: s + size] for s in starts]), np.array(starts) / SAMPLE_RATE


def recognize(source: Source, *, orig_sr: int | None = None, top_k: int = 5, threshold: float = 0.5,
              hop_seconds: float = 0.1, model=None) -> KeywordResult:
    """Keywords in a recording with the shipped KeywordCNN (sliding 1-s windows over longer clips)."""
    import torch

    from .hub import cached_model
    from .models.kws import CLIP_SAMPLES, SILENCE, UNKNOWN

    model = model or cached_model("kws-cnn")
    audio = load(source, orig_sr=orig_sr)
    windows, starts = _windows(audio, CLIP_SAMPLES, int(hop_seconds * SAMPLE_RATE))
    with torch.no_grad():
        probs = torch.cat([model(torch.from_numpy(chunk)).softmax(-1) for chunk in np.array_split(
            windows, max(1, len(windows) // 64))]).numpy()
    labels = model.labels
    keyword = np.array([label not in (SILENCE, UNKNOWN) for label in labels])
    best_keyword = probs[:, keyword].max(axis=1)
    best = int(best_keyword.argmax()) if best_keyword.max() >= threshold else int(probs.max(axis=1).argmax())
    order = np.argsort(-probs[best])[:top_k]
    top = [(labels[i], float(probs[best, i])) for i in order]
    duration = audio.size / SAMPLE_RATE
    return KeywordResult(top, _segments(probs, starts, labels, keyword, threshold, duration),
                         duration, starts, probs, labels)


def _segments(probs: np.ndarray, starts: np.ndarray, labels: list[str], keyword: np.ndarray, threshold: float,
              duration: float, min_windows: int = 2) -> list[Segment]:
    """Group consecutive windows that agree on a keyword. A word lies inside every window that
    hears it whole, so the segment is the overlap of the first and the last such window. A word
    fills several windows in a row; a single window is usually two half-words heard as one.
    Posteriors are first averaged over three neighbouring windows, as in smoothed-posterior keyword
    spotting (Chen et al., 2014), so a run of half-word windows rarely reaches the threshold."""
    if len(probs) >= 3:
        padded = np.concatenate([probs[:1], probs, probs[-1:]])
        probs = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    winners = probs.argmax(axis=1)
    runs: list[list[int]] = []
    for i, c in enumerate(winners):
        if not keyword[c] or probs[i, c] < threshold:
            continue
        if runs and runs[-1][-1] == i - 1 and winners[runs[-1][-1]] == c:
            runs[-1].append(i)
        else:
            runs.append([i])
    segments = []
    for run in runs:
        if len(run) < min(min_windows, len(starts)):
            continue
        first, last, label = starts[run[0]], starts[run[-1]], int(winners[run[0]])
        lo, hi = (last, first + 1.0) if last < first + 1.0 else (first, last + 1.0)
        score = float(probs[run, label].max())
        segments.append(Segment(float(lo), float(min(hi, duration)), labels[label], score))
    return segments


@dataclass
class Event:
    """A sound event: one label from ``start`` to ``end`` seconds."""

    label: str
    start: float
    end: float


def detect_events(probs: np.ndarray, labels: list[str], frame_seconds: float, duration: float,
                  high: float = 0.5, low: float = 0.3, max_gap: float = 0.3, min_length: float = 0.2) -> list[Event]:
    """Events from frame probabilities (labels, frames), frame ``i`` centred at ``i * frame_seconds``.

    Hysteresis: an event starts where a class reaches ``high`` and lasts while it stays above ``low``,
    so a flickering score neither splits one sound nor starts a false one. Events of a class less than
    ``max_gap`` apart are one event (the annotations count a sound's own pauses as part of it); events
    shorter than ``min_length`` are dropped. Sorted by start time.
    """
    events = []
    for c, p in enumerate(np.asarray(probs)):
        spans, i, n = [], 0, len(p)
        while i < n:
            if p[i] < high:
                i += 1
                continue
            a = i
            while a > 0 and p[a - 1] >= low:
                a -= 1
            b = i
            while b + 1 < n and p[b + 1] >= low:
                b += 1
            start, end = max(0.0, (a - 0.5) * frame_seconds), min(duration, (b + 0.5) * frame_seconds)
            if spans and start - spans[-1][1] < max_gap:
                spans[-1][1] = end
            else:
                spans.append([start, end])
            i = b + 1
        events += [Event(labels[c], s, e) for s, e in spans if e - s >= min_length]
    return sorted(events, key=lambda e: (e.start, e.label))


@dataclass
class TagResult:
    """Clip-level tag scores, frame-level probabilities over time, and the events they imply."""

    tags: dict[str, float]  # label -> clip score, best first
    events: list[Event]
    duration: float
    frame_seconds: float
    probabilities: np.ndarray  # (labels, frames), frame i centred at i * frame_seconds
    labels: list[str]

    def to_dict(self) -> dict:
        return {"tags": {label: round(score, 4) for label, score in self.tags.items()},
                "events": [{"label": e.label, "start": round(e.start, 3), "end": round(e.end, 3)} for e in self.events]}


def tag(source: Source, *, orig_sr: int | None = None, threshold: float = 0.5, model=None) -> TagResult:
    """Sound tags and events in a recording of any length with the shipped SoundTagger.

    ``threshold`` is the frame probability at which an event starts (it continues down to 0.6 of it).
    """
    import torch

    from .hub import cached_model

    model = model or cached_model("tagger-cnn")
    audio = load(source, orig_sr=orig_sr)
    with torch.no_grad():
        mel = model.front(torch.from_numpy(audio))[None]
        clip, frames = model.forward_mel(mel)
        # Back to the front end's frame rate: finer event edges and timeline (linear, frame centres aligned).
        frames = torch.nn.functional.interpolate(frames, size=mel.shape[-1], mode="linear", align_corners=False)
    clip, frames = clip[0].numpy(), frames[0].numpy()
    labels = list(model.labels)
    duration = audio.size / SAMPLE_RATE
    frame_seconds = 1 / model.mel_spec.frames_per_second
    order = np.argsort(-clip)
    events = detect_events(frames, labels, frame_seconds, duration, high=threshold, low=0.6 * threshold)
    return TagResult({labels[i]: float(clip[i]) for i in order}, events, duration, frame_seconds, frames, labels)


@dataclass
class Transcript:
    """Words heard in a recording, with times from the CTC alignment, and the posteriors behind them."""

    text: str
    words: list  # decoding.Word
    duration: float
    seconds_per_step: float
    log_probs: np.ndarray  # (steps, symbols)
    alphabet: str

    def to_dict(self) -> dict:
        return {"text": self.text, "words": [w.to_dict() for w in self.words]}


def transcribe(source: Source, *, orig_sr: int | None = None, beam: int = 16, digit_strings: float | None = None,
               model=None) -> Transcript:
    """Transcript of connected speech over the model's vocabulary with the shipped CTCTranscriber.

    ``beam`` > 0: prefix beam search that only spells vocabulary words; 0: greedy (best symbol per step).
    ``digit_strings``: the beam's prior probability that an utterance is a pure digit string
    (default ``decoding.DIGIT_STRINGS``; 0: no prior). A silent recording gives an empty transcript.
    """
    import torch

    from .decoding import DIGIT_STRINGS, beam_search, greedy, word_times
    from .hub import cached_model

    model = model or cached_model("ctc-rnn")
    audio = load(source, orig_sr=orig_sr)
    if is_silent(audio):  # nothing was said; the network is never asked to guess on digital silence
        return Transcript("", [], audio.size / SAMPLE_RATE, model.seconds_per_step,
                          np.zeros((0, len(model.alphabet)), np.float32), model.alphabet)
    with torch.no_grad():
        log_probs = model(torch.from_numpy(audio)[None])[0].numpy()
    alphabet = model.alphabet
    if beam > 0:
        prior = DIGIT_STRINGS if digit_strings is None else digit_strings
        text = beam_search(log_probs, alphabet, _lexicon(tuple(model.vocabulary), prior), beam)
    else:
        text = greedy(log_probs, alphabet)
    words = _word_spans(word_times(log_probs, alphabet, text, model.seconds_per_step), audio) if text else []
    return Transcript(text, words, audio.size / SAMPLE_RATE, model.seconds_per_step, log_probs, alphabet)


def _word_spans(words: list, audio: np.ndarray, floor_db: float = 40.0, hop: int = 160) -> list:
    """Word spans that tile the sounding part of the recording.

    A bidirectional CTC model's letters are spikes that may sit early (even in the silence before a
    word) or late (a last letter held to the end): so neighbouring words meet halfway between one's
    last letter and the next one's first, and all spans are kept within the first and last 10 ms
    frame that is within ``floor_db`` of the loudest.
    """
    from dataclasses import replace

    span = loud_span(audio, floor_db, frame=hop, hop=hop)
    if span is None or not words:
        return words
    first, last = span[0] / SAMPLE_RATE, span[1] / SAMPLE_RATE
    starts, ends = [w.start for w in words], [w.end for w in words]
    for i in range(len(words) - 1):
        ends[i] = starts[i + 1] = (ends[i] + starts[i + 1]) / 2
    starts = [min(max(t, first), last) for t in starts]
    ends = [max(min(t, last), start + 0.01) for t, start in zip(ends, starts)]
    return [replace(w, start=a, end=b) for w, a, b in zip(words, starts, ends)]


@lru_cache(maxsize=4)
def _lexicon(words: tuple[str, ...], digit_strings: float):
    from .decoding import Lexicon

    return Lexicon(list(words), digit_strings=digit_strings)
