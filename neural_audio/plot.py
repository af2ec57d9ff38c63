"""Pictures for the UI as plain RGB arrays (no matplotlib: it would double the app's start-up)."""

from __future__ import annotations

import numpy as np

# The nine published anchor colours of matplotlib's perceptually uniform 'viridis' map.
_VIRIDIS = np.array([
    [0x44, 0x01, 0x54], [0x47, 0x2D, 0x7B], [0x3B, 0x52, 0x8B], [0x2C, 0x72, 0x8E], [0x21, 0x91, 0x8C],
    [0x28, 0xAE, 0x80], [0x5E, 0xC9, 0x62], [0xAD, 0xDC, 0x30], [0xFD, 0xE7, 0x25],
], dtype=np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to viridis RGB (uint8), shape (..., 3)."""
    x = np.clip(values, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    anchors = np.arange(len(_VIRIDIS))
    rgb = [np.interp(x, anchors, _VIRIDIS[:, c]) for c in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def spectrogram_image(log_mel: np.ndarray, dynamic_range_db: float = 80.0, scale: int = 3,
                      min_width: int = 600) -> np.ndarray:
    """Natural-log mel (n_mels, frames) -> RGB image, low frequencies at the bottom.

    Each mel band is ``scale`` pixels tall; short clips are stretched to at least ``min_width`` pixels.
    """
    db = log_mel * (10 / np.log(10))  # natural-log power -> dB
    top = float(db.max())
    normalized = (db - (top - dynamic_range_db)) / dynamic_range_db
    image = colorize(normalized[::-1])
    stretch = max(1, -(-min_width // max(1, image.shape[1])))  # ceiling division
    return image.repeat(scale, axis=0).repeat(stretch, axis=1)
