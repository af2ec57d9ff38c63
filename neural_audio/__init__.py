"""neural_audio: small neural networks that recognise and synthesise audio.

Importing the package is cheap (no torch, no gradio); submodules load what they need.
"""

__version__ = "0.1.0"

__all__ = ["AudioError", "load", "save", "SAMPLE_RATE", "load_model"]


def __getattr__(name: str):
    if name in {"AudioError", "load", "save", "SAMPLE_RATE"}:
        from . import audio

        return getattr(audio, name)
    if name == "load_model":
        from .hub import load_model

        return load_model
    raise AttributeError(f"module 'neural_audio' has no attribute {name!r}")
