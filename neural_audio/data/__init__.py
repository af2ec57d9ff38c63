"""Offline dataset builders and dataset readers (training only; never imported by the demo)."""
