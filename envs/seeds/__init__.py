"""Seed requests: the built-in set and loaders for public data sets."""

from __future__ import annotations

import json
from importlib import resources

from advgame.envs.seeds.base import SEED_LABELS, Seed, SeedLabel

__all__ = ["SEED_LABELS", "Seed", "SeedLabel", "load_default_seeds"]


def load_default_seeds() -> list[Seed]:
    """Return the built-in seed set shipped with the package."""
    text = resources.files("advgame.envs.seeds").joinpath("default_seeds.jsonl").read_text("utf-8")
    seeds = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            seeds.append(
                Seed(row["prompt"], row["label"], row.get("category"), "builtin", row.get("id"))
            )
    return seeds
