"""neural_audio web demo: four tabs over the package's inference functions.

Run `python app.py` (127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
Models load on first use, once per process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

# One compute thread per request keeps a shared CPU responsive; set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from neural_audio import hub  # noqa: E402
from neural_audio.audio import MAX_SECONDS, AudioError  # noqa: E402

MAX_UPLOAD = "50mb"
EXAMPLES = Path(__file__).resolve().parent / "examples"

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


def load_input(path: str | None):
    """The uploaded or recorded file as model-rate audio, or a gr.Error a person can act on."""
    from neural_audio.audio import load

    if not path:
        raise user_error("No audio yet: record or upload a clip first.")
    try:
        return load(path)
    except AudioError as exc:
        raise user_error(str(exc)) from None


def run_model(path: str | None, infer, verb: str):
    """(audio, ``infer(audio, orig_sr=...)``) for a non-silent input, or a gr.Error a person can act on."""
    from neural_audio.audio import SAMPLE_RATE, is_silent

    audio = load_input(path)
    if is_silent(audio):
        raise user_error(f"The recording is silent: nothing to {verb}. Check the microphone and try again.")
    try:
        return audio, infer(audio, orig_sr=SAMPLE_RATE)
    except hub.ModelNotAvailable as exc:  # e.g. first run offline, before the checkpoint is downloaded
        raise user_error(str(exc)) from None


def recognize_view(path: str | None):
    """Keywords: top-5 of the best 1-s window, spectrogram with the keyword timeline, segment table."""
    from neural_audio.inference import log_mel, recognize
    from neural_audio.plot import timeline_image

    audio, result = run_model(path, recognize, "recognise")
    spans = [(s.start, s.end, s.label) for s in result.segments]
    rows = [[round(s.start, 2), round(s.end, 2), s.label, round(s.score, 3)] for s in result.segments]
    return dict(result.top), timeline_image(log_mel(audio, "kws"), result.duration, spans), rows


def transcribe_view(path: str | None):
    """Transcript: each word highlighted with its time span, and a table of word times and scores."""
    from neural_audio.inference import transcribe

    _, result = run_model(path, transcribe, "transcribe")
    if not result.words:
        return [("(no vocabulary words heard)", None)], []
    spans = []
    for i, w in enumerate(result.words):
        spans += [(" ", None)] if i else []
        spans.append((w.word, f"{w.start:.2f}-{w.end:.2f} s"))
    rows = [[w.word, round(w.start, 2), round(w.end, 2), round(w.score, 3)] for w in result.words]
    return spans, rows


def tag_view(path: str | None):
    """Sound tags: clip scores, a heat-map of frame probabilities over time, the events found."""
    from neural_audio.inference import tag
    from neural_audio.plot import activity_image

    _, result = run_model(path, tag, "tag")
    rows = [[e.label, round(e.start, 2), round(e.end, 2)] for e in result.events]
    return result.tags, activity_image(result.probabilities, result.labels, result.duration), rows


def audio_input(label: str) -> gr.Audio:
    return gr.Audio(sources=["upload", "microphone"], type="filepath", label=label)


def tab_header(what: str, *models: str) -> None:
    """What the tab does, then a plain notice for each of its models that is not trained yet."""
    gr.Markdown(what)
    notice = model_notice(*models)
    if notice:
        gr.Markdown(notice)


def labels_over_time(view, api_name: str, *, source: str, button: str, examples: str, label: str, image: str,
                     headers: list[str], table: str) -> tuple[gr.Audio, gr.Button]:
    """Audio in; top labels, a picture over time and a table of what was found."""
    with gr.Row():
        with gr.Column():
            audio = audio_input(source)
            run = gr.Button(button, variant="primary")
            if EXAMPLES.is_dir():
                gr.Examples(sorted(str(p) for p in EXAMPLES.glob(examples)), inputs=audio)
        with gr.Column():
            outputs = [gr.Label(num_top_classes=5, label=label),
                       gr.Image(label=image, type="numpy", interactive=False),
                       gr.Dataframe(headers=headers, label=table, interactive=False)]
    run.click(view, audio, outputs, api_name=api_name)
    return audio, run


def recognize_tab() -> None:
    tab_header("Two recognisers hear the same recording. **Keywords**: a CNN over 1-s windows (35 Speech "
               "Commands words, plus silence and unknown speech); clips longer than a second are scanned and "
               "each keyword found is marked on the spectrogram. **Transcript**: a recurrent network (CTC over "
               "letters) writes connected speech over the same 35 words, digit strings included, with each "
               "word's start and end; its search expects digit strings (TIDIGITS-style) more than other "
               "word sequences, so a close call such as three/tree goes to the digit in a string of digits.", "kws-cnn", "ctc-rnn")
    audio, run = labels_over_time(
        recognize_view, "recognize", source="Speech", button="Recognize", examples="[sw]*-*.wav",
        label="Keyword (best 1-s window)", image="Log-mel spectrogram and keywords over time",
        headers=["start (s)", "end (s)", "keyword", "score"], table="Keywords found")
    with gr.Row():
        transcript = gr.HighlightedText(label="Transcript (RNN + CTC), each word with its time span",
                                        show_legend=False, combine_adjacent=False)
        words = gr.Dataframe(headers=["word", "start (s)", "end (s)", "score"], label="Word times",
                             interactive=False)
    run.click(transcribe_view, audio, [transcript, words], api_name="transcribe")


def tag_tab() -> None:
    tab_header("Sound tags with scores, and a timeline of sound events, from a CNN tagger over 20 classes "
               "(speech, instruments, drums, sound effects, sirens, beeps, noise).", "tagger-cnn")
    labels_over_time(tag_view, "tag", source="Audio", button="Tag", examples="tagging-*.wav",
                     label="Tags (whole clip)", image="Probability of each class over time",
                     headers=["sound", "start (s)", "end (s)"], table="Sound events")


def whole_number(value: float | None, name: str) -> int:
    """A number box's value as an int, or a gr.Error that says what to enter."""
    if value is None or float(value) != int(value):
        raise user_error(f"Enter a whole number as the {name}.")
    return int(value)


def model_call(fn, *args):
    """Run an inference function, turning a missing model or a bad setting into a message."""
    try:
        return fn(*args)
    except hub.ModelNotAvailable as exc:
        raise user_error(str(exc)) from None
    except ValueError as exc:  # e.g. a slider value outside what the function accepts
        raise user_error(str(exc)) from None


def load_sound(path: str | None, name: str):
    """A VAE input: loaded like any clip, and not silent (the VAE would only return silence)."""
    from neural_audio.audio import is_silent

    if not path:
        raise user_error(f"No clip {name} yet: record or upload one first.")
    audio = load_input(path)
    if is_silent(audio):
        raise user_error(f"Clip {name} is silent: there is nothing to reconstruct.")
    return audio


def encode_input(path: str | None, name: str):
    from neural_audio.audio import SAMPLE_RATE
    from neural_audio.synthesis import encode

    return model_call(lambda: encode(load_sound(path, name), orig_sr=SAMPLE_RATE))


def as_output(result):
    """A Synthesis or GeneratedDigit as (audio player value, spectrogram picture)."""
    from neural_audio.audio import SAMPLE_RATE
    from neural_audio.plot import spectrogram_image

    return (SAMPLE_RATE, result.pcm16()), spectrogram_image(result.log_mel)


def vae_reconstruct_view(path_a: str | None, path_b: str | None):
    """A (and B when given) -> A's reconstruction, input and output spectrograms, latent map."""
    from neural_audio.plot import spectrogram_image, trajectory_image
    from neural_audio.synthesis import decode, pca_2d

    a = encode_input(path_a, "A")
    encodings, names = [a], ["A"]
    if path_b:
        encodings.append(encode_input(path_b, "B"))
        names.append("B")
    audio, picture = as_output(model_call(decode, a.latents, a.frames, a.samples))
    latent_map = trajectory_image(pca_2d(*(e.latents for e in encodings)), names)
    return audio, spectrogram_image(a.log_mel), picture, latent_map


def vae_interpolate_view(path_a: str | None, path_b: str | None, alpha: float, mode: str):
    from neural_audio.synthesis import interpolate

    a, b = encode_input(path_a, "A"), encode_input(path_b, "B")
    return as_output(model_call(interpolate, a, b, float(alpha), mode))


def vae_morph_view(path_a: str | None, path_b: str | None, mode: str):
    from neural_audio.synthesis import morph

    a, b = encode_input(path_a, "A"), encode_input(path_b, "B")
    return as_output(model_call(morph, a, b, mode))


def vae_sample_view(seconds: float, temperature: float, seed: float | None):
    from neural_audio.synthesis import sample

    return as_output(model_call(sample, float(seconds), float(temperature), whole_number(seed, "seed")))


def vae_tab() -> None:
    tab_header("A variational autoencoder squeezes each 32 ms of log-mel into a 32-number latent vector "
               "and decodes it back; the spectrogram becomes sound again by fast Griffin-Lim. What survives "
               "the round trip is what the latent keeps. With two clips you can walk between them in the "
               "latent space, morph one into the other over time, and see both latent trajectories on a "
               "2-D map (PCA).", "vae-mel")
    with gr.Row():
        clip_a, clip_b = audio_input("Clip A"), audio_input("Clip B (for interpolation and morph)")
    pairs = [("note-flute.wav", "note-piano.wav"), ("speech-seven.wav", "speech-marvin.wav"),
             ("drums.wav", "speech-stop.wav")]
    if all((EXAMPLES / name).is_file() for pair in pairs for name in pair):
        gr.Examples([[str(EXAMPLES / a), str(EXAMPLES / b)] for a, b in pairs], inputs=[clip_a, clip_b],
                    label="Examples (A, B): held-out soundfont and voices")
    button = gr.Button("Reconstruct A", variant="primary")
    with gr.Row():
        spec_in = gr.Image(label="Input A: log-mel", type="numpy", interactive=False)
        spec_out = gr.Image(label="Reconstruction: log-mel", type="numpy", interactive=False)
    with gr.Row():
        recon = gr.Audio(label="Reconstruction of A", type="numpy", interactive=False)
        latent_map = gr.Image(label="Latent trajectories (first two principal components)", type="numpy",
                              interactive=False)
    button.click(vae_reconstruct_view, [clip_a, clip_b], [recon, spec_in, spec_out, latent_map],
                 api_name="vae_reconstruct")
    with gr.Row():
        alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="alpha (0 = A, 1 = B)")
        mode = gr.Radio(["linear", "spherical"], value="linear", label="Interpolation")
    with gr.Row():
        interp_button = gr.Button("Interpolate A -> B")
        morph_button = gr.Button("Morph A into B over time")
    with gr.Row():
        mixed = gr.Audio(label="Interpolation / morph", type="numpy", interactive=False)
        mixed_spec = gr.Image(label="Interpolation / morph: log-mel", type="numpy", interactive=False)
    interp_button.click(vae_interpolate_view, [clip_a, clip_b, alpha, mode], [mixed, mixed_spec],
                        api_name="vae_interpolate")
    morph_button.click(vae_morph_view, [clip_a, clip_b, mode], [mixed, mixed_spec], api_name="vae_morph")
    with gr.Row():
        seconds = gr.Slider(0.5, 10.0, value=2.0, step=0.5, label="seconds")
        temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="temperature (prior std)")
        seed = gr.Number(value=0, precision=0, label="seed")
        sample_button = gr.Button("Sample from the prior")
    with gr.Row():
        sampled = gr.Audio(label="Sample", type="numpy", interactive=False)
        sampled_spec = gr.Image(label="Sample: log-mel", type="numpy", interactive=False)
    sample_button.click(vae_sample_view, [seconds, temperature, seed], [sampled, sampled_spec], api_name="vae_sample")


GAN_SLOTS = 12  # clip players in the generated grid
WALK_SLOTS = 8  # and in the latent walk


def clip_slots(clips, slots: int) -> list:
    """GeneratedDigits as (audio player, spectrogram) values for ``slots`` fixed slots (the rest empty),
    then one line saying which digit and seed each clip is."""
    out = []
    for c in clips:
        out += as_output(c)
    captions = ", ".join(f"{i + 1}: {c.label}" + (f" (seed {c.seed})" if c.seed is not None else "")
                         for i, c in enumerate(clips))
    return out + [None, None] * (slots - len(clips)) + [captions]


def show_slots(count: float | None, slots: int) -> list:
    """Show the first ``count`` (player, spectrogram) slots and hide the rest (not part of the API)."""
    shown = int(count) if count is not None and float(count) == int(count) else 0
    return [gr.update(visible=i < shown) for i in range(slots) for _ in range(2)]


def gan_generate_view(label: str, seed: float | None, count: float):
    """Clips of one digit (or random digits) from seeds seed .. seed + count - 1."""
    from neural_audio.generation import generate

    seed = whole_number(seed, "seed")
    return clip_slots(model_call(generate, label, whole_number(count, "count"), seed), GAN_SLOTS)


def gan_walk_view(label: str, seed_a: float | None, seed_b: float | None, steps: float):
    """A latent walk from seed A's noise to seed B's for one digit."""
    from neural_audio.generation import latent_walk

    a, b = whole_number(seed_a, "seed A"), whole_number(seed_b, "seed B")
    return clip_slots(model_call(latent_walk, label, a, b, whole_number(steps, "number of steps")), WALK_SLOTS)


def gan_hear_view(label: str, seed: float | None, clip: float | None):
    """Generated clip number ``clip`` (of the grid from ``seed``) through the keyword recognizer."""
    from neural_audio.audio import SAMPLE_RATE
    from neural_audio.generation import generate
    from neural_audio.inference import recognize

    seed, clip = whole_number(seed, "seed"), whole_number(clip, "clip number")
    if not 1 <= clip <= GAN_SLOTS:
        raise user_error(f"Choose a clip number from 1 to {GAN_SLOTS}.")
    generated = model_call(generate, label, 1, seed + clip - 1)[0]
    result = model_call(lambda: recognize(generated.audio, orig_sr=SAMPLE_RATE))
    best = result.top[0][0]
    verdict = "hears the digit asked for" if best == generated.label else f"hears '{best}'"
    return dict(result.top), (f"Clip {clip} (seed {generated.seed}) asked for '{generated.label}'; "
                              f"the recognizer {verdict}.")


def clip_grid(slots: int, name: str, per_row: int = 4) -> list:
    """``slots`` hidden (audio player, spectrogram) pairs in rows; the views fill and show them."""
    components = []
    for start in range(0, slots, per_row):
        with gr.Row():
            for i in range(start, min(slots, start + per_row)):
                with gr.Column(min_width=160):
                    components.append(gr.Audio(type="numpy", interactive=False, visible=False, label=f"{name} {i + 1}"))
                    components.append(gr.Image(type="numpy", interactive=False, visible=False, show_label=False))
    return components


def gan_tab() -> None:
    from neural_audio.generation import RANDOM
    from neural_audio.models.gan import DIGITS

    tab_header("One-second spoken digits, zero to nine, from a class-conditional GAN: the generator draws a "
               "log-mel spectrogram from a noise vector (fixed by the seed) and the digit, and fast Griffin-Lim "
               "makes it sound. Walk between two seeds' noise for one digit, or let the keyword recognizer say "
               "what it hears in a generated clip.", "gan-digits", "kws-cnn")
    with gr.Row():
        digit = gr.Dropdown([RANDOM, *DIGITS], value="seven", label="digit")
        seed = gr.Number(value=0, precision=0, label="seed (clip i uses seed + i - 1)")
        count = gr.Slider(1, GAN_SLOTS, value=8, step=1, label="count")
        button = gr.Button("Generate", variant="primary")
    captions = gr.Markdown()
    grid = clip_grid(GAN_SLOTS, "Clip")
    button.click(gan_generate_view, [digit, seed, count], grid + [captions], api_name="gan_generate").success(
        lambda n: show_slots(n, GAN_SLOTS), count, grid, api_visibility="private")
    with gr.Row():
        clip = gr.Number(value=1, precision=0, label="clip number")
        hear_button = gr.Button("What does the recognizer hear?")
    with gr.Row():
        heard = gr.Label(num_top_classes=5, label="Keyword recognizer (kws-cnn)")
        verdict = gr.Markdown()
    hear_button.click(gan_hear_view, [digit, seed, clip], [heard, verdict], api_name="gan_hear")
    gr.Markdown("**Latent walk** for the chosen digit (with random, the digit seed A draws).")
    with gr.Row():
        seed_a = gr.Number(value=0, precision=0, label="seed A")
        seed_b = gr.Number(value=1, precision=0, label="seed B")
        steps = gr.Slider(2, WALK_SLOTS, value=5, step=1, label="steps (both ends included)")
        walk_button = gr.Button("Walk from A to B")
    walk_captions = gr.Markdown()
    walk = clip_grid(WALK_SLOTS, "Step")
    walk_button.click(gan_walk_view, [digit, seed_a, seed_b, steps], walk + [walk_captions],
                      api_name="gan_walk").success(lambda n: show_slots(n, WALK_SLOTS), steps, walk,
                                                   api_visibility="private")


with gr.Blocks(title="neural_audio") as demo:
    gr.Markdown(INTRO.format(limit=MAX_SECONDS))
    with gr.Tab("Recognize speech"):
        recognize_tab()
    with gr.Tab("Tag sounds"):
        tag_tab()
    with gr.Tab("Generate (GAN)"):
        gan_tab()
    with gr.Tab("Reconstruct & interpolate (VAE)"):
        vae_tab()


def warm_up() -> None:
    """Import torch and build the front ends while the server starts, so the first click is fast."""
    import numpy as np

    from neural_audio.inference import log_mel

    for family in ("kws", "tagger", "vae"):
        log_mel(np.zeros(1600, np.float32), family)


if __name__ == "__main__":
    threading.Thread(target=warm_up, daemon=True).start()
    demo.queue(default_concurrency_limit=2).launch(max_file_size=MAX_UPLOAD)
