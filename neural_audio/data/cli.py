"""The `data` subcommands: each builds one dataset layout from offline sources."""

from __future__ import annotations

import argparse


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add one parser per dataset builder; heavy imports happen inside each command."""
