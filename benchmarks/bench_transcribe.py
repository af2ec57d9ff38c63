"""Real-time factor of `transcribe` on a 10-s clip: front end, network, decoding and word times.

Run from the repo root: `python benchmarks/bench_transcribe.py --threads 2`. The clip is the bundled
connected-speech examples, repeated to 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from neural_audio.audio import SAMPLE_RATE, load
from neural_audio.hub import load_model
from neural_audio.inference import transcribe
from neural_audio.train.common import wall_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = sorted(Path("examples").glob("words-*.wav"))
    clip = np.concatenate([load(p) for p in examples])
    audio = np.tile(clip, int(np.ceil(args.seconds * SAMPLE_RATE / clip.size)))[: int(args.seconds * SAMPLE_RATE)]
    model = load_model("ctc-rnn")
    results = {"threads": args.threads, "seconds": args.seconds,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)")}
    for name, beam in (("greedy", 0), ("beam16", 16), ("beam8", 8)):
        times = wall_times(lambda: transcribe(audio, orig_sr=SAMPLE_RATE, beam=beam, model=model), args.repeats,
                           warmup=3)
        results[f"rtf_{name}_median"] = round(float(np.median(times)) / args.seconds, 5)
        results[f"rtf_{name}_min"] = round(float(np.min(times)) / args.seconds, 5)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
