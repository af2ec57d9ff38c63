"""Offline training data: TTS voices, soundfont instruments, builders, augmentation and datasets.

Nothing here downloads anything. The builders write the layouts of the real datasets
(Speech Commands v2, NSynth, FSD50K), so the dataset classes read either.
"""
