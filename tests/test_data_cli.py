"""``python -m neural_audio data``: fast help, one command builds and reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neural_audio", *args], capture_output=True, text=True, env=ENV,
                          timeout=300)


def test_help_is_fast_and_lists_builders():
    started = time.perf_counter()
    proc = _run("data", "--help")
    assert proc.returncode == 0 and time.perf_counter() - started < 5
    for name in ("speech-commands", "connected-words", "nsynth", "tagging"):
        assert name in proc.stdout
    assert "numpy" not in subprocess.run(
        [sys.executable, "-c", "import sys, neural_audio.cli as c; c.build_parser(); print(' '.join(sys.modules))"],
        capture_output=True, text=True, env=ENV).stdout.split()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (install-data-tools.sh)")
def test_speech_commands_command(tmp_path):
    proc = _run("data", "speech-commands", "--out", str(tmp_path / "sc"), "--engines", "espeak", "--words", "yes,no",
                "--speakers-per-person", "1", "--noise-seconds", "1", "--workers", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["clips"] == {"test": 4, "train": 10, "valid": 2}
    assert report["persons"]["test"] == ["espeak-en-029", "espeak-en-us-nyc"]
    assert "speech-commands" in proc.stderr  # the progress bar
    assert (tmp_path / "sc" / "yes").is_dir() and (tmp_path / "sc" / "build_report.json").exists()
