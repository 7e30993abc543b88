"""Seed requests: the built-in set, loaders for public data sets, selection and splits.

A seed is a plain request with a class, ``"harmful"`` or ``"benign"``
(:class:`Seed`). The attacker rewrites it, and the defender responds to the rewrite.

Quick start::

    from advgame.envs.seeds import load_seeds, split_seeds

    seeds = load_seeds("builtin")
    seeds = load_seeds({"format": "wildjailbreak", "path": "train.jsonl", "limit": 100})
    train, held_out = split_seeds(seeds, held_out=0.1, seed=0)

:mod:`advgame.envs.seeds.sources` documents the source specs that configs use, and
:mod:`advgame.envs.seeds.loaders` the file formats. Malformed files raise
:class:`advgame.errors.SeedFileError` with the path and line; loaders never log prompt
text.
"""

from __future__ import annotations

from advgame.envs.seeds.base import SEED_LABELS, Seed, SeedLabel
from advgame.envs.seeds.loaders import (
    HARMBENCH_CONTEXT_SEPARATOR,
    load_csv,
    load_default_seeds,
    load_harmbench,
    load_jsonl,
    load_wildjailbreak,
    load_xstest,
)
from advgame.envs.seeds.sources import (
    SEED_FORMATS,
    SeedSource,
    load_seeds,
    select_seeds,
    split_seeds,
)

__all__ = [
    "HARMBENCH_CONTEXT_SEPARATOR",
    "SEED_FORMATS",
    "SEED_LABELS",
    "Seed",
    "SeedLabel",
    "SeedSource",
    "load_csv",
    "load_default_seeds",
    "load_harmbench",
    "load_jsonl",
    "load_seeds",
    "load_wildjailbreak",
    "load_xstest",
    "select_seeds",
    "split_seeds",
]
