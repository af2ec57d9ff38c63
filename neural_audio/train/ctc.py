"""Train and evaluate the CTCTranscriber on connected words (plus single Speech Commands words).

Log-mels are computed once into a cache under the work folder; augmentation then works on the
log-mel batch (speed, level, noise, room reverb, vocal-tract warp, SpecAugment), so a training
step costs the model and little else.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..audio import MEL_SPECS, SAMPLE_RATE
from ..decoding import DIGIT_STRINGS, DIGITS, Lexicon, beam_search, greedy, word_error_rate
from ..features import mel_centres
from ..hub import load_folder
from ..models.ctc import ALPHABET, CTCTranscriber
from .common import (REAL_DIGITS_WHAT, CsvLog, MelCache, cosine_lr, draw_persons, load_state, person_labels,
                     pocketsphinx_decode, report, reserved_digits, save_state, set_threads, speaker_persons,
                     spliced_digit_strings, spread, wall_times, wanted_peers)
from .kws import spec_augment, warp_frequency

log = logging.getLogger(__name__)


def find_sources(folders: list[str]) -> dict[str, Path]:
    """Which folder is the connected-words build and which (optional) the Speech Commands build."""
    found: dict[str, Path] = {}
    for folder in map(Path, folders):
        if (folder / "train.csv").is_file():
            found["connected"] = folder
        elif (folder / "testing_list.txt").is_file():
            found["words"] = folder
        else:
            raise FileNotFoundError(f"{folder} is neither a connected-words nor a Speech Commands build "
                                    "(see `python -m neural_audio data --help`)")
    if "connected" not in found:
        raise FileNotFoundError("train ctc needs a connected-words build (python -m neural_audio data connected-words)")
    return found


def utterances(folders: list[str], split: str | list[str], limit: int | None = None):
    """Yield (text, waveform): connected-word utterances of one split or several, then, for training,
    the single words of the same persons when a Speech Commands build is given (the connected-words
    split is what is evaluated)."""
    from ..data.datasets import ConnectedWords, SpeechCommands, as_splits

    found = find_sources(folders)
    connected = ConnectedWords(found["connected"], split)
    for i in spread(len(connected), limit):
        audio, text = connected[i]
        yield text, audio.numpy()
    if "words" in found and "train" in as_splits(split) and limit is None:
        words = SpeechCommands(found["words"], split)
        for i in range(len(words)):
            audio, label = words[i]
            yield words.words[label], _trim(audio.numpy())


def _trim(audio: np.ndarray, pad: int = 1600) -> np.ndarray:
    """A 1-s Speech Commands clip cut to its voiced part plus 0.1 s each side."""
    loud = np.flatnonzero(np.abs(audio) > 0.01 * (np.abs(audio).max() + 1e-9))
    if not len(loud):
        return audio
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def clip_persons(folders: list[str], split: str | list[str]) -> tuple[list[str], list[str]]:
    """Who says each training utterance, in the order `utterances` yields them: the persons of the
    connected utterances, then those of the single words (empty without a Speech Commands build)."""
    from ..data.datasets import ConnectedWords, SpeechCommands

    found = find_sources(folders)
    person_of = speaker_persons(*found.values())
    connected = [person_of[row["speaker"]] for row in ConnectedWords(found["connected"], split).rows]
    words = SpeechCommands(found["words"], split) if "words" in found else []
    return connected, [person_of[words.speaker(i)] for i in range(len(words))]


def encode_text(text: str, alphabet: str = ALPHABET) -> list[int]:
    return [alphabet.index(c) for c in text]


def length_batches(lengths: np.ndarray, batch: int, seed: int, epoch: int, pool: int = 64) -> list[np.ndarray]:
    """One epoch of batches: shuffled, then sorted by length within pools of ``pool`` batches, so a
    batch holds utterances of similar length (little padding) yet every epoch differs."""
    rng = np.random.default_rng((seed, epoch))
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch * pool):
        chunk = order[start: start + batch * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i: i + batch] for i in range(0, len(chunk) - batch + 1, batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


class MelAugment:
    """Log-mel domain augmentation of single utterances and of padded batches."""

    def __init__(self, noise: np.ndarray, floor: float, seed: int, p_noise: float = 0.6, p_reverb: float = 0.3,
                 speed: float = 0.12, pad_frames: int = 40, p_band: float = 0.0):
        self.noise = torch.from_numpy(np.asarray(noise, np.float32))  # (frames, n_mels) of background noise
        self.floor, self.p_noise, self.p_reverb, self.speed, self.pad = floor, p_noise, p_reverb, speed, pad_frames
        self.p_band = p_band
        self.centres = torch.tensor(mel_centres(MEL_SPECS["ctc"]))  # Hz, for the narrow band (a copy)
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def item(self, mel: np.ndarray) -> torch.Tensor:
        """(frames, n_mels) float16 cache rows -> (n_mels, frames'): speed change, level, silence either side."""
        x = torch.from_numpy(np.asarray(mel, np.float32)).T
        frames = max(2, round(x.shape[1] / self._uniform(1 - self.speed, 1 + self.speed)))
        x = F.interpolate(x[None], size=frames, mode="linear", align_corners=True)[0]
        x = x + self._uniform(-2.0, 2.0)
        left, right = (int(torch.randint(0, self.pad + 1, (), generator=self.generator)) for _ in range(2))
        return F.pad(x, (left, right), value=self.floor).clamp_min(self.floor)

    def batch(self, mel: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Padded (batch, n_mels, frames): noise at 0-35 dB SNR, room reverb, narrow band, warp, SpecAugment."""
        out = mel.clone()
        for i in range(len(mel)):
            n = int(frames[i])
            x = out[i, :, :n]
            if self._uniform(0, 1) < self.p_reverb:
                x = self._reverb(x)
            if len(self.noise) > n and self._uniform(0, 1) < self.p_noise:
                start = int(torch.randint(0, len(self.noise) - n, (), generator=self.generator))
                noise = self.noise[start: start + n].T
                energy = x.exp().mean(0)
                speech = energy[energy >= energy.median()].mean().log()
                snr = self._uniform(0.0, 35.0) / 10 * math.log(10)
                x = torch.logaddexp(x, noise + (speech - noise.exp().mean().log() - snr))
            if self.p_band and self._uniform(0, 1) < self.p_band:  # (no draw when off: older runs replay)
                x = self._band_limit(x)
            out[i, :, :n] = x
        masks = max(2, out.shape[-1] // 100)
        return spec_augment(warp_frequency(out, self.generator), self.generator, freq_width=10, time_width=8,
                            masks=masks)

    def _band_limit(self, x: torch.Tensor) -> torch.Tensor:
        """A narrow-band recording upsampled to 16 kHz: half the time a telephone channel (300-3,400 Hz
        give or take), otherwise a codec or microphone cut-off at 4-7.5 kHz. The bands past a cut-off
        fall away over a few hundred hertz to the floor."""
        if self._uniform(0, 1) < 0.5:
            low, high = self._uniform(150.0, 400.0), self._uniform(3200.0, 3900.0)
        else:
            low, high = 0.0, self._uniform(4000.0, 7500.0)
        drop = (F.relu(self.centres - high) / 300.0 + F.relu(low - self.centres) / 100.0) * 10.0
        return (x - drop[:, None]).clamp_min(self.floor)

    def _reverb(self, x: torch.Tensor) -> torch.Tensor:
        """Exponentially decaying power tail per band (RT60 0.15-0.7 s), mixed with the direct sound."""
        rt60 = self._uniform(0.15, 0.7)
        step = MEL_SPECS["ctc"].hop_length / SAMPLE_RATE
        taps = torch.arange(1, int(rt60 / step) + 1, dtype=torch.float32)
        kernel = torch.exp(-13.8 * taps * step / rt60) * 10 ** (self._uniform(-1.5, -0.5))
        power = x.exp()
        tail = F.conv1d(F.pad(power[:, None], (len(taps), 0)), kernel.flip(0).view(1, 1, -1))[:, 0, :-1]
        return (power + tail).log()


def collate(items: list[torch.Tensor], floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.tensor([x.shape[1] for x in items])
    mel = torch.full((len(items), items[0].shape[0], int(frames.max())), floor)
    for i, x in enumerate(items):
        mel[i, :, : x.shape[1]] = x
    return mel, frames


def cached(folders: list[str], split: str | list[str], folder: Path, limit: int | None = None) -> MelCache:
    if not (folder / "sources.json").is_file():
        MelCache.build(utterances(folders, split, limit), MEL_SPECS["ctc"]).save(folder)
    return MelCache.load(folder)


def noise_frames(folders: list[str]) -> np.ndarray:
    """Log-mel frames of the Speech Commands background-noise recordings (training persons' babble)."""
    from ..data.datasets import SpeechCommands
    from ..features import LogMel

    found = find_sources(folders)
    if "words" not in found:
        return np.zeros((0, MEL_SPECS["ctc"].n_mels), np.float32)
    front = LogMel(MEL_SPECS["ctc"])
    noises = SpeechCommands(found["words"], "train").background_noise()
    with torch.no_grad():
        return np.concatenate([front(torch.from_numpy(n.astype(np.float32))).T.numpy() for n in noises])


@torch.no_grad()
def transcribe_cache(model: CTCTranscriber, cache: MelCache, lexicon: Lexicon | None = None, batch: int = 32,
                     beam: int = 16) -> list[str]:
    """Decode every clip of a cache (greedy without a lexicon, lexicon beam search with one)."""
    model.eval()
    floor = math.log(model.mel_spec.log_floor)
    n = len(cache.sources)
    order = np.argsort(np.diff(cache.offsets))
    out: list[str] = [""] * n
    for start in range(0, n, batch):
        idx = order[start: start + batch]
        mel, frames = collate([torch.from_numpy(np.asarray(cache.clip(i), np.float32)).T for i in idx], floor)
        log_probs, steps = model.forward_mel(mel, frames)
        for k, i in enumerate(idx):
            lp = log_probs[k, : steps[k]].numpy()
            out[i] = greedy(lp, model.alphabet) if lexicon is None else beam_search(lp, model.alphabet, lexicon, beam)
    return out


def train(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    floor = math.log(MEL_SPECS["ctc"].log_floor)
    started = time.time()
    splits = args.train_splits
    train_cache = cached(args.data, splits, work / f"cache-{'+'.join(splits)}")
    valid_cache = cached(args.data, "valid", work / "cache-valid", limit=args.valid)
    # Trained on the validation persons too (a final run), there is nothing left to pick a step with:
    # the last weights are shipped and the validation WER is only watched.
    select = "valid" not in splits
    noise = noise_frames(args.data)
    lengths = np.diff(train_cache.offsets)
    index = np.arange(len(lengths))  # the cache rows trained on
    if args.persons:
        # Drawn among the connected utterances' persons; their single words come with them, and the
        # single words of persons who say no connected utterance (the opt-in Kokoro voices) stay out.
        connected, words = clip_persons(args.data, splits)
        assert len(connected) + len(words) == len(lengths), f"{work} holds a cache of other data; remove it"
        chosen = draw_persons(connected, args.persons, args.seed)
        index = np.flatnonzero(np.isin(connected + words, chosen))
        log.warning("Training on %d of %d persons (%d utterances): %s", len(chosen), len(set(connected)),
                    len(index), " ".join(chosen))
    kept = lengths[index]
    vocabulary = sorted({w for text in train_cache.sources for w in text.split()})
    log.warning("Cache: %d utterances of %s (%.1f h), %s on %d valid; %d noise frames; %d words; %.0f s",
                len(index), "+".join(splits), kept.sum() / 360000,
                "picking the best step" if select else "shipping the last step, watching",
                len(valid_cache.sources), len(noise), len(vocabulary), time.time() - started)
    model = CTCTranscriber(vocabulary, channels=args.channels, hidden=args.hidden, layers=args.layers,
                           blocks=args.blocks, dropout=args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    log.warning("CTCTranscriber: %d parameters, %d threads", n_params, threads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    meta = load_state(work, {"model": model}, optimizer) or {"step": 0, "best": float("inf"), "wall": 0.0}
    if meta["step"]:
        log.warning("Resuming at step %d (best validation WER %.4f)", meta["step"], meta["best"])
    augment = MelAugment(noise, floor, seed=args.seed * 1000 + meta["step"], p_band=args.band_limit)
    steps_per_epoch = len(length_batches(kept, args.batch, args.seed, 0))
    csv = CsvLog(work / "log.csv")
    bar = tqdm(range(meta["step"], args.steps), initial=meta["step"], total=args.steps, unit="step")
    tick, running, epoch_batches, epoch = time.time(), None, None, -1
    for step in bar:
        if step // steps_per_epoch != epoch:
            epoch = step // steps_per_epoch
            epoch_batches = length_batches(kept, args.batch, args.seed, epoch)
        idx = index[epoch_batches[step % steps_per_epoch]]
        model.train()
        lr = cosine_lr(step, args.steps, args.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.no_grad():
            mel, frames = collate([augment.item(train_cache.clip(i)) for i in idx], floor)
            mel = augment.batch(mel, frames)
        targets = [encode_text(train_cache.sources[i]) for i in idx]
        log_probs, steps = model.forward_mel(mel, frames)
        loss = F.ctc_loss(log_probs.transpose(0, 1), torch.tensor(sum(targets, [])), steps,
                          torch.tensor([len(t) for t in targets]), blank=0, reduction="mean", zero_infinity=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}", epoch=epoch + 1)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            hyps = transcribe_cache(model, valid_cache)
            wer = meta["last"] = word_error_rate(valid_cache.sources, hyps)
            meta["wall"] += time.time() - tick
            tick = time.time()
            meta["step"] = step + 1
            csv.write(step=step + 1, epoch=epoch + 1, lr=round(lr, 6), train_loss=round(running, 4),
                      valid_wer_greedy=round(wer, 4), wall_s=round(meta["wall"]))
            log.warning("step %d: loss %.3f, validation WER (greedy) %.4f, %.1f min", step + 1, running, wer,
                        meta["wall"] / 60)
            if select and wer < meta["best"]:
                meta["best"] = wer
                model.save_pretrained(work / "best")
            save_state(work, {"model": model}, optimizer, meta)
    bar.close()
    best = work / "best" / "config.json"
    final = load_folder(CTCTranscriber, best.parent) if select and best.is_file() else model
    final.save_pretrained(out)
    summary = {"parameters": n_params, "train_splits": splits, "persons": args.persons, "steps": meta["step"],
               "epochs": round(meta["step"] / steps_per_epoch, 2), "shipped": "best" if select else "last",
               "best_valid_wer_greedy": meta["best"] if select else None, "last_valid_wer_greedy": meta.get("last"),
               "train_minutes": round(meta["wall"] / 60, 1), "threads": threads}
    (work / "train_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=2) if args.json else f"saved {out} ({summary})")
    return 0


def scores(references: list[str], hypotheses: list[str]) -> dict:
    """WER, whole-utterance accuracy, and exact match on the utterances that are digit strings."""
    digits = [i for i, r in enumerate(references) if all(w in DIGITS for w in r.split())]
    return {"wer": round(word_error_rate(references, hypotheses), 4),
            "sentence_accuracy": round(float(np.mean([r == h for r, h in zip(references, hypotheses)])), 4),
            "digit_string_accuracy": round(float(np.mean([references[i] == hypotheses[i] for i in digits])), 4)
            if digits else None, "digit_strings": len(digits)}


def real_time_factor(model: CTCTranscriber, audio: np.ndarray, beam: int, threads: int = 2, repeats: int = 10) -> dict:
    """Median wall time over the audio's duration, front end and decoding included."""
    from ..inference import transcribe

    seconds = len(audio) / SAMPLE_RATE
    return {name: float(np.median(wall_times(lambda: transcribe(audio, orig_sr=SAMPLE_RATE, model=model, beam=b),
                                             repeats, warmup=2, threads=threads))) / seconds
            for name, b in (("greedy", 0), ("beam", beam))}


def real_digits(model: CTCTranscriber, beam: int, share: float, peer_rule: str | None = None) -> dict:
    """The reserved real digit recordings, one by one and joined into digit strings, transcribed (and by
    pocketsphinx under ``peer_rule`` when given): reported, never used to train or tune."""
    from ..inference import transcribe

    digits = reserved_digits()
    if not digits:
        return {"what": REAL_DIGITS_WHAT, "found": False}
    out = {"what": REAL_DIGITS_WHAT, "found": True}
    for name, items in (("single_digits", digits), ("spliced_strings", spliced_digit_strings(digits))):
        references = [text for text, _ in items]
        heard = [transcribe(audio, orig_sr=SAMPLE_RATE, model=model, beam=beam, digit_strings=share).text
                 for _, audio in items]
        out[name] = {"utterances": len(items), **scores(references, heard),
                     "errors": [{"reference": r, "hypothesis": h} for r, h in zip(references, heard) if r != h]}
        if peer_rule:
            peer, _ = pocketsphinx_decode((audio for _, audio in items), peer_rule)
            out[name]["pocketsphinx"] = scores(references, peer)
    return out


def narrow_band(model: CTCTranscriber, test, pick: list[int], lexicon: Lexicon, beam: int, limit: int = 1000) -> dict:
    """Test utterances heard through a telephone channel (300-3,400 Hz, an 8 kHz round trip), as a
    phone call or an 8 kHz recording reaches the model: a synthetic check of band-limited input."""
    from ..data.augment import telephone

    chosen = [pick[k] for k in spread(len(pick), limit)]
    cache = MelCache.build(((test[i][1], telephone(test[i][0].numpy())) for i in chosen), MEL_SPECS["ctc"])
    return {"utterances": len(chosen), **scores(list(cache.sources), transcribe_cache(model, cache, lexicon, beam=beam))}


def evaluate(args: argparse.Namespace) -> int:
    """WER, sentence and digit-string accuracy, per person, real-time factor, and peers, on one split (test)."""
    from ..data.datasets import ConnectedWords
    from ..hub import load_model_or_folder

    set_threads(None)
    found = find_sources(args.data)
    model = load_model_or_folder(args.model, CTCTranscriber)
    test = ConnectedWords(found["connected"], args.split)
    limit = args.limit if args.limit and args.limit < len(test) else None
    pick = spread(len(test), limit)  # the utterances `cached` reads, in the same order
    out = Path(args.report)
    cache = cached([str(found["connected"])], args.split, out / f"cache-{args.split}-{len(pick)}", limit)
    references = list(cache.sources)
    share = DIGIT_STRINGS if args.digit_strings is None else args.digit_strings
    lexicon = Lexicon(model.vocabulary, digit_strings=share)
    started = time.perf_counter()
    hypotheses = transcribe_cache(model, cache, lexicon, beam=args.beam)
    decode_s = time.perf_counter() - started
    greedy_hyps = transcribe_cache(model, cache)
    plain = transcribe_cache(model, cache, Lexicon(model.vocabulary), beam=args.beam) if share else None
    persons = person_labels(found["connected"])
    speakers = [persons.get(test.rows[i]["speaker"], "?") for i in pick]
    by_person = {}
    for p in sorted(set(speakers)):
        idx = [k for k, s in enumerate(speakers) if s == p]
        by_person[p] = scores([references[k] for k in idx], [hypotheses[k] for k in idx])
    long_audio = np.concatenate([test[i][0].numpy() for i in pick[:12]])[: 10 * SAMPLE_RATE]
    # The peer's sentence model: any words, or (with the prior) weighted against pure digit strings.
    rule = f"( {' | '.join(model.vocabulary)} )+"
    digits = [w for w in DIGITS if w in model.vocabulary]
    if share and digits:
        rule = f"/{share}/ ( {' | '.join(digits)} )+ | /{1 - share:.4g}/ {rule}"
    peers = "pocketsphinx" in wanted_peers(args.peers)
    results = {
        "model": args.model, "split": args.split, "test_utterances": len(references),
        "test_words": sum(len(r.split()) for r in references),
        "test_persons": len(by_person), **scores(references, hypotheses),
        "greedy": scores(references, greedy_hyps), "beam": args.beam, "digit_strings_prior": share,
        **({"beam_without_prior": scores(references, plain)} if plain is not None else {}),
        "per_person": by_person,
        "parameters": sum(p.numel() for p in model.parameters()),
        "real_time_factor_10s_2_threads": {k: round(v, 5) for k, v in
                                           real_time_factor(model, long_audio, args.beam).items()},
        "batched_decode_s": round(decode_s, 1),
        "errors": [{"reference": r, "hypothesis": h} for r, h in zip(references, hypotheses) if r != h][:40],
        "telephone_band": narrow_band(model, test, pick, lexicon, args.beam),
        "real_digits": real_digits(model, args.beam, share, rule if peers else None),
    }
    if peers:
        heard, rtf = pocketsphinx_decode((test[i][0].numpy() for i in pick), rule)
        results["peers"] = {"pocketsphinx": {**scores(references, heard), "real_time_factor": round(rtf, 5),
                                             "setup": "pocketsphinx 5 default en-us model, JSGF grammar "
                                                      f"{rule.replace(' | '.join(model.vocabulary), 'word | ...')}"}}
    lines = [f"WER {results['wer']:.4f}, sentence accuracy {results['sentence_accuracy']:.4f}, digit strings "
             f"{results['digit_string_accuracy']} on {len(references)} utterances ({len(by_person)} persons)"]
    lines += [f"{name}: WER {peer['wer']:.4f}, sentence accuracy {peer['sentence_accuracy']:.4f}, "
              f"real-time factor {peer['real_time_factor']:.4f}" for name, peer in results.get("peers", {}).items()]
    lines.append(f"telephone band: WER {results['telephone_band']['wer']:.4f} on {results['telephone_band']['utterances']}")
    if results["real_digits"]["found"]:
        real = results["real_digits"]
        lines.append(f"real recorded digits: sentence accuracy {real['single_digits']['sentence_accuracy']:.2f} alone, "
                     f"{real['spliced_strings']['sentence_accuracy']:.2f} on {real['spliced_strings']['utterances']} "
                     "spliced strings")
    report(results, out, args.json, lines)
    return 0
