"""Seed sources as configs name them, selection, and the train/held-out split.

A *seed source* is one of:

- ``"builtin"``: the built-in set (:func:`~advgame.envs.seeds.load_default_seeds`);
- ``"FORMAT:PATH"``, for example ``"harmbench:data/harmbench_behaviors_text_test.csv"``;
- a mapping ``{"format": FORMAT, "path": PATH, ...}``. Besides ``format`` and ``path`` it
  takes the selection keys ``labels``, ``shuffle``, ``seed`` and ``limit``, applied to this
  source alone, and any keyword argument of the format's loader, for example
  ``{"format": "harmbench", "path": "hb.csv", "include_context": False, "limit": 50}`` or
  ``{"format": "csv", "path": "mine.csv", "text_field": "question", "label_field": "y",
  "label_map": {"unsafe": "harmful", "safe": "benign"}}``;
- a list of the above, whose seeds are concatenated in order.

``FORMAT`` is one of ``builtin``, ``wildjailbreak``, ``harmbench``, ``xstest``, ``jsonl`` and
``csv`` (see :data:`SEED_FORMATS`). Relative paths are resolved against ``base_dir`` when one
is given, such as the folder of the config file, and against the working directory otherwise.

Selection runs in a fixed order: keep the requested labels, shuffle with
``random.Random(seed)`` when ``shuffle`` is true, then keep the first ``limit`` seeds. Without
``shuffle``, ``limit`` keeps the first seeds in file order.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from advgame.envs.seeds.base import SEED_LABELS, Seed
from advgame.envs.seeds.loaders import (
    load_csv,
    load_default_seeds,
    load_harmbench,
    load_jsonl,
    load_wildjailbreak,
    load_xstest,
)
from advgame.errors import ConfigError

SeedSource = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]]

SEED_FORMATS: dict[str, Callable[..., list[Seed]]] = {
    "builtin": load_default_seeds,
    "wildjailbreak": load_wildjailbreak,
    "harmbench": load_harmbench,
    "xstest": load_xstest,
    "jsonl": load_jsonl,
    "csv": load_csv,
}
"""Format name -> loader; a loader takes the path first, then keyword arguments."""

_SELECTION_KEYS = ("labels", "shuffle", "seed", "limit")


def load_seeds(
    source: SeedSource,
    *,
    labels: str | Iterable[str] | None = None,
    shuffle: bool = False,
    seed: int = 0,
    limit: int | None = None,
    base_dir: str | Path | None = None,
) -> list[Seed]:
    """Load seeds from a source spec (see the module docstring) and select among them.

    Args:
        source: ``"builtin"``, ``"FORMAT:PATH"``, a mapping, or a list of these.
        labels: keep only these labels (``"harmful"``, ``"benign"`` or both); default: all.
        shuffle: shuffle the seeds with ``random.Random(seed)`` before ``limit``.
        seed: the shuffle seed.
        limit: keep at most this many seeds; default: all.
        base_dir: folder that relative paths are resolved against.

    Returns:
        The selected seeds; never empty.

    Raises:
        ConfigError: the spec is invalid or nothing is left after selection.
        SeedFileError: a file is missing or malformed.
    """
    if isinstance(source, (str, Mapping)):
        seeds = _load_one(source, base_dir)
    elif isinstance(source, Sequence) and source:
        seeds = [item for spec in source for item in _load_one(spec, base_dir)]
    else:
        raise ConfigError(
            "Expects `source` to be 'builtin', 'FORMAT:PATH', a mapping with 'format' and "
            f"'path', or a non-empty list of these, actual: {source!r}"
        )
    selected = select_seeds(seeds, labels=labels, shuffle=shuffle, seed=seed, limit=limit)
    if not selected:
        raise ConfigError(
            f"Expects at least one seed after selection, actual: none from {source!r} with "
            f"labels={labels!r}; check `labels` and the source's labels"
        )
    return selected


def select_seeds(
    seeds: Sequence[Seed],
    *,
    labels: str | Iterable[str] | None = None,
    shuffle: bool = False,
    seed: int = 0,
    limit: int | None = None,
) -> list[Seed]:
    """Filter by label, optionally shuffle, then truncate; the input is not modified.

    Raises:
        ConfigError: an argument has an invalid value.
    """
    wanted = _label_set(labels)
    if not isinstance(shuffle, bool):
        raise ConfigError(f"Expects `shuffle` to be true or false, actual: {shuffle!r}")
    _check_int("seed", seed, minimum=None)
    if limit is not None:
        _check_int("limit", limit, minimum=1)
    selected = [item for item in seeds if item.label in wanted]
    if shuffle:
        random.Random(seed).shuffle(selected)
    return selected if limit is None else selected[:limit]


def split_seeds(
    seeds: Sequence[Seed], held_out: float | int = 0.1, *, seed: int = 0
) -> tuple[list[Seed], list[Seed]]:
    """Split seeds into a training list and a held-out list, stratified by label.

    The held-out size is ``round(held_out * len(seeds))`` for a float in ``[0, 1)`` and
    ``held_out`` itself for an int. It is shared out over the labels in proportion to their
    counts (largest remainder first, ties to ``"harmful"``), and each label's held-out seeds
    are drawn with ``random.Random(seed)``. Both lists keep the input order. The same seeds,
    ``held_out`` and ``seed`` always give the same split.

    NOTE: the split is by position, so two identical texts can end up on both sides. Remove
    duplicates first when the held-out set must contain only unseen text.

    Returns:
        ``(train, held_out)``.

    Raises:
        ConfigError: ``held_out`` is out of range or would leave no training seed.
    """
    total = _held_out_count(held_out, len(seeds))
    _check_int("seed", seed, minimum=None)
    positions = {
        label: [i for i, item in enumerate(seeds) if item.label == label] for label in SEED_LABELS
    }
    quotas = _proportional_quotas({label: len(found) for label, found in positions.items()}, total)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label in SEED_LABELS:
        chosen.update(rng.sample(positions[label], quotas[label]))
    train = [item for i, item in enumerate(seeds) if i not in chosen]
    held = [item for i, item in enumerate(seeds) if i in chosen]
    return train, held


def _load_one(spec: str | Mapping[str, Any], base_dir: str | Path | None) -> list[Seed]:
    if isinstance(spec, str):
        spec = _parse_string_spec(spec)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"Expects each seed source to be a string or a mapping, actual: {spec!r}")
    options = dict(spec)
    name = options.pop("format", None)
    if name not in SEED_FORMATS:
        raise ConfigError(
            f"Expects `format` to be one of {sorted(SEED_FORMATS)}, actual: {name!r} in {spec!r}"
        )
    selection = {key: options.pop(key) for key in _SELECTION_KEYS if key in options}
    loader = SEED_FORMATS[name]
    if name == "builtin":
        if options:
            raise ConfigError(
                f"Expects the builtin source to take only {list(_SELECTION_KEYS)}, actual: "
                f"{sorted(options)}; remove them"
            )
        seeds = loader()
    else:
        path = options.pop("path", None)
        if not isinstance(path, (str, Path)) or not str(path):
            raise ConfigError(
                f"Expects `path` to be a file path for format {name!r}, actual: {path!r}"
            )
        _check_loader_options(name, loader, options)
        seeds = loader(_resolve(path, base_dir), **options)
    return select_seeds(seeds, **selection)


def _parse_string_spec(spec: str) -> dict[str, Any]:
    if spec == "builtin":
        return {"format": "builtin"}
    name, separator, path = spec.partition(":")
    if separator and name in SEED_FORMATS and name != "builtin" and path:
        return {"format": name, "path": path}
    formats = ", ".join(name for name in SEED_FORMATS if name != "builtin")
    raise ConfigError(
        f"Expects a seed source string 'builtin' or 'FORMAT:PATH' with FORMAT one of "
        f"{formats}, actual: {spec!r}; for example 'jsonl:seeds.jsonl'"
    )


def _check_loader_options(name: str, loader: Callable[..., Any], options: dict[str, Any]) -> None:
    accepted = [
        parameter.name
        for parameter in inspect.signature(loader).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"Expects options of format {name!r} among {['path', *_SELECTION_KEYS, *accepted]}, "
            f"actual: unknown {unknown}; check the spelling"
        )


def _resolve(path: str | Path, base_dir: str | Path | None) -> Path:
    resolved = Path(path).expanduser()
    if base_dir is not None and not resolved.is_absolute():
        resolved = Path(base_dir) / resolved
    return resolved


def _label_set(labels: str | Iterable[str] | None) -> set[str]:
    if labels is None:
        return set(SEED_LABELS)
    wanted = {labels} if isinstance(labels, str) else set(labels)
    if not wanted or not wanted <= set(SEED_LABELS):
        raise ConfigError(
            f"Expects `labels` to be 'harmful', 'benign' or a list of them, actual: {labels!r}"
        )
    return wanted


def _check_int(name: str, value: Any, *, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"Expects `{name}` to be an integer, actual: {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"Expects `{name}` to be at least {minimum}, actual: {value!r}")


def _held_out_count(held_out: float | int, size: int) -> int:
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)):
        raise ConfigError(
            f"Expects `held_out` to be a fraction in [0, 1) or a count, actual: {held_out!r}"
        )
    if isinstance(held_out, float):
        if not 0.0 <= held_out < 1.0:
            raise ConfigError(
                f"Expects a fractional `held_out` in [0, 1), actual: {held_out!r}; "
                "pass an int to give a count"
            )
        count = round(held_out * size)
    else:
        count = held_out
    if not 0 <= count < size:
        raise ConfigError(
            f"Expects `held_out` to leave at least one of {size} seeds for training, actual: "
            f"{held_out!r} ({count} held out); lower it"
        )
    return count


def _proportional_quotas(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """Share ``total`` over labels in proportion to ``counts`` by the largest remainder."""
    size = sum(counts.values())
    quotas = {label: count * total // size for label, count in counts.items()}
    remainders = sorted(
        counts, key=lambda label: (-(counts[label] * total % size), SEED_LABELS.index(label))
    )
    for label in remainders[: total - sum(quotas.values())]:
        quotas[label] += 1
    return quotas
