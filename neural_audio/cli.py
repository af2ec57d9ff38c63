"""``python -m neural_audio``: one command line over the same inference functions as the app."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from . import __version__

log = logging.getLogger("neural_audio")

def _emit(results: list[dict], as_json: bool, line: Callable[[dict], str]) -> int:
    """Print one result per input; failed inputs carry an "error" key. Exit code 1 if any failed."""
    if as_json:
        print(json.dumps(results, indent=2))
    for r in results:
        if "error" in r:
            print(f"{r['file']}: error: {r['error']}", file=sys.stderr)
        elif not as_json:
            print(line(r))
    return 1 if any("error" in r for r in results) else 0


def share_type(text: str) -> float:
    """An argparse type: a share from 0 up to, not including, 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a share from 0 up to (not including) 1, got {text}")
    return value


def _per_file(files: list[str], fn: Callable[[str], dict]) -> list[dict]:
    from .audio import AudioError

    results = []
    for path in files:
        try:
            results.append({"file": path, **fn(path)})
        except AudioError as exc:
            results.append({"file": path, "error": str(exc)})
    return results


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inference import describe

    results = _per_file(args.files, lambda p: describe(p).to_dict())
    return _emit(results, args.json, lambda r: (
        f"{r['file']}: {r['duration']:.2f} s, peak {r['peak_dbfs']:.1f} dBFS, rms {r['rms_dbfs']:.1f} dBFS"
        + (" (silent)" if r["silent"] else "")))


def cmd_recognize(args: argparse.Namespace) -> int:
    from .inference import recognize

    def line(r: dict) -> str:
        best = ", ".join(f"{t['label']} {t['score']:.2f}" for t in r["top"][:3])
        found = " ".join(f"{s['label']}@{s['start']:.2f}-{s['end']:.2f}s" for s in r.get("segments", []))
        return f"{r['file']}: {best}" + (f" | keywords: {found or 'none'}" if "segments" in r else "")

    return _emit(_per_file(args.files, lambda p: recognize(p, threshold=args.threshold).to_dict()), args.json, line)


def cmd_tag(args: argparse.Namespace) -> int:
    from .inference import tag

    def line(r: dict) -> str:
        best = ", ".join(f"{label} {score:.2f}" for label, score in list(r["tags"].items())[:3])
        found = " ".join(f"{e['label']}@{e['start']:.2f}-{e['end']:.2f}s" for e in r["events"])
        return f"{r['file']}: {best} | events: {found or 'none'}"

    return _emit(_per_file(args.files, lambda p: tag(p, threshold=args.threshold).to_dict()), args.json, line)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .inference import transcribe

    def line(r: dict) -> str:
        times = " ".join(f"{w['word']}@{w['start']:.2f}-{w['end']:.2f}s" for w in r["words"])
        return f"{r['file']}: {r['text'] or '(no words heard)'}" + (f" | {times}" if times else "")

    def one(path: str) -> dict:
        return transcribe(path, beam=args.beam, digit_strings=args.digit_strings).to_dict()

    return _emit(_per_file(args.files, one), args.json, line)


def _wav_target(out: str, files: list[str], stem: str, suffix: str) -> Path:
    """``--out`` names the WAV itself for one input, else a folder of ``<stem>-<suffix>.wav`` files."""
    target = Path(out)
    if len(files) == 1 and target.suffix.lower() == ".wav":
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
    target.mkdir(parents=True, exist_ok=True)
    return target / f"{Path(stem).stem}-{suffix}.wav"


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .audio import save
    from .synthesis import reconstruct

    def one(path: str) -> dict:
        result = reconstruct(path)
        out = _wav_target(args.out, args.files, path, "reconstruction")
        save(out, result.audio)
        return {"out": str(out), "duration": round(result.duration, 3), "latent_steps": len(result.latents),
                "latent_dim": int(result.latents.shape[1])}

    return _emit(_per_file(args.files, one), args.json, lambda r: f"{r['file']} -> {r['out']}")


def cmd_interpolate(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import AudioError, save
    from .synthesis import encode, interpolate, morph

    if args.steps < 2:
        print("error: --steps must be at least 2 (the two ends)", file=sys.stderr)
        return 1
    try:
        a, b = encode(args.a), encode(args.b)
    except AudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, alpha in enumerate(np.linspace(0.0, 1.0, args.steps)):
        path = out / f"step-{i:02d}.wav"
        save(path, interpolate(a, b, float(alpha), args.mode).audio)
        results.append({"file": str(path), "alpha": round(float(alpha), 4)})
    if args.morph:
        path = out / "morph.wav"
        save(path, morph(a, b, args.mode).audio)
        results.append({"file": str(path), "alpha": "0->1"})
    return _emit(results, args.json, lambda r: f"{r['file']}: alpha {r['alpha']}")


def cmd_sample(args: argparse.Namespace) -> int:
    from .audio import save
    from .synthesis import sample

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in range(args.seed, args.seed + args.n):
        path = out / f"sample-seed{seed}.wav"
        try:
            save(path, sample(args.seconds, args.temperature, seed).audio)
        except ValueError as exc:  # seconds or temperature out of range
            print(f"error: {exc}", file=sys.stderr)
            return 1
        results.append({"file": str(path), "seed": seed, "seconds": args.seconds, "temperature": args.temperature})
    return _emit(results, args.json, lambda r: f"{r['file']}")


def cmd_generate(args: argparse.Namespace) -> int:
    from .audio import save
    from .generation import generate

    try:
        clips = generate(args.label, args.n, args.seed)
    except ValueError as exc:  # unknown digit, n or seed out of range
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for clip in clips:
        path = save(out / f"{clip.label}-seed{clip.seed}.wav", clip.audio)
        results.append({"file": str(path), "label": clip.label, "seed": clip.seed})
    return _emit(results, args.json, lambda r: f"{r['file']}: {r['label']} (seed {r['seed']})")


def cmd_hub_push(args: argparse.Namespace) -> int:
    from .hub import push

    print(push(args.name, args.repo, args.revision))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m neural_audio", description=__doc__.split(":")[1].strip())
    parser.add_argument("--version", action="version", version=f"neural_audio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def files_command(name: str, help: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3; more with ffmpeg)")
        p.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
        p.set_defaults(func=func)
        return p

    files_command("inspect", "length and level of audio files, as the models see them", cmd_inspect)
    p = files_command("recognize", "spoken keywords (CNN), with a timeline for clips over 1 s", cmd_recognize)
    p.add_argument("--threshold", type=float, default=0.5, help="minimum score of a keyword segment")
    p = files_command("transcribe", "transcript with word times (RNN + CTC)", cmd_transcribe)
    p.add_argument("--beam", type=int, default=16, help="beam width of the vocabulary-constrained search; 0: greedy")
    p.add_argument("--digit-strings", type=share_type, default=None,
                   help="the search's prior share of utterances that are pure digit strings "
                        "(default 0.6, as in training; 0: none)")
    p = files_command("tag", "sound tags and events over time (CNN tagger)", cmd_tag)
    p.add_argument("--threshold", type=float, default=0.5, help="frame probability that starts an event")
    p = files_command("reconstruct", "VAE reconstruction: what the latent trajectory keeps of a file", cmd_reconstruct)
    p.add_argument("--out", default="reconstructions", help="output WAV (one input) or folder")

    p = sub.add_parser("generate", help="one-second spoken digits from the GAN")
    p.add_argument("--label", default="random", help="zero..nine, or random (drawn from each clip's seed)")
    p.add_argument("--n", type=int, default=1, help="number of clips (seeds seed .. seed + n - 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="generated", help="output folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("interpolate", help="VAE latent interpolation between two files")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--steps", type=int, default=5, help="number of sounds from A to B, both ends included")
    p.add_argument("--mode", choices=["linear", "spherical"], default="linear")
    p.add_argument("--morph", action="store_true", help="also write morph.wav, which turns from A into B over time")
    p.add_argument("--out", default="interpolation", help="output folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("sample", help="VAE sounds decoded from random latents (the prior)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--temperature", type=float, default=1.0, help="prior standard deviation")
    p.add_argument("--n", type=int, default=1, help="number of clips (seeds seed .. seed + n - 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples", help="output folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sample)

    from .train.cli import configure as configure_training

    for verb, what in (("train", "train a model on a dataset folder"), ("evaluate", "measure a model on its test split")):
        p = sub.add_parser(verb, help=what)
        configure_training(p.add_subparsers(dest="target", metavar="MODEL", required=True), verb)

    from .data.cli import configure

    p = sub.add_parser("data", help="build a training dataset offline from TTS voices and soundfonts")
    configure(p.add_subparsers(dest="dataset", metavar="DATASET", required=True))

    p = sub.add_parser("hub", help="share checkpoints on the Hugging Face Hub")
    hub_sub = p.add_subparsers(dest="hub_command", required=True)
    push = hub_sub.add_parser("push", help="upload checkpoints/NAME/ to a Hub repo under NAME/")
    push.add_argument("name")
    push.add_argument("--repo", required=True, help="Hub repo id, e.g. user/neural-audio")
    push.add_argument("--revision", default=None)
    push.set_defaults(func=cmd_hub_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from .hub import ModelNotAvailable

    try:
        return args.func(args)
    except ModelNotAvailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
