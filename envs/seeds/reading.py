"""Line-aware readers for seed files and the row checks that every loader shares.

Each reader yields ``(line, row)`` pairs, where ``line`` is the 1-based physical line on which
the row starts, so that every :class:`~advgame.errors.SeedFileError` names the exact place
of the problem. Error messages describe values by type and length, never by their text,
because a seed file may contain harmful requests.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from advgame.envs.seeds.base import SEED_LABELS, Seed, SeedLabel
from advgame.errors import ConfigError, SeedFileError

logger = logging.getLogger(__name__)

_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SHORT_VALUE_CHARS = 30


def read_text(path: Path) -> str:
    """Read a seed file as UTF-8 text and drop a byte-order mark at its start.

    Raises:
        SeedFileError: the file is missing, is a directory, cannot be read or is not UTF-8.
    """
    if not path.exists():
        raise SeedFileError(str(path), None, "an existing file", "no such file; check the path")
    if path.is_dir():
        raise SeedFileError(str(path), None, "a file", "a directory")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SeedFileError(str(path), None, "a readable file", err.strerror or str(err)) from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise SeedFileError(
            str(path), line, "UTF-8 text", f"an invalid byte at offset {err.start}"
        ) from err


def describe(value: Any, *, quote_short: bool = False) -> str:
    """Describe a value for an error message without echoing its text.

    Strings are described by length only, since they may be a harmful prompt. With
    ``quote_short``, a string of at most 30 characters on one line is quoted in full, which
    suits label values such as ``'unsafe'``.
    """
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a whitespace-only string"
        if quote_short and len(value) <= _SHORT_VALUE_CHARS and "\n" not in value:
            return repr(value)
        return f"a string of {len(value)} characters"
    return f"a JSON {json_type_name(value)}"


def json_type_name(value: Any) -> str:
    """Return the JSON name of a decoded value's type (object, array, string, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def iter_jsonl(text: str, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` for each non-blank line of a JSON Lines text.

    Raises:
        SeedFileError: a line is not valid JSON or not a JSON object.
    """
    # Split on "\n" alone: str.splitlines() also breaks at U+2028 and other separators that
    # JSON strings may contain unescaped.
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SeedFileError(
                path,
                line_number,
                "a JSON object",
                f"invalid JSON ({err.msg} at column {err.colno})",
            ) from err
        if not isinstance(row, dict):
            raise SeedFileError(path, line_number, "a JSON object", f"a JSON {json_type_name(row)}")
        yield line_number, row


def iter_csv(
    text: str, path: str, required: tuple[str, ...], delimiter: str = ","
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each record of a CSV text with a header row.

    Quoted fields may span several lines, so ``line`` is the line on which the record
    starts. The header is line 1 when the file starts with it. Blank lines are skipped.

    Raises:
        SeedFileError: the header lacks a required column, a record has a different number
            of fields than the header, or the quoting is malformed.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    end_of_previous = 0
    while True:
        start = end_of_previous + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise SeedFileError(path, start, "a valid CSV record", f"a CSV error ({err})") from err
        end_of_previous = reader.line_num
        if not fields:
            continue
        if header is None:
            header = [name.strip() for name in fields]
            missing = [name for name in required if name not in header]
            if missing:
                raise SeedFileError(
                    path,
                    start,
                    f"a header with the column(s) {', '.join(missing)}",
                    f"columns {', '.join(repr(name) for name in header)}",
                )
            continue
        if len(fields) != len(header):
            raise SeedFileError(
                path, start, f"{len(header)} fields as in the header", f"{len(fields)} fields"
            )
        yield start, dict(zip(header, fields, strict=True))
    if header is None:
        raise SeedFileError(path, None, "a CSV header row", "an empty file")


def parse_json_array(text: str, path: str) -> list[tuple[int, Any]]:
    """Decode a JSON text whose top level is an array, keeping the start line of each item.

    Raises:
        SeedFileError: the text is not valid JSON, or its top level is not an array.
    """
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    position = _skip_json_whitespace(text, 0)
    if position == len(text):
        raise SeedFileError(path, None, "a JSON array", "an empty file")
    if text[position] != "[":
        value, _ = _decode_value(decoder, text, position, path)
        raise SeedFileError(
            path,
            lines.line_at(position),
            "a JSON array at the top level",
            f"a JSON {json_type_name(value)}",
        )
    items: list[tuple[int, Any]] = []
    position = _skip_json_whitespace(text, position + 1)
    if text.startswith("]", position):
        return items
    while True:
        line = lines.line_at(position)
        value, position = _decode_value(decoder, text, position, path)
        items.append((line, value))
        position = _skip_json_whitespace(text, position)
        if text.startswith(",", position):
            position = _skip_json_whitespace(text, position + 1)
            continue
        if text.startswith("]", position):
            break
        found = "the end of the file" if position == len(text) else repr(text[position])
        raise SeedFileError(path, lines.line_at(position), "',' or ']' in the JSON array", found)
    trailing = _skip_json_whitespace(text, position + 1)
    if trailing < len(text):
        raise SeedFileError(
            path, lines.line_at(trailing), "the end of the file after the JSON array", "more data"
        )
    return items


def _skip_json_whitespace(text: str, position: int) -> int:
    match = _JSON_WHITESPACE.match(text, position)
    assert match is not None  # the pattern also matches the empty string
    return match.end()


def _decode_value(
    decoder: json.JSONDecoder, text: str, position: int, path: str
) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, position)
    except json.JSONDecodeError as err:
        raise SeedFileError(
            path, err.lineno, "valid JSON", f"invalid JSON ({err.msg} at column {err.colno})"
        ) from err


class _LineCounter:
    """Map increasing character offsets to 1-based line numbers in linear total time."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1

    def line_at(self, offset: int) -> int:
        if offset < self._offset:
            return self._text.count("\n", 0, offset) + 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def require_field(row: Mapping[str, Any], field: str, path: str, line: int) -> Any:
    """Return ``row[field]``, raising a :class:`SeedFileError` that lists the fields when absent."""
    if field not in row:
        present = ", ".join(repr(name) for name in list(row)[:10]) or "none"
        raise SeedFileError(path, line, f"a field {field!r}", f"fields {present}")
    return row[field]


def optional_string(row: Mapping[str, Any], field: str | None, path: str, line: int) -> str | None:
    """Return a category or id field as a string, ``None`` when it is empty or null.

    JSON numbers are accepted and converted with ``str`` so that numeric ids work.
    """
    if field is None:
        return None
    value = require_field(row, field, path, line)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SeedFileError(path, line, f"a string in field {field!r}", describe(value))
    text = str(value).strip()
    return text or None


def normalize_label_key(value: Any) -> str:
    """Return the lookup key for a raw label value: its ``str``, stripped and case-folded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().casefold()


def build_label_map(label_map: Mapping[Any, str] | None) -> dict[str, SeedLabel]:
    """Merge a user's raw-value -> label mapping over the identity mapping of the two labels.

    Raises:
        ConfigError: a mapped value is neither ``"harmful"`` nor ``"benign"``.
    """
    merged: dict[str, SeedLabel] = {"harmful": "harmful", "benign": "benign"}
    for raw, label in (label_map or {}).items():
        if label not in SEED_LABELS:
            raise ConfigError(
                f"Expects every value of label_map to be 'harmful' or 'benign', actual: "
                f"{label!r} for key {raw!r}; map each raw label value to one of the two"
            )
        merged[normalize_label_key(raw)] = label
    return merged


def parse_label(
    value: Any, label_map: Mapping[str, SeedLabel], field: str, path: str, line: int
) -> SeedLabel:
    """Map a raw label value to ``"harmful"`` or ``"benign"`` through ``label_map``."""
    if isinstance(value, (str, int, bool)):
        label = label_map.get(normalize_label_key(value))
        if label is not None:
            return label
    known = ", ".join(repr(key) for key in sorted(label_map))
    raise SeedFileError(
        path,
        line,
        f"a label in field {field!r} among {known} (extend it with label_map)",
        describe(value, quote_short=True),
    )


class SeedCollector:
    """Build the seeds of one file row by row with the checks that all formats share.

    Every row must have non-empty text; with ``skip_empty`` an empty or whitespace-only text
    is left out and counted in one warning instead. Ids must be unique within the file.
    """

    def __init__(self, path: str, source: str, *, skip_empty: bool = False) -> None:
        self.path = path
        self.source = source
        self.skip_empty = skip_empty
        self.seeds: list[Seed] = []
        self.skipped_lines: list[int] = []
        self._id_lines: dict[str, int] = {}

    def add(
        self,
        line: int,
        text: Any,
        label: SeedLabel,
        *,
        text_field: str,
        category: str | None = None,
        seed_id: str | None = None,
    ) -> None:
        """Append one seed; ``text`` is the raw value read from ``text_field``."""
        if not isinstance(text, str):
            raise SeedFileError(
                self.path, line, f"a string in field {text_field!r}", describe(text)
            )
        if not text.strip():
            if self.skip_empty:
                self.skipped_lines.append(line)
                return
            raise SeedFileError(
                self.path,
                line,
                f"non-empty text in field {text_field!r} (or skip_empty=True)",
                describe(text),
            )
        if seed_id is None:
            seed_id = f"{Path(self.path).stem}:{line}"
        elif seed_id in self._id_lines:
            raise SeedFileError(
                self.path,
                line,
                "a unique id",
                f"id {seed_id!r} also on line {self._id_lines[seed_id]}",
            )
        self._id_lines[seed_id] = line
        self.seeds.append(Seed(text, label, category, self.source, seed_id))

    def finish(self, *, rows_read: int) -> list[Seed]:
        """Return the collected seeds after logging skipped rows.

        Raises:
            SeedFileError: the file contains no data rows at all.
        """
        if rows_read == 0:
            raise SeedFileError(self.path, None, "at least one data row", "no rows")
        if self.skipped_lines:
            shown = ", ".join(str(line) for line in self.skipped_lines[:10])
            more = "" if len(self.skipped_lines) <= 10 else ", ..."
            logger.warning(
                "skipped %d row(s) with empty text in %s (lines %s%s)",
                len(self.skipped_lines),
                self.path,
                shown,
                more,
            )
        logger.info(
            "loaded %d seeds (%d harmful, %d benign) from %s",
            len(self.seeds),
            sum(seed.is_harmful for seed in self.seeds),
            sum(not seed.is_harmful for seed in self.seeds),
            self.path,
        )
        return self.seeds
