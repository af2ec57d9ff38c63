"""The `train` and `evaluate` subcommands; each target's module loads only when it runs."""

from __future__ import annotations

import argparse
import importlib

# target -> (module with train(args) and evaluate(args), checkpoint name)
TARGETS = {
    "kws": ("neural_audio.train.kws", "kws-cnn"),
    "tagger": ("neural_audio.train.tagger", "tagger-cnn"),
}
PLANNED = {"ctc": "ctc-rnn", "gan": "gan-digits", "vae": "vae-mel"}


def _call(target: str, verb: str):
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(TARGETS[target][0]), verb)(args)

    return run


def _planned(name: str):
    def run(args: argparse.Namespace) -> int:
        from ..hub import model_class

        model_class(name)  # raises ModelNotAvailable: not trained yet
        return 2

    return run


def _kws_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/kws", help="resumable state, logs and the best model so far")
    p.add_argument("--out", default="checkpoints/kws-cnn", help="where the final model is saved")
    p.add_argument("--epochs", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--channels", type=int, nargs="+", default=[64, 96, 128, 144], help="stem and block widths")
    p.add_argument("--kernel", type=int, default=5, help="temporal kernel size")
    p.add_argument("--workers", type=int, default=2, help="data-loading processes (augmentation)")
    p.add_argument("--p-reverb", type=float, default=0.2, help="share of clips given simulated room reverb")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)


def _kws_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="kws-cnn", help="checkpoint name or folder")
    p.add_argument("--report", default="runs/kws-eval", help="folder for the confusion matrix PNG")
    p.add_argument("--peers", nargs="*", default=["pocketsphinx"], help="peer recognisers to run side by side")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many test clips")


def _tagger_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/tagger", help="resumable state, logs")
    p.add_argument("--out", default="checkpoints/tagger-cnn", help="where the final model is saved")
    p.add_argument("--cache", default="runs/tagger-features", help="log-mel of every clip, computed once")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--stem", type=int, nargs="+", default=[16, 32, 64], help="2-D stage widths")
    p.add_argument("--channels", type=int, default=256, help="temporal block width")
    p.add_argument("--blocks", type=int, default=3, help="residual temporal blocks")
    p.add_argument("--kernel", type=int, default=5, help="temporal kernel size")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--crop-frames", type=int, default=200, help="random window of each clip per step (4 s)")
    p.add_argument("--p-mix", type=float, default=0.5, help="share of clips mixed with another clip")
    p.add_argument("--eq-db", type=float, default=6.0, help="largest gain of the random EQ over the mel bands")
    p.add_argument("--warp", type=float, default=0.1, help="frequency warp of 1 +- this factor")
    p.add_argument("--frame-weight", type=float, default=1.0, help="weight of the frame-level (event) loss")
    p.add_argument("--valid", type=int, default=400, help="train clips set aside to watch for over-fitting")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)


def _tagger_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="tagger-cnn", help="checkpoint name or folder")
    p.add_argument("--cache", default="runs/tagger-features", help="log-mel of every clip, computed once")
    p.add_argument("--report", default="runs/tagger-eval", help="folder for results.json")
    p.add_argument("--threshold", type=float, default=0.5, help="frame probability that starts an event")
    p.add_argument("--peers", nargs="*", default=["mfcc"], help="peer taggers to run side by side")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many test clips")


OPTIONS = {("kws", "train"): _kws_train_options, ("kws", "evaluate"): _kws_evaluate_options,
           ("tagger", "train"): _tagger_train_options, ("tagger", "evaluate"): _tagger_evaluate_options}


def configure(subparsers: argparse._SubParsersAction, verb: str) -> None:
    for target in TARGETS:
        p = subparsers.add_parser(target, help=f"{verb} the {TARGETS[target][1]} model")
        p.add_argument("--data", required=True, help="dataset folder (see `python -m neural_audio data`)")
        p.add_argument("--json", action="store_true", help="print the results as JSON")
        OPTIONS[(target, verb)](p)
        p.set_defaults(func=_call(target, verb))
    for target, name in PLANNED.items():
        p = subparsers.add_parser(target, help=f"{verb} the {name} model (not built yet)")
        p.add_argument("--data")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_planned(name))
