"""Loaders that turn seed files into lists of :class:`~advgame.envs.seeds.Seed`.

Formats:

========================  ====================================================================
loader                    file
========================  ====================================================================
``load_default_seeds``    the built-in set shipped in the package (``default_seeds.jsonl``)
``load_wildjailbreak``    WildJailbreak JSON Lines: ``{"prompt", "category"}``, where
                          ``category`` is ``"harmful"`` or ``"benign"`` and gives the label
``load_harmbench``        HarmBench behaviours CSV: ``Behavior, FunctionalCategory,
                          SemanticCategory, Tags, ContextString, BehaviorID``; all harmful
``load_xstest``           XSTest JSON: an array of ``{id, type, prompt, ...}``; a ``type``
                          starting with ``contrast_`` is harmful, every other type benign
``load_jsonl``            any JSON Lines file, with a field mapping
``load_csv``              any CSV file with a header row, with a column mapping
========================  ====================================================================

Every loader checks the whole file before it returns: a malformed row raises
:class:`~advgame.errors.SeedFileError` with the path and the 1-based line on which the row
starts, and no partial list is returned. Rows with empty or whitespace-only text are errors
unless ``skip_empty=True``, which leaves them out and logs their count and lines. Seeds get
``source`` = the file name (``"builtin"`` for the built-in set) and, when the file has no
id, ``id`` = ``"<file stem>:<line>"``. Loaders log counts only, never prompt text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from advgame.envs.seeds.base import SEED_LABELS, Seed, SeedLabel
from advgame.envs.seeds.reading import (
    SeedCollector,
    build_label_map,
    describe,
    iter_csv,
    iter_jsonl,
    optional_string,
    parse_json_array,
    parse_label,
    read_text,
    require_field,
)
from advgame.errors import ConfigError, SeedFileError

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

HARMBENCH_COLUMNS = (
    "Behavior",
    "FunctionalCategory",
    "SemanticCategory",
    "Tags",
    "ContextString",
    "BehaviorID",
)
HARMBENCH_CONTEXT_SEPARATOR = "\n\n---\n\n"
"""Separator between a HarmBench ``ContextString`` and its ``Behavior`` in the seed text.

HarmBench's direct-request baseline builds its contextual test cases with the same layout
(``context + separator + behavior``), so contextual seeds read as the benchmark intends.
"""
XSTEST_HARMFUL_PREFIX = "contrast_"


@dataclass(frozen=True)
class _FieldMap:
    """Field names of a row's text, label, category and id, and the label mapping."""

    text: str
    label_field: str | None
    fixed_label: SeedLabel | None
    category: str | None
    id: str | None
    labels: Mapping[str, SeedLabel]

    def required(self) -> tuple[str, ...]:
        names = [self.text, self.label_field if self.fixed_label is None else None]
        names += [self.category, self.id]
        return tuple(dict.fromkeys(name for name in names if name is not None))


def _field_map(
    text_field: str,
    label_field: str | None,
    label: str | None,
    category_field: str | None,
    id_field: str | None,
    label_map: Mapping[Any, str] | None,
) -> _FieldMap:
    if label is not None and label not in SEED_LABELS:
        raise ConfigError(
            f"Expects `label` to be 'harmful', 'benign' or None, actual: {label!r}; "
            "pass None to read the label from `label_field`"
        )
    if label is None and label_field is None:
        raise ConfigError(
            "Expects `label_field` or `label`, actual: both None; name the column that contains "
            "the label, or pass label='harmful' or label='benign' for the whole file"
        )
    names = {"text_field": text_field, "label_field": label_field}
    names |= {"category_field": category_field, "id_field": id_field}
    for argument, name in names.items():
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(
                f"Expects `{argument}` to be a non-empty field name, actual: {name!r}"
            )
    return _FieldMap(
        text_field, label_field, label, category_field, id_field, build_label_map(label_map)
    )


def _collect_mapped(
    rows: Iterable[tuple[int, Mapping[str, Any]]], fields: _FieldMap, collector: SeedCollector
) -> list[Seed]:
    path = collector.path
    rows_read = 0
    for line, row in rows:
        rows_read += 1
        text = require_field(row, fields.text, path, line)
        label = fields.fixed_label
        if label is None:
            assert fields.label_field is not None  # _field_map requires one of the two
            raw = require_field(row, fields.label_field, path, line)
            label = parse_label(raw, fields.labels, fields.label_field, path, line)
        collector.add(
            line,
            text,
            label,
            text_field=fields.text,
            category=optional_string(row, fields.category, path, line),
            seed_id=optional_string(row, fields.id, path, line),
        )
    return collector.finish(rows_read=rows_read)


def load_jsonl(
    path: PathLike,
    *,
    text_field: str = "prompt",
    label_field: str | None = "label",
    label: SeedLabel | None = None,
    category_field: str | None = None,
    id_field: str | None = None,
    label_map: Mapping[Any, str] | None = None,
    source: str | None = None,
    skip_empty: bool = False,
) -> list[Seed]:
    """Load seeds from a JSON Lines file with one JSON object per line and blank lines skipped.

    Args:
        path: the ``.jsonl`` file.
        text_field: field that contains the request text.
        label_field: field that contains the label. It is not read when ``label`` is given.
        label: a fixed label for every row, instead of ``label_field``.
        category_field: optional field for :attr:`Seed.category`; null or empty gives None.
        id_field: optional field for :attr:`Seed.id` (a string or integer, unique in the
            file); without it ids are ``"<file stem>:<line>"``.
        label_map: extra raw label values and their labels, such as
            ``{"unsafe": "harmful", "safe": "benign", 1: "harmful"}``. ``"harmful"`` and
            ``"benign"`` always map to themselves. Matching uses ``str(value)``, stripped
            and case-folded.
        source: :attr:`Seed.source` of every seed; default: the file name.
        skip_empty: leave out rows whose text is empty or whitespace, logging their count.

    Raises:
        SeedFileError: the file is missing or a line is malformed (invalid JSON, not an
            object, a missing field, an unknown label value, empty text, a duplicate id).
        ConfigError: the field mapping is invalid.
    """
    fields = _field_map(text_field, label_field, label, category_field, id_field, label_map)
    file_path = Path(path)
    text = read_text(file_path)
    collector = SeedCollector(str(file_path), source or file_path.name, skip_empty=skip_empty)
    return _collect_mapped(iter_jsonl(text, str(file_path)), fields, collector)


def load_csv(
    path: PathLike,
    *,
    text_field: str = "prompt",
    label_field: str | None = "label",
    label: SeedLabel | None = None,
    category_field: str | None = None,
    id_field: str | None = None,
    label_map: Mapping[Any, str] | None = None,
    source: str | None = None,
    skip_empty: bool = False,
    delimiter: str = ",",
) -> list[Seed]:
    """Load seeds from a CSV file whose first row is a header.

    The arguments are those of :func:`load_jsonl`, with column names in place of JSON
    fields, plus ``delimiter`` (one character, ``","`` by default). An empty cell in the
    category or id column gives None. Quoted cells may span lines; an error then names the
    line on which the record starts.

    Raises:
        SeedFileError: the file is missing, the header lacks a mapped column, or a record
            is malformed (bad quoting, a wrong number of fields, an unknown label value,
            empty text, a duplicate id).
        ConfigError: the column mapping is invalid.
    """
    fields = _field_map(text_field, label_field, label, category_field, id_field, label_map)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"Expects `delimiter` to be one character, actual: {delimiter!r}")
    file_path = Path(path)
    text = read_text(file_path)
    collector = SeedCollector(str(file_path), source or file_path.name, skip_empty=skip_empty)
    rows = iter_csv(text, str(file_path), fields.required(), delimiter)
    return _collect_mapped(rows, fields, collector)


def load_wildjailbreak(
    path: PathLike,
    *,
    label: SeedLabel | None = None,
    source: str | None = None,
    skip_empty: bool = False,
) -> list[Seed]:
    """Load a WildJailbreak JSON Lines file of ``{"prompt": ..., "category": ...}`` rows.

    The label is the ``category`` field (``"harmful"`` or ``"benign"``). With ``label``
    given, every row gets that label and ``category`` is not read. :attr:`Seed.category` is
    None, because the field carries only the label.

    Raises:
        SeedFileError: as :func:`load_jsonl`.
    """
    return load_jsonl(
        path,
        text_field="prompt",
        label_field="category",
        label=label,
        source=source,
        skip_empty=skip_empty,
    )


def load_harmbench(
    path: PathLike,
    *,
    include_context: bool = True,
    functional_categories: Collection[str] | None = None,
    source: str | None = None,
    skip_empty: bool = False,
) -> list[Seed]:
    """Load a HarmBench behaviours CSV; every behaviour is a harmful seed.

    :attr:`Seed.category` is ``SemanticCategory`` and :attr:`Seed.id` is ``BehaviorID``.

    Args:
        path: the CSV file.
        include_context: keep rows with a ``ContextString``, with the seed text
            ``ContextString + HARMBENCH_CONTEXT_SEPARATOR + Behavior``
            (``"\\n\\n---\\n\\n"``). With False those rows are left out.
        functional_categories: keep only rows whose ``FunctionalCategory`` is in this
            collection (HarmBench uses ``"standard"``, ``"contextual"`` and
            ``"copyright"``); default: all rows.
        source: :attr:`Seed.source`; default: the file name.
        skip_empty: leave out rows with an empty ``Behavior``, logging their count.

    Raises:
        SeedFileError: the file is missing or malformed (see :func:`load_csv`).
        ConfigError: ``functional_categories`` names a category that no row of the file has.
    """
    wanted = _string_set(functional_categories, "functional_categories")
    file_path = Path(path)
    text = read_text(file_path)
    collector = SeedCollector(str(file_path), source or file_path.name, skip_empty=skip_empty)
    seen_categories: set[str] = set()
    rows_read = skipped_for_context = 0
    for line, row in iter_csv(text, str(file_path), HARMBENCH_COLUMNS):
        rows_read += 1
        functional = row["FunctionalCategory"].strip()
        seen_categories.add(functional)
        if wanted is not None and functional not in wanted:
            continue
        behavior, context = row["Behavior"], row["ContextString"]
        if context.strip() and not include_context:
            skipped_for_context += 1
            continue
        seed_text = behavior
        if context.strip() and behavior.strip():
            seed_text = f"{context}{HARMBENCH_CONTEXT_SEPARATOR}{behavior}"
        collector.add(
            line,
            seed_text,
            "harmful",
            text_field="Behavior",
            category=row["SemanticCategory"].strip() or None,
            seed_id=row["BehaviorID"].strip() or None,
        )
    if wanted is not None and not wanted <= seen_categories:
        raise ConfigError(
            f"Expects `functional_categories` among those in {file_path}: "
            f"{sorted(seen_categories)}, actual: {sorted(wanted - seen_categories)} not found; "
            "check the spelling"
        )
    if skipped_for_context:
        logger.info("left out %d contextual rows of %s", skipped_for_context, file_path)
    return collector.finish(rows_read=rows_read)


def load_xstest(
    path: PathLike, *, source: str | None = None, skip_empty: bool = False
) -> list[Seed]:
    """Load an XSTest JSON file: an array of objects with ``type`` and ``prompt``.

    A ``type`` starting with ``contrast_`` marks an unsafe prompt, which becomes a harmful
    seed. Every other type marks a safe prompt that only resembles an unsafe one, which
    becomes a benign seed.
    :attr:`Seed.category` is the ``type`` and :attr:`Seed.id` the optional ``id`` field.

    Raises:
        SeedFileError: the file is missing, is not valid JSON, its top level is not an
            array, or an item is not an object or lacks ``prompt`` or ``type``; the line
            is the one on which the item starts.
    """
    file_path = Path(path)
    display = str(file_path)
    items = parse_json_array(read_text(file_path), display)
    collector = SeedCollector(display, source or file_path.name, skip_empty=skip_empty)
    for line, item in items:
        if not isinstance(item, dict):
            raise SeedFileError(display, line, "a JSON object in the array", describe(item))
        kind = require_field(item, "type", display, line)
        if not isinstance(kind, str) or not kind.strip():
            raise SeedFileError(display, line, "a non-empty string in field 'type'", describe(kind))
        label: SeedLabel = "harmful" if kind.startswith(XSTEST_HARMFUL_PREFIX) else "benign"
        collector.add(
            line,
            require_field(item, "prompt", display, line),
            label,
            text_field="prompt",
            category=kind.strip(),
            seed_id=optional_string(item, "id" if "id" in item else None, display, line),
        )
    return collector.finish(rows_read=len(items))


def load_default_seeds() -> list[Seed]:
    """Return the built-in seed set shipped with the package.

    Rows of ``default_seeds.jsonl`` are ``{"id", "prompt", "label", "category"}``. The set
    was written for advgame: one-sentence harmful requests over common harm categories
    (requests only, with no harmful content in the text), everyday benign requests, and
    benign requests that only sound dangerous (category ``"benign_sounds_harmful"``), which
    probe over-refusal.
    """
    resource = resources.files("advgame.envs.seeds").joinpath("default_seeds.jsonl")
    display = "advgame/envs/seeds/default_seeds.jsonl"
    fields = _field_map("prompt", "label", None, "category", "id", None)
    collector = SeedCollector(display, "builtin")
    return _collect_mapped(iter_jsonl(resource.read_text("utf-8"), display), fields, collector)


def _string_set(values: Collection[str] | None, argument: str) -> set[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise ConfigError(
            f"Expects `{argument}` to be a list of strings, actual: {values!r}; "
            f"write {argument}=[{values!r}] for a single value"
        )
    if not values:
        raise ConfigError(f"Expects `{argument}` to be non-empty or None, actual: {values!r}")
    return set(values)
