"""The `train` and `evaluate` subcommands; each target's module loads only when it runs."""

from __future__ import annotations

import argparse
import importlib

from ..cli import share_type

# target -> (module with train(args) and evaluate(args), checkpoint name)
TARGETS = {
    "kws": ("neural_audio.train.kws", "kws-cnn"),
    "tagger": ("neural_audio.train.tagger", "tagger-cnn"),
    "vae": ("neural_audio.train.vae", "vae-mel"),
    "ctc": ("neural_audio.train.ctc", "ctc-rnn"),
    "gan": ("neural_audio.train.gan", "gan-digits"),
}
# Targets that learn from several dataset folders, with the folders used when none are given.
DEFAULT_DATA = {"vae": ["data/nsynth", "data/connected_words"],
                "ctc": ["data/connected_words", "data/speech_commands"]}


def _call(target: str, verb: str):
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(TARGETS[target][0]), verb)(args)

    return run


def _train_splits_option(p: argparse.ArgumentParser, last: str) -> None:
    p.add_argument("--train-splits", nargs="+", default=["train"], choices=["train", "valid"],
                   help=f"splits to train on; with valid (a final run) {last} is shipped, not the best")


def _persons_option(p: argparse.ArgumentParser, whose: str = "the training persons") -> None:
    p.add_argument("--persons", type=int, default=None,
                   help=f"train on this many of {whose}, drawn with --seed (learning curves; default: all)")


def _split_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="test", choices=["test", "valid", "train"],
                   help="persons to score: the held-out test ones, the validation ones recipes are chosen on, "
                        "or the training ones (how well heard voices are fit: use a build made with another "
                        "--seed, whose utterances were not trained on)")


def _kws_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/kws", help="resumable state, logs and the best model so far")
    p.add_argument("--out", default="checkpoints/kws-cnn", help="where the final model is saved")
    p.add_argument("--epochs", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--channels", type=int, nargs="+", default=[64, 96, 128, 144], help="stem and block widths")
    p.add_argument("--kernel", type=int, default=5, help="temporal kernel size")
    p.add_argument("--n-mels", type=int, default=None, help="log-mel bands of the front end (default: the kws front end's)")
    p.add_argument("--workers", type=int, default=2, help="data-loading processes (augmentation)")
    p.add_argument("--p-reverb", type=float, default=0.2, help="share of clips given simulated room reverb")
    p.add_argument("--eq-db", type=float, default=0.0,
                   help="largest gain of a random smooth EQ over the mel bands, dB (0: none)")
    p.add_argument("--stretch", type=float, default=0.0,
                   help="speaking-rate change of up to 1 +- this factor on the log-mel (0: none)")
    _train_splits_option(p, "the last epoch")
    p.add_argument("--ema", type=float, default=0.0,
                   help="decay of a weight average that is validated and shipped instead (0: none)")
    _persons_option(p)


def _kws_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="kws-cnn", help="checkpoint name or folder")
    p.add_argument("--report", default="runs/kws-eval", help="folder for the confusion matrix PNG")
    p.add_argument("--peers", nargs="*", default=["pocketsphinx"], help="peer recognisers to run side by side")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many test clips")
    _split_option(p)


def _tagger_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/tagger", help="resumable state, logs")
    p.add_argument("--out", default="checkpoints/tagger-cnn", help="where the final model is saved")
    p.add_argument("--cache", default="runs/tagger-features", help="log-mel of every clip, computed once")
    p.add_argument("--epochs", type=int, default=12,
                   help="passes over the train clips (12 x 862 steps on the default build)")
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
    p.add_argument("--ema", type=float, default=0.999,
                   help="decay of the weight average that is shipped (0: ship the last weights)")


def _tagger_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="tagger-cnn", help="checkpoint name or folder")
    p.add_argument("--cache", default="runs/tagger-features", help="log-mel of every clip, computed once")
    p.add_argument("--report", default="runs/tagger-eval", help="folder for results.json")
    p.add_argument("--threshold", type=float, default=0.5, help="frame probability that starts an event")
    p.add_argument("--peers", nargs="*", default=["mfcc"], help="peer taggers to run side by side")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many test clips")


def _vae_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/vae", help="log-mel cache, resumable state, logs and the best model")
    p.add_argument("--out", default="checkpoints/vae-mel", help="where the final model is saved")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=80, help="mel frames per training example (80 = 1.3 s)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300, help="learning-rate warm-up steps")
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--channels", type=int, default=192)
    p.add_argument("--stride", type=int, default=2, help="mel frames per latent step")
    p.add_argument("--beta", type=float, default=0.05, help="KL weight, in nats per log-mel value")
    p.add_argument("--kl-warmup", type=float, default=0.25, help="share of the steps over which beta ramps up")
    p.add_argument("--free-bits", type=float, default=0.1, help="KL floor per latent dimension and step, nats")
    p.add_argument("--gain", type=float, default=2.0, help="random level change range, nats of log-mel")
    p.add_argument("--share-instruments", type=float, default=0.45)
    p.add_argument("--share-drums", type=float, default=0.15)
    p.add_argument("--share-speech", type=float, default=0.4)
    p.add_argument("--drums", type=int, default=1200, help="drum patterns to render for training")
    p.add_argument("--limit", type=int, default=None, help="use at most this many clips per dataset")
    p.add_argument("--eval-every", type=int, default=250)


def _vae_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vae-mel", help="checkpoint name or folder")
    p.add_argument("--clips", type=int, default=200, help="held-out clips per source")
    p.add_argument("--pairs", type=int, default=20, help="clip pairs for the interpolation measure")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the speed measure")


def _ctc_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/ctc", help="log-mel cache, resumable state, logs and the best model")
    p.add_argument("--out", default="checkpoints/ctc-rnn", help="where the final model is saved")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--warmup", type=int, default=400, help="learning-rate warm-up steps")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--channels", type=int, default=256, help="convolution width")
    p.add_argument("--hidden", type=int, default=256, help="GRU units per direction")
    p.add_argument("--layers", type=int, default=2, help="bidirectional GRU layers")
    p.add_argument("--blocks", type=int, default=2, help="residual convolution blocks after subsampling")
    p.add_argument("--dropout", type=float, default=0.15)
    p.add_argument("--band-limit", type=float, default=0.15,
                   help="share of utterances heard through a telephone channel or a 4-7.5 kHz cut-off")
    p.add_argument("--valid", type=int, default=600, help="validation utterances decoded at each check")
    p.add_argument("--eval-every", type=int, default=500)
    _train_splits_option(p, "the last step")
    _persons_option(p, "the connected-words build's training persons, with their single words")


def _gan_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/gan", help="log-mel cache, resumable state, logs and sample grids")
    p.add_argument("--out", default="checkpoints/gan-digits", help="where the EMA generator is saved")
    p.add_argument("--steps", type=int, default=6500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr-g", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--z-dim", type=int, default=128)
    p.add_argument("--channels", type=int, nargs="+", default=[192, 192, 128, 96], help="generator widths")
    p.add_argument("--critic-channels", type=int, nargs="+", default=[96, 192, 192, 256], help="critic widths")
    p.add_argument("--aux", type=float, default=0.5, help="weight of the critic's auxiliary digit classification loss")
    p.add_argument("--aux-g", type=float, default=0.1, help="weight of that classifier's loss on generated clips")
    p.add_argument("--mode-seeking", type=float, default=1.0, help="weight of the mode-seeking diversity term")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the generator weight average")
    p.add_argument("--judge", default="kws-cnn", help="keyword CNN used to watch progress (checkpoint or folder)")
    p.add_argument("--save-every", type=int, default=250, help="steps between resumable states")
    p.add_argument("--sample-every", type=int, default=500, help="steps between sample grids and judge checks")


def _ctc_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ctc-rnn", help="checkpoint name or folder")
    p.add_argument("--report", default="runs/ctc-eval", help="folder for results.json")
    p.add_argument("--beam", type=int, default=16, help="beam width of the lexicon-constrained search")
    p.add_argument("--digit-strings", type=share_type, default=None,
                   help="the beam's prior share of pure digit strings (default 0.6, as in the connected-words "
                        "build; 0: none); the peer gets the same grammar")
    p.add_argument("--peers", nargs="*", default=["pocketsphinx"], help="peer recognisers to run side by side")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many test utterances")
    _split_option(p)


def _gan_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gan-digits", help="checkpoint name or folder")
    p.add_argument("--judge", default="kws-cnn", help="keyword CNN that judges (checkpoint name or folder)")
    p.add_argument("--samples", type=int, default=1000, help="generated clips (spread evenly over the digits)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the speed measure")
    p.add_argument("--seed", type=int, default=0)


OPTIONS = {("kws", "train"): _kws_train_options, ("kws", "evaluate"): _kws_evaluate_options,
           ("tagger", "train"): _tagger_train_options, ("tagger", "evaluate"): _tagger_evaluate_options,
           ("vae", "train"): _vae_train_options, ("vae", "evaluate"): _vae_evaluate_options,
           ("ctc", "train"): _ctc_train_options, ("ctc", "evaluate"): _ctc_evaluate_options,
           ("gan", "train"): _gan_train_options, ("gan", "evaluate"): _gan_evaluate_options}


def configure(subparsers: argparse._SubParsersAction, verb: str) -> None:
    for target in TARGETS:
        p = subparsers.add_parser(target, help=f"{verb} the {TARGETS[target][1]} model")
        if target in DEFAULT_DATA:
            p.add_argument("--data", nargs="+", default=DEFAULT_DATA[target],
                           help=f"dataset folders (default: {' '.join(DEFAULT_DATA[target])})")
        else:
            p.add_argument("--data", required=True, help="dataset folder (see `python -m neural_audio data`)")
        p.add_argument("--json", action="store_true", help="print the results as JSON")
        OPTIONS[(target, verb)](p)
        if verb == "train":
            p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
            p.add_argument("--seed", type=int, default=0)
        p.set_defaults(func=_call(target, verb))
