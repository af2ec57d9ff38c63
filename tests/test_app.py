"""The demo as users meet it: app.py served on 127.0.0.1, driven by gradio_client and a real browser."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio"))}
    log = tmp_path_factory.mktemp("log") / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"app.py did not start:\n{log.read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


EXAMPLES = ROOT / "examples"


def test_recognize_endpoint(client):
    from gradio_client import handle_file

    label, timeline, table = client.predict(handle_file(str(EXAMPLES / "speech-seven.wav")), api_name="/recognize")
    assert label["label"] == "seven"
    assert label["confidences"][0]["label"] == "seven" and len(label["confidences"]) == 5
    assert Path(timeline).is_file()
    [(start, end, word, score)] = table["data"]  # a clip under 1 s is one window: one row, the whole clip
    assert (start, word) == (0.0, "seven") and 0.5 < end <= 1.0 and score > 0.5


def test_transcribe_endpoint(client):
    from gradio_client import handle_file

    spans, table = client.predict(handle_file(str(EXAMPLES / "words-three-one-four.wav")), api_name="/transcribe")
    words = [item for item in spans if item["class_or_confidence"]]
    assert [w["token"] for w in words] == ["three", "one", "four"]
    assert table["headers"] == ["word", "start (s)", "end (s)", "score"]
    assert [row[0] for row in table["data"]] == ["three", "one", "four"]
    starts = [row[1] for row in table["data"]]
    assert starts == sorted(starts) and all(row[1] < row[2] for row in table["data"])
    assert words[0]["class_or_confidence"] == f"{table['data'][0][1]:.2f}-{table['data'][0][2]:.2f} s"


def test_transcribe_endpoint_refuses_silence(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    with pytest.raises(AppError, match="silent: nothing to transcribe"):
        client.predict(handle_file(str(silent)), api_name="/transcribe")


def test_tag_endpoint(client):
    from gradio_client import handle_file
    from PIL import Image

    label, heatmap, table = client.predict(handle_file(str(EXAMPLES / "tagging-speech-siren.wav")), api_name="/tag")
    assert {c["label"] for c in label["confidences"][:2]} == {"speech", "siren"} and len(label["confidences"]) == 5
    assert Image.open(heatmap).size[1] == 14 * 20 + 16  # one row per class, then the time axis
    assert table["headers"] == ["sound", "start (s)", "end (s)"]
    events = {row[0]: (row[1], row[2]) for row in table["data"]}
    assert abs(events["speech"][0] - 0.4) < 0.3 and abs(events["siren"][0] - 3.2) < 0.3


def test_tag_endpoint_refuses_silence(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    with pytest.raises(AppError, match="silent: nothing to tag"):
        client.predict(handle_file(str(silent)), api_name="/tag")


def test_recognize_endpoint_refuses_silence(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    with pytest.raises(AppError, match="silent"):
        client.predict(handle_file(str(silent)), api_name="/recognize")


@pytest.mark.parametrize("content,message", [
    (b"", "empty"), (b"definitely not audio" * 10, "not a readable audio file"),
])
def test_bad_uploads_become_clear_errors(client, tmp_path, content, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "upload.wav"
    bad.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(bad)), api_name="/tag")


def test_too_long_upload_is_refused(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from neural_audio.audio import MAX_SECONDS

    long = tmp_path / "long.flac"
    sf.write(long, np.zeros(int((MAX_SECONDS + 5) * 8000), np.int16), 8000)
    with pytest.raises(AppError, match="the limit is"):
        client.predict(handle_file(str(long)), api_name="/tag")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(app_url)
            for tab in ("Recognize speech", "Tag sounds", "Generate (GAN)", "Reconstruct & interpolate (VAE)"):
                expect(page.get_by_role("tab", name=tab)).to_be_visible(timeout=30_000)
            # Keywords: upload a bundled example, see the top label.
            panel = page.get_by_role("tabpanel")
            panel.locator("input[type=file][accept*='audio']").set_input_files(str(EXAMPLES / "speech-yes.wav"))
            panel.get_by_role("button", name="Recognize").click()
            expect(panel.get_by_test_id("label-output-value")).to_contain_text("yes", timeout=30_000)
            # The same click transcribes: the word is shown with its time span.
            expect(panel.get_by_text(re.compile(r"^\d\.\d\d-\d\.\d\d s$")).first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(tmp_path / "recognize.png"))
            page.get_by_role("tab", name="Tag sounds").click()
            panel = page.get_by_role("tabpanel")
            panel.locator("input[type=file][accept*='audio']").set_input_files(str(EXAMPLES / "tagging-speech-siren.wav"))
            panel.get_by_role("button", name="Tag", exact=True).click()
            expect(panel.get_by_test_id("label-output-value")).to_contain_text(re.compile("speech|siren"), timeout=30_000)
            expect(panel.get_by_role("gridcell", name="siren").first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(tmp_path / "tag.png"))
            # A bad upload shows the loader's message as an error toast.
            bad = tmp_path / "bad.wav"
            bad.write_text("not audio at all")
            panel.get_by_role("button", name="Clear").click()
            panel.locator("input[type=file][accept*='audio']").set_input_files(str(bad))
            panel.get_by_role("button", name="Tag", exact=True).click()
            expect(page.get_by_text("not a readable audio file").first).to_be_visible(timeout=30_000)
        finally:
            browser.close()


def _wav(path: str) -> np.ndarray:
    return sf.read(path, dtype="float32")[0]


def test_vae_endpoints(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    a, b = handle_file(str(EXAMPLES / "speech-seven.wav")), handle_file(str(EXAMPLES / "speech-marvin.wav"))
    audio, spec_in, spec_out, latent_map = client.predict(a, b, api_name="/vae_reconstruct")
    seconds = sf.info(EXAMPLES / "speech-seven.wav").duration
    assert sf.info(audio).samplerate == SR and sf.info(audio).duration == pytest.approx(seconds, abs=1e-3)
    assert Image.open(spec_in).size == Image.open(spec_out).size  # input and output side by side, same scale
    assert Image.open(latent_map).size == (360, 360)
    start, _ = client.predict(a, b, 0.0, "spherical", api_name="/vae_interpolate")
    np.testing.assert_array_equal(_wav(start), _wav(audio))  # alpha 0 is A's reconstruction
    end, _ = client.predict(a, b, 1.0, "linear", api_name="/vae_interpolate")
    assert sf.info(end).duration == pytest.approx(sf.info(EXAMPLES / "speech-marvin.wav").duration, abs=1e-3)
    morph, _ = client.predict(a, b, "linear", api_name="/vae_morph")
    assert sf.info(morph).duration == pytest.approx(max(seconds, sf.info(end).duration), abs=1e-3)
    sample, picture = client.predict(1.5, 0.8, 3, api_name="/vae_sample")
    assert sf.info(sample).duration == pytest.approx(1.5, abs=1e-3) and np.abs(_wav(sample)).max() > 0
    again, _ = client.predict(1.5, 0.8, 3, api_name="/vae_sample")
    np.testing.assert_array_equal(_wav(again), _wav(sample))


def test_vae_endpoints_refuse_what_they_cannot_use(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    seven = handle_file(str(EXAMPLES / "speech-seven.wav"))
    with pytest.raises(AppError, match="Clip A is silent"):
        client.predict(handle_file(str(silent)), None, api_name="/vae_reconstruct")
    with pytest.raises(AppError, match="No clip B yet"):
        client.predict(seven, None, 0.5, "linear", api_name="/vae_interpolate")
    with pytest.raises(AppError, match="seed"):
        client.predict(2.0, 1.0, None, api_name="/vae_sample")


@contextlib.contextmanager
def _tab(app_url: str, name: str):
    """A chromium page on the app with tab ``name`` open: yields (page, the tab's panel)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(app_url)
            page.get_by_role("tab", name=name).click()
            yield page, page.get_by_role("tabpanel")
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_vae_tab_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import expect

    with _tab(app_url, "Reconstruct & interpolate (VAE)") as (page, panel):
        panel.get_by_text("note-flute.wav").click()  # the first example pair fills A and B
        # Wait until they are filled: a click before that (a loaded machine) only gets "No clip A yet".
        expect(panel.locator("audio")).not_to_have_count(0, timeout=30_000)
        panel.get_by_role("button", name="Reconstruct A").click()
        # input and output spectrograms and the latent map
        expect(panel.locator("img")).to_have_count(3, timeout=30_000)
        panel.get_by_role("button", name="Morph A into B over time").click()
        expect(panel.locator("img")).to_have_count(4, timeout=30_000)
        page.screenshot(path=str(tmp_path / "vae.png"), full_page=True)

def test_gan_endpoints(client):
    from gradio_client.exceptions import AppError
    from PIL import Image

    *outputs, captions = client.predict("seven", 4, 3, api_name="/gan_generate")  # seeds 4, 5, 6
    assert captions == "1: seven (seed 4), 2: seven (seed 5), 3: seven (seed 6)"
    audio, images = outputs[0::2], outputs[1::2]
    assert len(audio) == 12 and all(a is not None for a in audio[:3]) and all(a is None for a in audio[3:])
    assert all(sf.info(a).frames == SR and sf.info(a).samplerate == SR for a in audio[:3])
    assert all(Image.open(p).size[0] >= 600 for p in images[:3])
    *walk, captions = client.predict("seven", 4, 6, 3, api_name="/gan_walk")
    assert captions == "1: seven (seed 4), 2: seven, 3: seven (seed 6)"
    # The walk starts at seed 4's clip and ends at seed 6's: clips 1 and 3 of the grid above.
    np.testing.assert_array_equal(_wav(walk[0]), _wav(audio[0]))
    np.testing.assert_array_equal(_wav(walk[4]), _wav(audio[2]))
    assert walk[6] is None
    heard, verdict = client.predict("seven", 3, 2, api_name="/gan_hear")
    assert len(heard["confidences"]) == 5 and "Clip 2 (seed 4) asked for 'seven'" in verdict
    with pytest.raises(AppError, match="seed must be a whole number from 0"):
        client.predict("seven", -1, 2, api_name="/gan_generate")
    with pytest.raises(AppError, match="whole number as the seed"):
        client.predict("seven", None, 2, api_name="/gan_generate")
    with pytest.raises(AppError, match="seed B must be"):
        client.predict("seven", 0, -1, 3, api_name="/gan_walk")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_gan_tab_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import expect

    with _tab(app_url, "Generate (GAN)") as (page, panel):
        panel.get_by_role("button", name="Generate", exact=True).click()
        expect(panel.locator("img")).to_have_count(8, timeout=30_000)  # the default count
        panel.get_by_role("button", name="What does the recognizer hear?").click()
        expect(panel.get_by_text("asked for 'seven'")).to_be_visible(timeout=30_000)
        panel.get_by_role("button", name="Walk from A to B").click()
        expect(panel.locator("img")).to_have_count(13, timeout=30_000)  # and the walk's five steps
        page.screenshot(path=str(tmp_path / "gan.png"), full_page=True)
