import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neural_audio import hub

from hub_server import HubServer
from tiny_model import TinyNet

ROOT = Path(__file__).resolve().parents[1]
REPO = "neural-audio/test-checkpoints"


def test_mixin_round_trip_is_exact_and_pickle_free(tmp_path):
    torch.manual_seed(0)
    model = TinyNet(n_in=8, n_out=4, labels=["a", "b", "c", "d"]).eval()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "config.json").read_text()) == {"n_in": 8, "n_out": 4, "labels": ["a", "b", "c", "d"]}
    loaded = TinyNet.from_pretrained(tmp_path).eval()
    x = torch.randn(5, 8)
    assert torch.equal(model(x), loaded(x))
    assert loaded.labels == ["a", "b", "c", "d"]


def test_load_model_prefers_the_local_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "CHECKPOINTS_DIR", tmp_path)
    TinyNet(n_out=2).save_pretrained(tmp_path / "tiny")
    model = hub.load_model("tiny", cls=TinyNet)
    assert not model.training and model.layer.out_features == 2


def test_unknown_and_untrained_models_say_so():
    with pytest.raises(hub.ModelNotAvailable, match="no model named 'nope'"):
        hub.load_model("nope")
    for name in hub.MODEL_TITLES:
        if name not in hub.MODELS:
            assert "not been trained yet" in hub.availability(name)


def _load_in_fresh_process(checkpoints: Path, endpoint: str, offline: bool, name: str = "tiny"):
    """Run load_model the way a user's first (or later) run does: a new process, env-configured."""
    code = ("import json, torch; from neural_audio.hub import load_model; from tiny_model import TinyNet\n"
            f"m = load_model({name!r}, cls=TinyNet)\n"
            "print(json.dumps(m(torch.ones(1, 8)).tolist()))")
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "1" if offline else "0",
           "NEURAL_AUDIO_CHECKPOINTS": str(checkpoints), "NEURAL_AUDIO_HUB_REPO": REPO,
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "HF_HOME": str(checkpoints / "hf-home")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_hub_download_then_offline_reload(tmp_path):
    torch.manual_seed(1)
    source = tmp_path / "published"
    model = TinyNet().eval()
    model.save_pretrained(source)
    expected = model(torch.ones(1, 8)).tolist()
    local = tmp_path / "checkpoints"
    with HubServer.from_folder(REPO, source, "tiny") as server:
        first = _load_in_fresh_process(local, server.url, offline=False)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == expected
        assert "Downloading model 'tiny'" in first.stderr
        assert {p for _, p in server.requests} >= {f"/{REPO}/resolve/main/tiny/model.safetensors"}
        for f in hub.CHECKPOINT_FILES:
            assert (local / "tiny" / f).read_bytes() == (source / f).read_bytes()
        served = len(server.requests)
        second = _load_in_fresh_process(local, server.url, offline=True)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout) == expected
        assert len(server.requests) == served  # the second run never touched the network


def test_missing_file_on_the_hub_is_a_clear_error(tmp_path):
    source = tmp_path / "published"
    TinyNet().save_pretrained(source)
    (source / "model.safetensors").unlink()
    with HubServer.from_folder(REPO, source, "tiny") as server:
        run = _load_in_fresh_process(tmp_path / "checkpoints", server.url, offline=False)
    assert run.returncode != 0
    assert f"ModelNotAvailable: Model 'tiny' has no model.safetensors in Hub repo {REPO}@main" in run.stderr


def test_offline_with_nothing_cached_is_a_clear_error(tmp_path):
    run = _load_in_fresh_process(tmp_path / "checkpoints", "http://127.0.0.1:9", offline=True)
    assert run.returncode != 0
    assert "ModelNotAvailable: Model 'tiny' is not in" in run.stderr and "HF_HUB_OFFLINE is set" in run.stderr


def test_unreachable_hub_is_a_clear_error(tmp_path):
    with HubServer(REPO, {}) as server:
        url = server.url
    run = _load_in_fresh_process(tmp_path / "checkpoints", url, offline=False)  # server is now closed
    assert run.returncode != 0
    assert "ModelNotAvailable: Model 'tiny' is not in" in run.stderr and "could not be reached" in run.stderr
