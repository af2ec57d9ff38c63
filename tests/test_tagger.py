import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from neural_audio.inference import Event, detect_events, tag
from neural_audio.models.tagger import SoundTagger, linear_softmax_pool
from neural_audio.train.common import WeightAverage, ema_update
from neural_audio.train.tagger import (balanced_weights, crop, event_f1, frame_targets, mean_average_precision,
                                       mix_sources)

from conftest import SR, tone

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["speech", "siren", "noise"]


def tiny(labels=LABELS) -> SoundTagger:
    torch.manual_seed(0)
    return SoundTagger(labels=labels, stem=(4, 8, 8), channels=16, blocks=1, kernel=3).eval()


@pytest.mark.parametrize("seconds", [0.3, 1.0, 3.7])
def test_any_length_gives_clip_and_frame_probabilities(seconds):
    model = tiny()
    samples = int(seconds * SR)
    with torch.no_grad():
        clip, frames = model(torch.randn(2, samples) * 0.1)
    mel_frames = samples // model.mel_spec.hop_length + 1
    assert clip.shape == (2, 3) and frames.shape == (2, 3, -(-(-(-mel_frames // 2)) // 2))
    assert ((clip >= 0) & (clip <= 1)).all()
    assert (clip <= frames.amax(-1) + 1e-6).all() and (clip >= frames.mean(-1) - 1e-6).all()
    assert model.frame_seconds == pytest.approx(0.08)


def test_linear_softmax_pooling():
    assert linear_softmax_pool(torch.full((5,), 0.3)).item() == pytest.approx(0.3)
    assert linear_softmax_pool(torch.tensor([1.0, 0.0, 0.0, 0.0])).item() == pytest.approx(1.0)
    assert linear_softmax_pool(torch.tensor([0.9, 0.1])).item() == pytest.approx(0.82)
    assert linear_softmax_pool(torch.zeros(4)).item() == 0.0


def test_checkpoint_round_trip_keeps_the_vocabulary(tmp_path):
    from neural_audio.hub import load_folder

    model = tiny()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["labels"] == LABELS
    again = load_folder(SoundTagger, tmp_path)
    x = torch.randn(1, SR) * 0.1
    with torch.no_grad():
        assert torch.allclose(model(x)[1], again(x)[1])


def test_detect_events_hysteresis_gaps_and_minimum_length():
    probs = np.zeros((3, 100))
    probs[0, 10:20] = 0.9
    probs[0, 20:30] = 0.4  # above the low threshold: the event goes on
    probs[0, 33:40] = 0.8  # 3 frames (0.06 s) after: merged
    probs[1, 50:55] = 0.35  # never reaches the high threshold: no event
    probs[2, 40:43] = 0.9  # 0.06 s long and far from the next: too short
    probs[2, 80:95] = 0.7
    events = detect_events(probs, LABELS, 0.02, 2.0, high=0.5, low=0.3, max_gap=0.3, min_length=0.1)
    assert [(e.label, round(e.start, 2), round(e.end, 2)) for e in events] == [
        ("speech", 0.19, 0.79), ("noise", 1.59, 1.89)]


def test_event_f1_collars():
    ref = [("a", 1.0, 2.0), ("a", 3.0, 6.0), ("b", 0.0, 1.0)]
    perfect = event_f1(ref, ref)
    assert perfect["f1"] == 1.0 and perfect["reference_events"] == 3
    est = [("a", 1.15, 2.1),  # within both collars
           ("a", 3.1, 5.5),  # offset 0.5 s early: within 20 % of a 3-s event
           ("b", 0.3, 1.0)]  # onset 0.3 s late: outside the 0.2-s collar
    result = event_f1(ref, est)
    assert (result["precision"], result["recall"]) == (pytest.approx(2 / 3, abs=1e-4), pytest.approx(2 / 3, abs=1e-4))
    assert event_f1(ref, [("a", 1.0, 2.5)])["f1"] == 0.0  # offset 0.5 s late on a 1-s event
    assert event_f1(ref, [("a", 1.0, 2.5)], offsets=False)["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert event_f1(ref, [("b", 0.0, 1.0), ("b", 0.05, 1.0)])["precision"] == 0.5  # one match per event
    assert event_f1(ref, [])["f1"] == 0.0


def test_mean_average_precision_skips_absent_classes():
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.7, 0.3, 0.5]])
    value, ap = mean_average_precision(truth, scores)
    assert value == 1.0 and np.isnan(ap[2])


def test_training_augmentations_keep_targets_aligned():
    g = torch.Generator().manual_seed(0)
    mel = torch.arange(10, dtype=torch.float32).repeat(4, 2, 1)  # (4, 2, 10): the value is the frame index
    active = (mel[:, :1] >= 5).to(torch.uint8).repeat(1, 3, 1)
    cropped, cropped_active = crop(mel, active, 4, g)
    assert cropped.shape == (4, 2, 4) and torch.equal(cropped_active[:, 0].bool(), cropped[:, 0] >= 5)
    quiet = torch.full((4, 2, 10), -10.0)
    frames = torch.zeros(4, 3, 10, dtype=torch.uint8)
    frames[0, 0] = 1
    mixed, union = mix_sources(quiet, frames, g, p=1.0, db=0.0)
    assert torch.allclose(mixed, torch.full_like(mixed, -10 + np.log(2)))  # equal powers add: +3 dB
    assert union[:, 0].amax(-1).sum() >= 1 and union.sum() >= frames.sum()
    assert torch.allclose(frame_targets(torch.tensor([[[1, 1, 0, 0, 1]]]), 4), torch.tensor([[[0.5, 1.0]]]))
    weights = balanced_weights(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert weights[3] == pytest.approx(3 * weights[0])  # the rare class is drawn as often as the common one


def _tiny_dataset(root: Path, rng: np.random.Generator) -> None:
    """A tagging folder in the builder's layout: 1-s low tones ("speech"), high tones ("siren"), noise bursts."""
    (root / "ground_truth").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "vocabulary.csv").write_text("".join(f"{i},{label},\n" for i, label in enumerate(LABELS)))
    for split, n in (("train", 12), ("test", 6)):
        (root / "audio" / split).mkdir(parents=True)
        truth, events = [], []
        for i in range(n):
            fname, audio = f"{split}{i}", np.zeros(5 * SR, np.float32)
            label, start = LABELS[i % 3], 1 + i % 4
            piece = {"speech": tone(200, 1.0), "siren": tone(1200, 1.0),
                     "noise": rng.normal(0, 0.2, SR).astype(np.float32)}[label]
            audio[start * SR: (start + 1) * SR] = piece
            sf.write(root / "audio" / split / f"{fname}.wav", audio, SR)
            truth.append([fname, label])
            events.append([fname, label, start, start + 1])
        for name, header, rows in (("ground_truth", ["fname", "labels"], truth),
                                   ("annotations", ["fname", "label", "onset", "offset"], events)):
            with open(root / name / f"{split}.csv", "w", newline="") as f:
                csv.writer(f).writerows([header, *rows])


def test_train_resume_and_evaluate_on_a_tiny_dataset(tmp_path, capsys, monkeypatch):
    from neural_audio.train import tagger as training
    from neural_audio.cli import build_parser
    from neural_audio.train.tagger import evaluate, train

    (tmp_path / "real").mkdir()
    sf.write(tmp_path / "real" / "beep.wav", tone(1000, 0.5), SR)
    monkeypatch.setattr(training, "RESERVED", [(str(tmp_path / "real"), "a tone"), (str(tmp_path / "none"), "-")])

    _tiny_dataset(tmp_path / "data", np.random.default_rng(0))
    data = ["--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache")]
    args = build_parser().parse_args(["train", "tagger", *data, "--work", str(tmp_path / "work"),
                                      "--out", str(tmp_path / "out"), "--epochs", "1", "--batch", "4",
                                      "--valid", "4", "--stem", "4", "8", "8", "--channels", "16", "--blocks", "1",
                                      "--threads", "1"])
    assert train(args) == 0
    args.epochs = 2
    assert train(args) == 0  # resumes at epoch 1
    log = (tmp_path / "work" / "log.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in log[1:]] == ["1", "2"]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["labels"] == LABELS
    # What is shipped is the weight average, batch-norm statistics included, not the last weights.
    state = load_file(tmp_path / "work" / "state.safetensors")
    shipped = load_file(tmp_path / "out" / "model.safetensors")
    assert set(shipped) == {k[len("ema/"):] for k in state if k.startswith("ema/")}
    assert all(torch.equal(v, state[f"ema/{k}"]) for k, v in shipped.items())
    assert not all(torch.equal(v, state[f"model/{k}"]) for k, v in shipped.items())

    args = build_parser().parse_args(["evaluate", "tagger", *data, "--model", str(tmp_path / "out"),
                                      "--report", str(tmp_path / "report"), "--json"])
    assert evaluate(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["test_clips"] == 6 and 0 <= results["map"] <= 1
    assert set(results["per_class_ap"]) == set(LABELS)
    assert results["event_f1_onset_offset"]["reference_events"] == 6
    assert 0 <= results["peers"]["mfcc_logistic_regression"]["map"] <= 1
    assert results["latency_ms_per_10s_1_thread"] > 0 and results["parameters"] > 0
    real = results["reserved_real_recordings"]
    assert real[str(tmp_path / "none")]["found"] is False
    assert len(real[str(tmp_path / "real")]["top_tags"]["beep.wav"]) == 3


def test_ema_update_averages_weights_and_batch_norm_statistics():
    average, model = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.running_mean.fill_(2.0)
    model.num_batches_tracked.fill_(7)
    ema_update(average, model, decay=0.75, buffers=True)
    assert torch.allclose(average.weight, torch.full((3,), 1.5))  # 1 + 0.25 * (3 - 1)
    assert torch.allclose(average.running_mean, torch.full((3,), 0.5))
    assert int(average.num_batches_tracked) == 7
    ema_update(average, model, decay=0.75)  # weights only
    assert torch.allclose(average.weight, torch.full((3,), 1.875))
    assert torch.allclose(average.running_mean, torch.full((3,), 0.5))
    ema_update(average, model, decay=0.999, step=0)  # warm-up: the decay is (1 + 0) / (10 + 0) = 0.1
    assert torch.allclose(average.weight, torch.full((3,), 0.1 * 1.875 + 0.9 * 3.0))
    off = WeightAverage(model, 0.0)
    assert off.shipped is model and off.modules == {"model": model}


# Behaviour of the shipped checkpoint on the bundled mixtures (sources held out of training).
def _bundled_events() -> dict[str, list[tuple[str, float, float]]]:
    with open(ROOT / "examples" / "tagging-events.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["file"], []).append((r["label"], float(r["onset"]), float(r["offset"])))
    return out


def test_shipped_checkpoint_tags_the_bundled_mixtures():
    expected = _bundled_events()
    assert len(expected) >= 3
    for name, events in expected.items():
        result = tag(ROOT / "examples" / name)
        truth = {label for label, _, _ in events}
        assert set(list(result.tags)[: len(truth)]) == truth, (name, list(result.tags.items())[:4])
        for label, onset, offset in events:
            found = [e for e in result.events if e.label == label]
            assert found, (name, label, result.events)
            assert min(abs(e.start - onset) for e in found) < 0.3, (name, label, found)
            # Offsets of decaying sounds are fuzzy (the annotation runs to 50 dB below the peak): the
            # events found must cover most of the annotated one rather than end near a given time.
            covered = sum(max(0.0, min(e.end, offset) - max(e.start, onset)) for e in found)
            assert covered >= 0.6 * (offset - onset), (name, label, found)


def test_silence_has_no_events():
    result = tag(np.zeros(3 * SR, np.float32), orig_sr=SR)
    assert result.events == [] and max(result.tags.values()) < 0.5
    assert result.probabilities.shape == (len(result.labels), 3 * SR // 320 + 1)
    assert list(result.to_dict()) == ["tags", "events"]


def test_event_dataclass_in_to_dict():
    from neural_audio.inference import TagResult

    result = TagResult({"siren": 0.91234, "speech": 0.1}, [Event("siren", 0.12345, 1.5)], 2.0, 0.02,
                       np.zeros((2, 101)), ["speech", "siren"])
    assert result.to_dict() == {"tags": {"siren": 0.9123, "speech": 0.1},
                                "events": [{"label": "siren", "start": 0.123, "end": 1.5}]}
