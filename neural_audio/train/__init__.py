"""Training loops and evaluation, one module per model family (never imported by the demo)."""
