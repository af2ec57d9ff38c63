"""DigitGAN and the generation functions: logic on a tiny random generator; behaviour on the shipped one."""

import json
import math
from argparse import Namespace

import numpy as np
import pytest
import soundfile as sf
import torch

from neural_audio import hub
from neural_audio.audio import MEL_SPECS
from neural_audio.generation import generate, latent_walk, noise, resolve_label, slerp
from neural_audio.models.gan import CLIP_SAMPLES, DIGITS, DigitCritic, DigitGAN
from neural_audio.train.gan import diff_augment, frechet_distance, inception_score, standing_stats, within_digit_spread

from conftest import SR, tone


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return standing_stats(DigitGAN(z_dim=8, channels=(16, 16, 8, 8)), batches=2, batch=8)


def test_generator_and_critic_shapes(tiny):
    z, y = torch.randn(3, 8), torch.tensor([0, 5, 9])
    mel = tiny(z, y)
    assert mel.shape == (3, 80, CLIP_SAMPLES // 256 + 1) == (3, 80, 63)
    assert mel.min() >= math.log(tiny.mel_spec.log_floor)  # eval mode: never below the front end's floor
    assert tiny.mel_spec == MEL_SPECS["gan"]
    critic = DigitCritic(channels=(8, 16, 16))
    score, logits = critic(tiny.normalise(mel), y)
    assert score.shape == (3,) and logits.shape == (3, len(DIGITS))


def test_the_digit_changes_the_output(tiny):
    z = torch.randn(1, 8)
    assert not torch.allclose(tiny(z, torch.tensor([1])), tiny(z, torch.tensor([2])))


def test_checkpoint_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert len(config["mel_mean"]) == len(config["mel_std"]) == 80 and config["labels"] == list(DIGITS)
    loaded = hub.load_folder(DigitGAN, tmp_path)
    z, y = torch.randn(2, 8), torch.tensor([3, 4])
    assert torch.equal(loaded(z, y), tiny(z, y))


def test_generate_is_deterministic_under_a_seed(tiny):
    a = generate("seven", 3, 5, model=tiny)
    b = generate("seven", 3, 5, model=tiny)
    assert [(c.label, c.seed) for c in a] == [("seven", 5), ("seven", 6), ("seven", 7)]
    for x, y in zip(a, b):
        assert x.audio.shape == (CLIP_SAMPLES,) and x.audio.dtype == np.float32 and x.log_mel.shape == (80, 63)
        np.testing.assert_array_equal(x.audio, y.audio)
    assert not np.array_equal(a[0].audio, a[1].audio)
    # A clip depends on its own seed only, not on how many were asked for with it.
    np.testing.assert_array_equal(generate("seven", 1, 6, model=tiny)[0].audio, a[1].audio)
    np.testing.assert_array_equal(noise(6, 8), noise(6, 8))


def test_random_label_is_drawn_from_the_seed(tiny):
    clips = generate("random", 8, 0, model=tiny)
    assert all(c.label in DIGITS for c in clips) and len({c.label for c in clips}) > 1
    same = generate(clips[3].label, 1, clips[3].seed, model=tiny)[0]
    np.testing.assert_array_equal(same.audio, clips[3].audio)
    assert resolve_label("7", 0, list(DIGITS)) == "seven" and resolve_label(" Seven ", 0, list(DIGITS)) == "seven"


def test_latent_walk_ends_are_the_two_seeds_clips(tiny):
    walk = latent_walk("three", 11, 42, 4, model=tiny)
    assert len(walk) == 4 and [c.seed for c in walk] == [11, None, None, 42]
    np.testing.assert_array_equal(walk[0].audio, generate("three", 1, 11, model=tiny)[0].audio)
    np.testing.assert_array_equal(walk[-1].audio, generate("three", 1, 42, model=tiny)[0].audio)
    assert not np.array_equal(walk[1].audio, walk[0].audio)


def test_slerp_keeps_the_norm_and_the_ends():
    a, b = noise(1, 256), noise(2, 256)
    assert slerp(a, b, 0.0) is a and slerp(a, b, 1.0) is b
    assert np.linalg.norm(slerp(a, b, 0.5)) > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))


@pytest.mark.parametrize("call, message", [
    (lambda m: generate("eleven", 1, 0, model=m), "Unknown digit 'eleven'"),
    (lambda m: generate("seven", 0, 0, model=m), "n must be"),
    (lambda m: generate("seven", 1, -1, model=m), "seed must be"),
    (lambda m: latent_walk("seven", 0, 1, 1, model=m), "steps must be"),
    (lambda m: latent_walk("seven", 0, -3, 3, model=m), "seed B must be"),
])
def test_bad_requests_say_what_is_wrong(tiny, call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny)


def test_diff_augment_shifts_and_cuts_with_the_floor():
    x = torch.randn(4, 80, 63)
    floor = torch.full((1, 80, 1), -9.0)
    out = diff_augment(x, floor, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert ((out == -9.0).all(dim=1).sum(dim=1) >= 8).all()  # at least the cut-out span is floor
    same = diff_augment(x, floor, torch.Generator().manual_seed(0), shift=0, cutout=0)
    torch.testing.assert_close(same, x)


def test_inception_score_and_frechet_distance():
    assert inception_score(np.eye(10)) == pytest.approx(10.0, rel=1e-6)  # every digit, each certain
    assert inception_score(np.full((5, 10), 0.1)) == pytest.approx(1.0)  # nothing certain
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 1.0) == pytest.approx(4.0, abs=0.05)
    same = np.zeros((6, 2, 3))
    assert within_digit_spread(same, np.arange(6) % 2) == 0.0
    assert within_digit_spread(same + np.arange(6)[:, None, None], np.zeros(6)) > 0


def _digit_dataset(root):
    """A Speech Commands layout with two tone 'recordings' of each digit, none held out."""
    for i, digit in enumerate(DIGITS):
        (root / digit).mkdir(parents=True)
        for k in range(2):
            sf.write(root / digit / f"spk{k}_nohash_0.wav", tone(200.0 + 50 * i, amp=0.3 + 0.1 * k), SR)
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("")
    return root


def test_training_runs_saves_and_resumes(tmp_path):
    from neural_audio.train.gan import train

    data = _digit_dataset(tmp_path / "digits")
    args = Namespace(data=str(data), work=str(tmp_path / "work"), out=str(tmp_path / "out"), steps=2, batch=4,
                     lr_g=1e-4, lr_d=1e-4, z_dim=8, channels=[16, 16, 8, 8], critic_channels=[8, 16], aux=0.5,
                     aux_g=0.1, mode_seeking=1.0, ema=0.999, judge="kws-cnn", save_every=1, sample_every=2,
                     threads=1, seed=0, json=True)
    assert train(args) == 0
    assert (tmp_path / "work" / "samples" / "step000002" / "grid.png").is_file()
    model = hub.load_folder(DigitGAN, tmp_path / "out")
    assert model.z_dim == 8 and len(generate("one", 1, 0, model=model)[0].audio) == CLIP_SAMPLES
    args.steps = 3
    assert train(args) == 0
    assert json.loads((tmp_path / "work" / "state.json").read_text())["step"] == 3
    assert (tmp_path / "work" / "log.csv").read_text().count("\n") == 4  # header and steps 1, 2, 3


@pytest.mark.skipif(not hub.is_available_locally("gan-digits"), reason="gan-digits is not shipped in this checkout")
def test_shipped_generator_says_the_digits_the_recognizer_hears():
    from neural_audio.inference import recognize

    model = hub.load_model("gan-digits")
    assert sum(p.numel() for p in model.parameters()) <= 10_000_000
    heard = [recognize(c.audio, orig_sr=SR).top[0][0] == c.label
             for digit in DIGITS for c in generate(digit, 2, 100, model=model)]
    assert np.mean(heard) >= 0.6
