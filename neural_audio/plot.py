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


def confusion_image(matrix: np.ndarray, labels: list[str], cell: int = 18) -> np.ndarray:
    """Row-normalised confusion matrix (true rows, predicted columns) with labels, as RGB."""
    from PIL import Image, ImageDraw

    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n, margin = len(labels), 8 * max(len(label) for label in labels) + 10
    grid = colorize(rows).repeat(cell, axis=0).repeat(cell, axis=1)
    image = Image.new("RGB", (margin + n * cell, margin + n * cell), "white")
    image.paste(Image.fromarray(grid), (margin, margin))
    draw = ImageDraw.Draw(image)
    for i, label in enumerate(labels):
        draw.text((4, margin + i * cell + 3), label, fill="black")
        column = Image.new("RGB", (margin, cell), "white")
        ImageDraw.Draw(column).text((4, 3), label, fill="black")
        image.paste(column.rotate(90, expand=True), (margin + i * cell, 0))
    return np.asarray(image)


def timeline_image(log_mel: np.ndarray, duration: float, spans: list[tuple[float, float, str]],
                   strip: int = 22) -> np.ndarray:
    """Spectrogram with a strip beneath it marking labelled time spans (keywords, events, words)."""
    from PIL import Image, ImageDraw

    top = spectrogram_image(log_mel)
    height, width = top.shape[:2]
    image = Image.new("RGB", (width, height + strip), "white")
    image.paste(Image.fromarray(top), (0, 0))
    draw = ImageDraw.Draw(image)
    scale = width / max(duration, 1e-6)
    for start, end, label in spans:
        x0, x1 = int(start * scale), max(int(end * scale), int(start * scale) + 2)
        draw.rectangle([x0, 0, x1, height - 1], outline=(255, 255, 255), width=2)
        draw.rectangle([x0, height + 2, x1, height + strip - 2], fill=(0x21, 0x91, 0x8C))
        draw.text((x0 + 3, height + 5), label, fill="white")
    return np.asarray(image)


def activity_image(probabilities: np.ndarray, labels: list[str], duration: float, row: int = 14,
                   width: int = 600) -> np.ndarray:
    """Frame probabilities (labels, frames) as a heat-map, one labelled row per class, a tick each second."""
    from PIL import Image, ImageDraw

    margin, axis = 8 * max(len(label) for label in labels) + 10, 16
    grid = Image.fromarray(colorize(probabilities).repeat(row, axis=0)).resize(
        (width, row * len(labels)), Image.Resampling.NEAREST)
    image = Image.new("RGB", (margin + width, row * len(labels) + axis), "white")
    image.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(image)
    for i, label in enumerate(labels):
        draw.text((4, i * row + 1), label, fill="black")
    step = max(1, int(np.ceil(duration / 12)))  # at most a dozen ticks
    for second in range(0, int(duration) + 1, step):
        x = margin + int(second / max(duration, 1e-6) * (width - 1))
        draw.line([x, row * len(labels), x, row * len(labels) + 4], fill="black")
        draw.text((min(x + 2, margin + width - 20), row * len(labels) + 3), f"{second}s", fill="black")
    return np.asarray(image)


# Distinct, colour-blind-safe line colours (Okabe & Ito, 2008).
_LINES = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167)]


def trajectory_image(paths: list[np.ndarray], names: list[str], size: int = 360, pad: int = 24) -> np.ndarray:
    """2-D paths (steps, 2), e.g. latent trajectories after PCA, as lines on one square RGB canvas.

    A circle marks where each path starts and a square where it ends; the axes are shared, so
    paths that sit close in the latent space sit close in the picture.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    points = np.concatenate(paths) if paths else np.zeros((1, 2))
    low, high = points.min(axis=0), points.max(axis=0)
    span = float(np.max(high - low)) or 1.0
    centre = (low + high) / 2

    def to_pixels(p: np.ndarray) -> list[tuple[float, float]]:
        xy = (p - centre) / span * (size - 2 * pad) + size / 2
        return [(float(x), float(size - y)) for x, y in xy]

    draw.line([(pad, size - pad), (size - pad, size - pad)], fill=(200, 200, 200))
    draw.line([(pad, pad), (pad, size - pad)], fill=(200, 200, 200))
    draw.text((size - pad - 30, size - pad + 4), "PC 1", fill="gray")
    draw.text((2, pad - 14), "PC 2", fill="gray")
    for k, (path, name) in enumerate(zip(paths, names)):
        color = _LINES[k % len(_LINES)]
        xy = to_pixels(path)
        if len(xy) > 1:
            draw.line(xy, fill=color, width=2)
        (x0, y0), (x1, y1) = xy[0], xy[-1]
        draw.ellipse([x0 - 5, y0 - 5, x0 + 5, y0 + 5], outline=color, width=2)
        draw.rectangle([x1 - 4, y1 - 4, x1 + 4, y1 + 4], fill=color)
        draw.text((pad + 6, 6 + 14 * k), f"{name} (o start, # end)", fill=color)
    return np.asarray(image)
