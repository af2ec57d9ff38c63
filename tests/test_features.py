import librosa
import numpy as np
import pytest
import torch

from neural_audio.audio import MEL_SPECS
from neural_audio.features import LogMel, MelInverse, spectral_convergence

from conftest import SR, chirp, dominant_frequency, tone


@pytest.mark.parametrize("family", sorted(MEL_SPECS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_mel_matches_librosa(family, dtype):
    spec = MEL_SPECS[family]
    rng = np.random.default_rng(0)
    batch = np.stack([chirp(1.3), tone(300, 1.3), 0.1 * rng.standard_normal(int(1.3 * SR))]).astype(dtype)
    module = LogMel(spec).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = module(torch.from_numpy(batch)).numpy()
    for item, got in zip(batch, ours):
        ref = librosa.feature.melspectrogram(y=item, sr=SR, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                             n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax)
        ref = np.log(np.maximum(ref, spec.log_floor))
        assert got.shape == ref.shape == (spec.n_mels, module.num_frames(item.size))
        error = np.abs(got - ref)
        if dtype == np.float64:
            assert error.max() < 1e-4
        else:
            # Two float32 FFTs round differently in bins ~90 dB below the frame's peak.
            assert error.mean() < 1e-5 and error.max() < 1e-3


def test_log_mel_unbatched_equals_batched():
    module = LogMel(MEL_SPECS["kws"])
    x = torch.from_numpy(tone(seconds=0.5))
    assert torch.allclose(module(x), module(x[None])[0])


def _magnitude(x: torch.Tensor, spec) -> torch.Tensor:
    return torch.stft(x, spec.n_fft, spec.hop_length, window=torch.hann_window(spec.n_fft),
                      pad_mode="constant", return_complex=True).abs()


def test_fast_griffin_lim_recovers_a_chirp_from_its_magnitude():
    spec = MEL_SPECS["vae"]
    x = torch.from_numpy(chirp(2.0))
    fast = MelInverse(spec).griffin_lim(_magnitude(x, spec)[None], x.numel())[0]
    plain = MelInverse(spec, momentum=0.0).griffin_lim(_magnitude(x, spec)[None], x.numel())[0]
    assert fast.shape == x.shape
    fast_sc, plain_sc = spectral_convergence(x, fast, spec), spectral_convergence(x, plain, spec)
    assert fast_sc < 0.12
    assert fast_sc < 0.7 * plain_sc  # momentum is what makes 32 iterations enough


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_mel_inverse_reconstructs_tone_and_chirp(family):
    spec = MEL_SPECS[family]
    front, inverse = LogMel(spec), MelInverse(spec)
    for signal, max_l1 in ((tone(440, 2.0), 0.35), (chirp(2.0), 0.3)):
        x = torch.from_numpy(signal)
        y = inverse(front(x), length=x.numel())
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert (front(y) - front(x)).abs().mean() < max_l1
    y = inverse(front(torch.from_numpy(tone(440, 2.0))), length=2 * SR)
    assert abs(dominant_frequency(y.numpy()) - 440) < 15  # within one mel band


def test_mel_inverse_is_deterministic_and_batched():
    spec = MEL_SPECS["gan"]
    mel = LogMel(spec)(torch.from_numpy(np.stack([tone(300), chirp(1.0)])))
    inverse = MelInverse(spec)
    a, b = inverse(mel), inverse(mel)
    assert torch.equal(a, b)
    assert torch.allclose(inverse(mel[1]), a[1], atol=1e-5)


def test_griffin_lim_needs_hop_dividing_fft():
    with pytest.raises(ValueError, match="multiple of hop_length"):
        MelInverse(MEL_SPECS["kws"])(torch.zeros(40, 10))
