"""neural_audio web demo: four tabs over the package's inference functions.

Run `python app.py` (127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
Models load on first use, once per process.
"""

from __future__ import annotations

import os
import threading

# One compute thread per request keeps a shared CPU responsive; set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from neural_audio import hub  # noqa: E402
from neural_audio.audio import MAX_SECONDS, AudioError  # noqa: E402

MAX_UPLOAD = "50mb"

INTRO = """# neural_audio
Small neural networks that recognise and synthesise audio, trained by this project on data it builds
offline. Record or upload a clip (WAV, FLAC, OGG, MP3; WebM and M4A when ffmpeg is installed), up to
{limit:g} s.
"""


def model_notice(*names: str) -> str:
    """Markdown that says plainly which of a tab's models are not trained yet."""
    missing = [reason for reason in map(hub.availability, names) if reason]
    return "\n\n".join(f"> **Not available yet.** {reason}" for reason in missing)


def user_error(message: str) -> gr.Error:
    """An error for the person at the browser; expected, so the server log stays free of tracebacks."""
    return gr.Error(message, print_exception=False)


def spectrogram_view(path: str | None, family: str):
    """Input audio -> (log-mel picture, summary) or a gr.Error a person can act on."""
    from neural_audio.inference import spectrogram
    from neural_audio.plot import spectrogram_image

    if not path:
        raise user_error("No audio yet: record or upload a clip first.")
    try:
        summary, mel = spectrogram(path, family)
    except AudioError as exc:
        raise user_error(str(exc)) from None
    return spectrogram_image(mel), summary.to_dict()


def audio_input(label: str) -> gr.Audio:
    return gr.Audio(sources=["upload", "microphone"], type="filepath", label=label)


def analysis_tab(family: str, models: tuple[str, ...], what: str, api_name: str) -> None:
    gr.Markdown(what)
    notice = model_notice(*models)
    if notice:
        gr.Markdown(notice)
    with gr.Row():
        with gr.Column():
            audio = audio_input("Audio")
            button = gr.Button("Analyze", variant="primary")
        with gr.Column():
            image = gr.Image(label="Log-mel spectrogram (what the model sees)", type="numpy", interactive=False)
            summary = gr.JSON(label="Input")
    button.click(lambda p: spectrogram_view(p, family), audio, [image, summary], api_name=api_name)


def synthesis_tab(model: str, what: str) -> None:
    gr.Markdown(what)
    gr.Markdown(model_notice(model) or "")


with gr.Blocks(title="neural_audio") as demo:
    gr.Markdown(INTRO.format(limit=MAX_SECONDS))
    with gr.Tab("Recognize speech"):
        analysis_tab("kws", ("kws-cnn", "ctc-rnn"),
                     "Spoken keywords from a CNN over 1-s windows, and a transcript with word times from an RNN "
                     "trained with CTC.", api_name="speech_spectrogram")
    with gr.Tab("Tag sounds"):
        analysis_tab("tagger", ("tagger-cnn",),
                     "Sound tags with scores and a timeline of sound events from a CNN tagger.",
                     api_name="tagger_spectrogram")
    with gr.Tab("Generate (GAN)"):
        synthesis_tab("gan-digits", "Spoken digits zero to nine from a class-conditional GAN, with latent walks.")
    with gr.Tab("Reconstruct & interpolate (VAE)"):
        synthesis_tab("vae-mel", "Reconstructions, latent interpolations and morphs from a VAE over log-mel frames.")


def warm_up() -> None:
    """Import torch and build the front ends while the server starts, so the first click is fast."""
    import numpy as np

    from neural_audio.inference import log_mel

    for family in ("kws", "tagger"):
        log_mel(np.zeros(1600, np.float32), family)


if __name__ == "__main__":
    threading.Thread(target=warm_up, daemon=True).start()
    demo.queue(default_concurrency_limit=2).launch(max_file_size=MAX_UPLOAD)
