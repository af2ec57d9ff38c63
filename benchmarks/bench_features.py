"""Front-end and mel-inverse speed: `python benchmarks/bench_features.py [--threads N]`.

Reports median wall times: log-mel on 1 s and 10 s, our fast Griffin-Lim mel inverse against
librosa's `feature.inverse.mel_to_audio` on 4 s (both 32 iterations), and `import neural_audio`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def median_time(fn, repeat: int = 10, warmup: int = 2) -> float:
    from neural_audio.train.common import wall_times

    return float(np.median(wall_times(fn, repeat, warmup)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import librosa
    import torch

    torch.set_num_threads(args.threads)
    from neural_audio.audio import MEL_SPECS, SAMPLE_RATE
    from neural_audio.features import LogMel, MelInverse

    results: dict[str, float | int | str] = {"threads": args.threads}
    rng = np.random.default_rng(0)
    for seconds in (1, 10):
        x = torch.from_numpy(rng.standard_normal(seconds * SAMPLE_RATE).astype(np.float32) * 0.1)
        front = LogMel(MEL_SPECS["kws"])
        with torch.no_grad():
            results[f"log_mel_{seconds}s_ms"] = round(median_time(lambda: front(x), 50) * 1e3, 3)

    spec = MEL_SPECS["vae"]
    y = librosa.chirp(fmin=100, fmax=4000, sr=SAMPLE_RATE, duration=4.0).astype(np.float32) * 0.5
    mel = LogMel(spec)(torch.from_numpy(y))
    inverse = MelInverse(spec)
    ours = median_time(lambda: inverse(mel, length=y.size), 10)
    reference = median_time(lambda: librosa.feature.inverse.mel_to_audio(
        mel.exp().numpy(), sr=SAMPLE_RATE, n_fft=spec.n_fft, hop_length=spec.hop_length, fmin=spec.fmin,
        length=y.size, n_iter=32), 3, warmup=1)
    results.update(griffin_lim_4s_ms=round(ours * 1e3, 1), librosa_mel_to_audio_4s_ms=round(reference * 1e3, 1),
                   speedup=round(reference / ours, 1))

    import_times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import neural_audio"], check=True)
        import_times.append(time.perf_counter() - start)
    results["import_neural_audio_s_including_interpreter"] = round(float(np.median(import_times)), 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
