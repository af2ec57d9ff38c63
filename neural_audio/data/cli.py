"""``python -m neural_audio data ...``: one sub-command per builder.

Only argparse is imported here; each command imports its builder when it runs, so that
``python -m neural_audio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)


def _run(build: Callable[[argparse.Namespace], object]) -> Callable[[argparse.Namespace], int]:
    """Wrap a builder call: time it, print its report (or JSON), exit 0."""

    def func(args: argparse.Namespace) -> int:
        started = time.perf_counter()
        report = build(args)
        elapsed = time.perf_counter() - started
        if args.json:
            print(json.dumps({**report.to_dict(), "out": report.out, "seconds": round(elapsed, 1)}, indent=1))
        else:
            print(report.summary())
            print(f"built in {elapsed / 60:.1f} min with {args.workers} workers")
        return 0

    return func


def _speech_commands(args: argparse.Namespace):
    from .speech import WORDS, build_speech_commands

    return build_speech_commands(args.out, args.seed, args.speakers_per_person, args.words or WORDS,
                                 args.engines, args.noise_seconds, args.workers)


def _connected_words(args: argparse.Namespace):
    from .speech import build_connected_words

    return build_connected_words(args.out, args.seed, args.speakers_per_person, args.utterances, args.engines,
                                 args.workers)


def _nsynth(args: argparse.Namespace):
    from .nsynth import build_nsynth

    return build_nsynth(args.out, args.seed, args.pitch_step, args.velocities, args.programs, args.soundfonts,
                        args.workers)


def _tagging(args: argparse.Namespace):
    from .tagging import build_tagging

    return build_tagging(args.out, args.seed, args.clips, args.test_share, args.engines, args.soundfonts,
                         args.workers, args.extra_train)


SOUNDFONTS_HELP = ("only these soundfonts, e.g. 'FluidR3_GM,sf_GMbank,TimGM6mb' (default: all six; "
                   "sf_GMbank is the validation font, TimGM6mb the test font)")


def _words(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add one sub-parser per builder to the ``data`` command."""

    def builder(name: str, help: str, build: Callable[[argparse.Namespace], object]) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help, description=help)
        p.add_argument("--out", required=True, help="output folder (created)")
        p.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
        p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
        p.add_argument("--json", action="store_true", help="print the build report as JSON")
        p.set_defaults(func=_run(build))
        return p

    def with_voices(p: argparse.ArgumentParser, per_person: int) -> None:
        p.add_argument("--speakers-per-person", type=int, default=per_person,
                       help=f"speakers (voice settings) per person (default {per_person})")
        p.add_argument("--engines", type=_words, default=None,
                       help="only these TTS engines, e.g. 'espeak,mbrola' (default: all installed but the "
                            "opt-in kokoro-mix)")

    p = builder("speech-commands", "Speech Commands v2 layout: 35 words, 1-s clips", _speech_commands)
    with_voices(p, 30)
    p.add_argument("--words", type=_words, default=None, help="only these words (default: all 35)")
    p.add_argument("--noise-seconds", type=float, default=60.0, help="length of each _background_noise_ file")

    p = builder("connected-words", "utterances of 1-7 words, many digit strings, with manifests", _connected_words)
    with_voices(p, 26)
    p.add_argument("--utterances", type=int, default=20, help="utterances per speaker (default 20)")

    p = builder("nsynth", "NSynth layout: 4-s notes from six GM soundfonts", _nsynth)
    p.add_argument("--pitch-step", type=int, default=3, help="semitones between rendered pitches (default 3)")
    p.add_argument("--velocities", type=int, default=3, help="velocities per pitch, of NSynth's 5 (default 3)")
    p.add_argument("--programs", type=lambda s: [int(x) for x in _words(s)], default=None,
                   help="only these GM programs, e.g. '0,24,40' (default: all with an NSynth family)")

    p.add_argument("--soundfonts", type=_words, default=None, help=SOUNDFONTS_HELP)

    p = builder("tagging", "FSD50K-like multi-label 5-s mixtures with event times", _tagging)
    p.add_argument("--clips", type=int, default=10000, help="number of clips (default 10000)")
    p.add_argument("--test-share", type=float, default=0.2, help="share of clips in test (default 0.2)")
    p.add_argument("--extra-train", type=int, default=20000,
                   help="train clips added after those (default 20000), leaving the test split as it is")
    p.add_argument("--engines", type=_words, default=None, help="only these TTS engines for speech")
    p.add_argument("--soundfonts", type=_words, default=None, help=SOUNDFONTS_HELP)
