"""Checkpoint loading: ``checkpoints/<name>/`` first, else one download from the Hub.

A checkpoint is a folder holding ``model.safetensors``, ``config.json`` (the model's
constructor arguments, written by ``PyTorchModelHubMixin``) and a ``README.md`` model card.
Weights are only ever read with safetensors; nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent
CHECKPOINTS_DIR = Path(os.environ.get("NEURAL_AUDIO_CHECKPOINTS", PACKAGE_ROOT.parent / "checkpoints"))
# All models live as sub-folders of one Hub repo, pinned to a revision so a release never
# silently picks up new weights.
HUB_REPO = os.environ.get("NEURAL_AUDIO_HUB_REPO", "neural-audio/checkpoints")
HUB_REVISION = os.environ.get("NEURAL_AUDIO_HUB_REVISION", "main")
CHECKPOINT_FILES = ("config.json", "model.safetensors", "README.md")

# Every model the project plans, by checkpoint folder name.
MODEL_TITLES: dict[str, str] = {
    "kws-cnn": "keyword recognizer (CNN)",
    "ctc-rnn": "connected-speech transcriber (RNN + CTC)",
    "tagger-cnn": "sound tagger (CNN)",
    "gan-digits": "spoken-digit generator (GAN)",
    "vae-mel": "reconstruction and interpolation model (VAE)",
}
# name -> "module:Class". A model is listed here once it is trained and shipped.
MODELS: dict[str, str] = {
    "kws-cnn": "neural_audio.models.kws:KeywordCNN",
    "ctc-rnn": "neural_audio.models.ctc:CTCTranscriber",
    "tagger-cnn": "neural_audio.models.tagger:SoundTagger",
    "vae-mel": "neural_audio.models.vae:MelVAE",
    "gan-digits": "neural_audio.models.gan:DigitGAN",
}


class ModelNotAvailable(RuntimeError):
    """A model that is neither in checkpoints/ nor downloadable; the message says what to do."""


def availability(name: str) -> str | None:
    """None when the model can be loaded, else one sentence saying why it cannot."""
    try:
        model_class(name)
    except ModelNotAvailable as exc:
        return str(exc)
    return None


def checkpoint_dir(name: str) -> Path:
    return CHECKPOINTS_DIR / name


def is_available_locally(name: str) -> bool:
    folder = checkpoint_dir(name)
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


def model_class(name: str) -> type:
    if name in MODEL_TITLES and name not in MODELS:
        raise ModelNotAvailable(f"The {MODEL_TITLES[name]} ('{name}') has not been trained yet; it is not "
                                "shipped in this version of neural_audio.")
    if name not in MODELS:
        raise ModelNotAvailable(f"There is no model named '{name}' (planned: {', '.join(MODEL_TITLES)}).")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def download(name: str, repo_id: str | None = None, revision: str | None = None) -> Path:
    """Fetch ``<name>/{config.json, model.safetensors, README.md}`` from the Hub into checkpoints/."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    repo_id, revision = repo_id or HUB_REPO, revision or HUB_REVISION
    how = (f"put the folder checkpoints/{name}/ from a neural_audio release in place, "
           f"or connect to the Hub once (repo {repo_id}, revision {revision})")
    if constants.is_offline_mode():
        raise ModelNotAvailable(f"Model '{name}' is not in {checkpoint_dir(name)} and HF_HUB_OFFLINE is set: {how}.")
    endpoint = os.environ.get("HF_ENDPOINT")
    # One request without retries first: hf_hub_download backs off for ~25 s when the Hub is unreachable.
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, f"{name}/{CHECKPOINT_FILES[0]}", revision=revision,
                                        endpoint=endpoint), timeout=10)
    except HfHubHTTPError:
        pass  # the Hub answered; the download below says what is missing
    except Exception as exc:  # connection refused, DNS, TLS, timeout
        raise ModelNotAvailable(f"Model '{name}' is not in {checkpoint_dir(name)} and the Hub could not be "
                                f"reached ({type(exc).__name__}): {how}.") from exc
    log.warning("Downloading model '%s' from %s@%s (first run only) ...", name, repo_id, revision)
    for filename in CHECKPOINT_FILES:
        try:
            hf_hub_download(repo_id, f"{name}/{filename}", revision=revision, local_dir=CHECKPOINTS_DIR,
                            endpoint=endpoint)
        # LocalEntryNotFoundError (Hub unreachable) subclasses EntryNotFoundError, so it goes first.
        except LocalEntryNotFoundError as exc:
            raise ModelNotAvailable(f"Model '{name}' is not in {checkpoint_dir(name)} and the Hub could not be "
                                    f"reached: {how}.") from exc
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise ModelNotAvailable(f"Model '{name}' has no {filename} in Hub repo {repo_id}@{revision}.") from exc
        except (HfHubHTTPError, OSError) as exc:
            raise ModelNotAvailable(f"Model '{name}' could not be downloaded from {repo_id}@{revision} "
                                    f"({type(exc).__name__}: {exc}).") from exc
    return checkpoint_dir(name)


def load_model(name: str, cls: type | None = None):
    """Load a shipped model by name in eval mode, downloading it once if it is not on disk."""
    cls = cls or model_class(name)
    if not is_available_locally(name):
        download(name)
    return load_folder(cls, checkpoint_dir(name))


def load_model_or_folder(name_or_folder: str, cls: type):
    """A folder holding ``config.json`` (e.g. a training run's output), else a shipped model by name."""
    folder = Path(name_or_folder)
    if (folder / "config.json").is_file():
        return load_folder(cls, folder)
    return load_model(name_or_folder, cls)


def load_folder(cls: type, folder: Path):
    """``cls.from_pretrained(folder)`` in eval mode, without the mixin's line on stdout (it would
    corrupt the CLI's --json output)."""
    with contextlib.redirect_stdout(io.StringIO()):
        model = cls.from_pretrained(folder)
    return model.eval()


@lru_cache(maxsize=None)
def cached_model(name: str):
    """``load_model`` once per process: the app and the CLI share one instance per model."""
    return load_model(name)


def push(name: str, repo_id: str, revision: str | None = None) -> str:
    """Upload ``checkpoints/<name>/`` to ``repo_id`` under ``<name>/``; returns the commit URL."""
    from huggingface_hub import HfApi

    folder = checkpoint_dir(name)
    if not is_available_locally(name):
        raise ModelNotAvailable(f"Nothing to push: {folder} has no model.safetensors and config.json.")
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(folder_path=folder, path_in_repo=name, repo_id=repo_id, revision=revision,
                             allow_patterns=list(CHECKPOINT_FILES), commit_message=f"Upload {name}")
    return str(info)
