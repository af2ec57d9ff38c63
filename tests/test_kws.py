"""KeywordCNN: logic on a tiny random model; behaviour on the shipped checkpoint."""

import numpy as np
import pytest
import torch

from neural_audio import hub
from neural_audio.inference import _segments, _windows, recognize
from neural_audio.models.kws import CLIP_SAMPLES, SILENCE, UNKNOWN, KeywordCNN

from conftest import SR, tiny_speech_commands

LABELS = ["yes", "no", "up", SILENCE, UNKNOWN]


def test_model_shapes_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = KeywordCNN(labels=LABELS, channels=(8, 12, 16), kernel=5).eval()
    x = torch.randn(3, CLIP_SAMPLES) * 0.1
    assert model(x).shape == (3, len(LABELS))
    model.save_pretrained(tmp_path)
    loaded = hub.load_folder(KeywordCNN, tmp_path)
    assert loaded.labels == LABELS and loaded.mel_spec == model.mel_spec
    assert torch.equal(loaded(x), model(x))


def test_windows_cover_the_clip():
    short, starts = _windows(np.ones(SR // 2, np.float32), SR, SR // 10)
    assert short.shape == (1, SR) and starts.tolist() == [0.0]
    assert short[0, : SR // 4].sum() == 0 and short[0, SR // 4: 3 * SR // 4].sum() == SR // 2  # centred
    audio = np.arange(int(2.55 * SR), dtype=np.float32)
    windows, starts = _windows(audio, SR, SR // 10)
    assert windows.shape[1] == SR and starts[-1] == pytest.approx(1.55)  # the last window ends with the clip
    assert np.array_equal(windows[-1], audio[-SR:])


def test_segments_are_the_overlap_of_agreeing_windows():
    starts = np.arange(0, 3.01, 0.1)
    probs = np.zeros((len(starts), len(LABELS)))
    probs[:, LABELS.index(SILENCE)] = 0.9
    probs[2:8, 0] = 0.95  # "yes" in windows starting 0.2 .. 0.7: the word lies in [0.7, 1.2]
    probs[2:8, LABELS.index(SILENCE)] = 0.0
    probs[20:24, 1] = 0.9  # "no" in windows starting 2.0 .. 2.3
    probs[20:24, LABELS.index(SILENCE)] = 0.0
    probs[25, 2] = 0.4  # "up" below the threshold: not reported
    probs[25, LABELS.index(SILENCE)] = 0.0
    probs[15, 2] = 0.9  # "up" in one window alone: two half-words, not reported
    probs[15, LABELS.index(SILENCE)] = 0.0
    keyword = np.array([label not in (SILENCE, UNKNOWN) for label in LABELS])
    segs = _segments(probs, starts, LABELS, keyword, threshold=0.5, duration=3.5)
    assert [(s.label, round(s.start, 2), round(s.end, 2)) for s in segs] == [("yes", 0.7, 1.2), ("no", 2.3, 3.0)]
    assert segs[0].score == pytest.approx(0.95)  # scores are the smoothed posteriors' peak


def test_recognize_reports_segments_only_for_long_clips():
    torch.manual_seed(0)
    model = KeywordCNN(labels=LABELS, channels=(8, 12, 16), kernel=5).eval()
    rng = np.random.default_rng(0)
    short = recognize(rng.normal(0, 0.1, SR // 2).astype(np.float32), orig_sr=SR, model=model).to_dict()
    assert set(short) == {"top"} and len(short["top"]) == 5
    assert abs(sum(t["score"] for t in short["top"]) - 1) < 1e-3
    long = recognize(rng.normal(0, 0.1, 3 * SR).astype(np.float32), orig_sr=SR, model=model, threshold=0.0)
    assert set(long.to_dict()) == {"top", "segments"} and long.probabilities.shape == (21, len(LABELS))


# Behaviour of the shipped checkpoint on the bundled examples (voices held out of training).
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("speech-*.wav"))


def _expected(path) -> str:
    return path.stem.removeprefix("speech-")


def test_shipped_checkpoint_recognizes_the_bundled_examples():
    assert EXAMPLES, "examples/speech-*.wav are missing"
    for path in EXAMPLES:
        result = recognize(path)
        assert result.top[0][0] == _expected(path), (path.name, result.top[:3])
        assert result.top[0][1] > 0.5


def test_sliding_window_finds_three_words_in_order():
    from neural_audio.audio import load

    words = ["yes", "no", "up"]
    gap = np.zeros(int(0.6 * SR), np.float32)
    pieces, onsets = [gap], []
    for word in words:
        onsets.append(sum(p.size for p in pieces) / SR)
        pieces += [load(ROOT / "examples" / f"speech-{word}.wav"), gap]
    clip = np.concatenate(pieces)
    result = recognize(clip, orig_sr=SR)
    found = result.to_dict()["segments"]
    assert [s["label"] for s in found] == words
    for segment, onset in zip(found, onsets):  # each segment overlaps where its word was placed
        assert segment["start"] < onset + 0.8 and segment["end"] > onset


def test_missing_checkpoint_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "CHECKPOINTS_DIR", tmp_path)
    hub.cached_model.cache_clear()
    try:
        with pytest.raises(hub.ModelNotAvailable, match="'kws-cnn' is not in .* HF_HUB_OFFLINE is set"):
            recognize(np.zeros(SR, np.float32), orig_sr=SR)
    finally:
        hub.cached_model.cache_clear()


def test_training_augmentations_on_log_mel():
    from neural_audio.train.kws import spec_augment, warp_frequency

    mel = torch.arange(40, dtype=torch.float32)[None, :, None].repeat(4, 1, 50)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(warp_frequency(mel, g, 1.0, 1.0), mel)
    squeezed = warp_frequency(mel, g, 0.5, 0.5)
    assert torch.allclose(squeezed[0, :5, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
    masked = spec_augment(mel, g, freq_width=7, time_width=12, masks=2)
    assert masked.shape == mel.shape and (masked == 0).sum() > (mel == 0).sum()  # masks fill with the floor
    assert torch.equal(mel, torch.arange(40, dtype=torch.float32)[None, :, None].repeat(4, 1, 50))  # input untouched


def test_speaking_rate_and_colour_augmentations_on_log_mel():
    from neural_audio.train.kws import DB, random_eq, stretch_time

    ramp = torch.arange(101, dtype=torch.float32)[None, None, :].repeat(6, 40, 1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(stretch_time(ramp, g, 0.0), ramp)
    stretched = stretch_time(ramp, g, 0.25)
    rate = stretched[:, 0, 51] - stretched[:, 0, 50]  # the middle keeps its place, the slope is the rate
    assert torch.allclose(stretched[:, :, 50], ramp[:, :, 50])
    assert (rate >= 1 / 1.25 - 1e-4).all() and (rate <= 1.25 + 1e-4).all() and rate.std() > 0.05
    faster = rate > 1  # a faster clip reads past its ends, which are filled with its floor (0 here)
    assert 0 < faster.sum() < len(faster)
    assert (stretched[faster][:, :, [0, -1]] == 0).all() and (stretched[~faster][:, :, [0, -1]] > 0).all()

    flat = torch.zeros(500, 40, 10)
    coloured = random_eq(flat, g, db=6.0)
    assert torch.equal(coloured[:, :, 0:1].expand(-1, -1, 10), coloured)  # one filter for the whole clip
    gain_db = coloured[:, :, 0] / DB
    assert gain_db.abs().max() <= 10 + 1e-3 and gain_db.abs().max() > 6  # +-5/3 db at most
    assert (gain_db[:, 1:] - gain_db[:, :-1]).abs().max() < 1.0  # smooth across neighbouring bands
    assert random_eq(torch.full((2, 40, 3), -20.0), g).min() >= np.log(1e-5) - 1e-6  # kept above the floor


def test_final_run_on_train_and_validation_ships_the_last_weight_average(tmp_path, stand_in_prompts, capsys):
    import json

    from safetensors.torch import load_file

    from neural_audio.cli import build_parser
    from neural_audio.train.kws import train

    data = tiny_speech_commands(tmp_path / "sc")
    args = build_parser().parse_args([
        "train", "kws", "--data", str(data), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
        "--epochs", "1", "--batch", "4", "--channels", "8", "12", "16", "--workers", "0", "--p-reverb", "0",
        "--eq-db", "6", "--stretch", "0.2", "--n-mels", "24", "--train-splits", "train", "valid", "--ema", "0.9", "--threads", "1"])
    assert train(args) == 0
    args.epochs = 2
    assert train(args) == 0  # resumes at epoch 1, the average with it
    log = (tmp_path / "work" / "log.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in log[1:]] == ["1", "2"]
    record = json.loads((tmp_path / "out" / "training.json").read_text())
    assert record["best_valid_accuracy"] is None and record["args"]["train_splits"] == ["train", "valid"]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["mel"]["n_mels"] == 24
    assert not (tmp_path / "work" / "best").exists()  # nothing held out to pick an epoch with
    state = load_file(tmp_path / "work" / "state.safetensors")
    shipped = load_file(tmp_path / "out" / "model.safetensors")
    assert all(torch.equal(v, state[f"ema/{k}"]) for k, v in shipped.items())
    assert not all(torch.equal(v, state[f"model/{k}"]) for k, v in shipped.items())

    # evaluate: the test person's words, and the real digits (here three stand-in recordings) one by one.
    from neural_audio.train.kws import evaluate

    capsys.readouterr()
    assert evaluate(build_parser().parse_args([
        "evaluate", "kws", "--data", str(data), "--model", str(tmp_path / "out"), "--report", str(tmp_path / "eval"),
        "--json", "--peers", "pocketsphinx", "not_a_peer"])) == 0  # a peer that is not installed is skipped
    results = json.loads(capsys.readouterr().out)
    assert results["test_clips"] == 3 and (tmp_path / "eval" / "confusion.png").is_file()
    real = results["real_digits"]
    assert real["found"] and real["clips"] == 3 and list(real["heard"]) == ["zero", "one", "two"]
    assert real["accuracy"] == sum(h == w for w, h in real["heard"].items()) / 3
    assert results["split"] == "test"
    assert evaluate(build_parser().parse_args([
        "evaluate", "kws", "--data", str(data), "--model", str(tmp_path / "out"), "--report", str(tmp_path / "eval"),
        "--json", "--peers", "--split", "valid"])) == 0
    valid = json.loads(capsys.readouterr().out)
    assert valid["split"] == "valid" and valid["test_clips"] == 3 and "peers" not in valid


def test_persons_keeps_whole_persons(tmp_path):
    from neural_audio.data.datasets import SpeechCommands
    from neural_audio.train.kws import keep_persons

    data = tiny_speech_commands(tmp_path / "sc")
    (data / "speakers.csv").write_text("speaker,engine,voice,person,split,variant,speed,pitch\n"
                                       "aaaa1111,espeak,en-us,pa,train,,1,1\nbbbb2222,espeak,en-gb,pb,valid,,1,1\n")
    picks = set()
    for seed in range(8):
        words = SpeechCommands(data, ("train", "valid"))
        chosen = keep_persons(words, 1, seed)
        speaker = "aaaa1111" if chosen == ["pa"] else "bbbb2222"
        assert len(words) == 3 and {words.speaker(i) for i in range(3)} == {speaker}
        picks.add(chosen[0])
    assert picks == {"pa", "pb"}, "the seed draws the persons"
    words = SpeechCommands(data, ("train", "valid"))
    assert keep_persons(words, 2, 0) == ["pa", "pb"] and len(words) == 6
    with pytest.raises(SystemExit, match="between 1 and 1, the persons"):
        keep_persons(SpeechCommands(data, "train"), 2, 0)


def test_only_installed_peers_are_run(caplog):
    from neural_audio.train.common import wanted_peers

    assert wanted_peers(["numpy", "not_a_peer"]) == ["numpy"] and wanted_peers(None) == []
    assert "not_a_peer is not installed" in caplog.text
