"""Tests of the seed package: the built-in set, every loader, source specs and splits."""

from __future__ import annotations

import collections
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advgame.envs.seeds import (
    HARMBENCH_CONTEXT_SEPARATOR,
    Seed,
    load_csv,
    load_default_seeds,
    load_harmbench,
    load_jsonl,
    load_seeds,
    load_wildjailbreak,
    load_xstest,
    select_seeds,
    split_seeds,
)
from advgame.errors import ConfigError, SeedFileError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Stands in for harmful text in malformed files; no error message may contain it.
SECRET = "SECRET-PROMPT-TEXT"

HARM_CATEGORIES = {
    "cybercrime",
    "weapons",
    "chemical_biological",
    "violence",
    "self_harm",
    "harassment_hate",
    "fraud_scams",
    "drugs",
    "privacy_surveillance",
    "misinformation",
    "illegal_activity",
    "sexual_nonconsent",
}

WILDJAILBREAK_FILES = [
    ("valid_vanilla_harmful_256.jsonl", 256, "harmful"),
    ("valid_vanilla_benign_256.jsonl", 256, "benign"),
    ("valid_adversarial_harmful_256.jsonl", 256, "harmful"),
    ("valid_adversarial_benign_128.jsonl", 128, "benign"),
]
HARMBENCH_FILE = "harmbench/harmbench_behaviors_text_test.csv"
XSTEST_FILE = "xstest/xstest_v2.json"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def count_labels(seeds: list[Seed]) -> collections.Counter[str]:
    return collections.Counter(seed.label for seed in seeds)


# --- the built-in set -------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin() -> list[Seed]:
    return load_default_seeds()


def test_builtin_size(builtin: list[Seed]) -> None:
    counts = count_labels(builtin)
    assert counts["harmful"] >= 60
    assert counts["benign"] >= 60
    assert set(counts) == {"harmful", "benign"}


def test_builtin_balance(builtin: list[Seed]) -> None:
    counts = count_labels(builtin)
    assert 0.8 <= counts["harmful"] / counts["benign"] <= 1.25


def test_builtin_harm_categories(builtin: list[Seed]) -> None:
    categories = collections.Counter(seed.category for seed in builtin if seed.is_harmful)
    assert set(categories) == HARM_CATEGORIES
    assert min(categories.values()) >= 4


def test_builtin_benign_categories(builtin: list[Seed]) -> None:
    categories = collections.Counter(seed.category for seed in builtin if not seed.is_harmful)
    assert categories["benign_sounds_harmful"] >= 20
    assert len(categories) >= 10
    assert not set(categories) & HARM_CATEGORIES


def test_builtin_ids_unique(builtin: list[Seed]) -> None:
    ids = [seed.id for seed in builtin]
    assert None not in ids
    assert len(set(ids)) == len(ids)


def test_builtin_no_duplicate_prompts(builtin: list[Seed]) -> None:
    normalized = [" ".join(seed.text.casefold().split()) for seed in builtin]
    duplicates = [text for text, n in collections.Counter(normalized).items() if n > 1]
    assert duplicates == []


def test_builtin_rows_are_one_sentence(builtin: list[Seed]) -> None:
    for seed in builtin:
        assert seed.source == "builtin"
        assert seed.category
        assert "\n" not in seed.text, seed.id
        assert seed.text == seed.text.strip(), seed.id
        assert len(seed.text) <= 160, seed.id
        assert seed.text[-1] in ".?", seed.id


def test_builtin_file_rows_have_all_fields() -> None:
    path = PROJECT_ROOT / "envs" / "seeds" / "default_seeds.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"id", "prompt", "label", "category"}


@pytest.mark.slow
def test_builtin_in_regular_install(tmp_path: Path) -> None:
    # Build from a clean copy: an in-tree build/ folder left by an earlier build could
    # supply stale files and hide a missing package-data entry.
    source = tmp_path / "source"
    shutil.copytree(
        PROJECT_ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "runs"),
    )
    target = tmp_path / "site"
    install = ["install", "--quiet", "--no-deps", "--no-build-isolation", "--target"]
    pip = [sys.executable, "-m", "pip", *install, str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    assert (target / "advgame" / "envs" / "seeds" / "default_seeds.jsonl").is_file()
    assert (target / "advgame" / "presets" / "cpu_dpo.yaml").is_file()

    # Import from another working directory, with only the installed copy on PYTHONPATH.
    script = (
        "import advgame.envs.seeds as s, json; "
        "print(json.dumps([s.__file__, len(s.load_default_seeds())]))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    command = [sys.executable, "-c", script]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, check=True, capture_output=True, text=True, timeout=120
    )
    module_file, count = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(module_file).is_relative_to(target)
    assert count == len(load_default_seeds())


# --- the public data sets ----------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(("name", "rows", "label"), WILDJAILBREAK_FILES)
def test_wildjailbreak_files(shared_data: Path, name: str, rows: int, label: str) -> None:
    seeds = load_wildjailbreak(shared_data / "wildjailbreak" / name)
    assert len(seeds) == rows
    assert count_labels(seeds) == {label: rows}
    assert all(seed.source == name for seed in seeds)
    assert len({seed.id for seed in seeds}) == rows
    assert seeds[0].id == f"{Path(name).stem}:1"


@pytest.mark.data
def test_wildjailbreak_forced_label(shared_data: Path) -> None:
    path = shared_data / "wildjailbreak" / "valid_adversarial_harmful_256.jsonl"
    seeds = load_wildjailbreak(path, label="benign")
    assert count_labels(seeds) == {"benign": 256}


@pytest.mark.data
def test_harmbench_file(shared_data: Path) -> None:
    seeds = load_harmbench(shared_data / HARMBENCH_FILE)
    assert len(seeds) == 320
    assert count_labels(seeds) == {"harmful": 320}
    assert len({seed.id for seed in seeds}) == 320
    assert {seed.category for seed in seeds} == {
        "copyright",
        "misinformation_disinformation",
        "illegal",
        "cybercrime_intrusion",
        "chemical_biological",
        "harassment_bullying",
        "harmful",
    }
    assert sum(HARMBENCH_CONTEXT_SEPARATOR in seed.text for seed in seeds) == 81


@pytest.mark.data
def test_harmbench_row_matches_csv(shared_data: Path) -> None:
    path = shared_data / HARMBENCH_FILE
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {row["BehaviorID"]: row for row in csv.DictReader(handle)}
    for seed in load_harmbench(path):
        row = rows[seed.id]
        assert seed.category == row["SemanticCategory"]
        if row["ContextString"]:
            expected = row["ContextString"] + HARMBENCH_CONTEXT_SEPARATOR + row["Behavior"]
        else:
            expected = row["Behavior"]
        assert seed.text == expected


@pytest.mark.data
def test_harmbench_without_context(shared_data: Path) -> None:
    seeds = load_harmbench(shared_data / HARMBENCH_FILE, include_context=False)
    assert len(seeds) == 320 - 81
    assert not any(HARMBENCH_CONTEXT_SEPARATOR in seed.text for seed in seeds)


@pytest.mark.data
def test_harmbench_functional_filter(shared_data: Path) -> None:
    path = shared_data / HARMBENCH_FILE
    assert len(load_harmbench(path, functional_categories=["standard"])) == 159
    assert len(load_harmbench(path, functional_categories=["standard", "copyright"])) == 239
    contextual = load_harmbench(path, functional_categories=["contextual"], include_context=False)
    assert contextual == []


@pytest.mark.data
def test_harmbench_unknown_functional_category(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match="standart"):
        load_harmbench(shared_data / HARMBENCH_FILE, functional_categories=["standart"])
    with pytest.raises(ConfigError, match="list of strings"):
        load_harmbench(shared_data / HARMBENCH_FILE, functional_categories="standard")


@pytest.mark.data
def test_xstest_file(shared_data: Path) -> None:
    seeds = load_xstest(shared_data / XSTEST_FILE)
    assert len(seeds) == 450
    assert count_labels(seeds) == {"harmful": 200, "benign": 250}
    assert len({seed.id for seed in seeds}) == 450
    for seed in seeds:
        assert seed.category is not None
        assert seed.is_harmful == seed.category.startswith("contrast_")
    assert len({seed.category for seed in seeds}) == 18


@pytest.mark.data
def test_load_seeds_on_shared_data(shared_data: Path) -> None:
    seeds = load_seeds(
        [
            {
                "format": "wildjailbreak",
                "path": "wildjailbreak/valid_vanilla_harmful_256.jsonl",
                "limit": 32,
            },
            f"xstest:{XSTEST_FILE}",
        ],
        labels="benign",
        base_dir=shared_data,
    )
    assert len(seeds) == 250
    assert {seed.source for seed in seeds} == {"xstest_v2.json"}


# --- generic loaders ---------------------------------------------------------------------


def test_jsonl_field_mapping(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"question": "How do tides work?", "y": "SAFE", "topic": "science", "uid": 7},
            {"question": "Do a bad thing.", "y": "unsafe", "topic": None, "uid": "x-2"},
            {"question": "Another bad thing.", "y": 1, "topic": "", "uid": 9},
        ],
    )
    seeds = load_jsonl(
        path,
        text_field="question",
        label_field="y",
        category_field="topic",
        id_field="uid",
        label_map={"unsafe": "harmful", "safe": "benign", 1: "harmful"},
    )
    assert [seed.label for seed in seeds] == ["benign", "harmful", "harmful"]
    assert [seed.category for seed in seeds] == ["science", None, None]
    assert [seed.id for seed in seeds] == ["7", "x-2", "9"]
    assert {seed.source for seed in seeds} == {"mine.jsonl"}


def test_jsonl_fixed_label(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    seeds = load_jsonl(path, label="benign", source="custom")
    assert [seed.label for seed in seeds] == ["benign", "benign"]
    assert [seed.id for seed in seeds] == ["plain:1", "plain:2"]
    assert {seed.source for seed in seeds} == {"custom"}


def test_jsonl_blank_lines_keep_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('\n{"prompt": "a", "label": "benign"}\n\n{"prompt": "b", "label": "harmful"}\n')
    assert [seed.id for seed in load_jsonl(path)] == ["gaps:2", "gaps:4"]


def test_csv_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "\ufeffid;text;verdict;kind\n"
        '1;"Line one\nline two";unsafe;multi\n'
        "2;How do tides work?;safe;\n",
        encoding="utf-8",
    )
    seeds = load_csv(
        path,
        text_field="text",
        label_field="verdict",
        category_field="kind",
        id_field="id",
        label_map={"unsafe": "harmful", "safe": "benign"},
        delimiter=";",
    )
    assert [seed.text for seed in seeds] == ["Line one\nline two", "How do tides work?"]
    assert [seed.label for seed in seeds] == ["harmful", "benign"]
    assert [seed.category for seed in seeds] == ["multi", None]
    assert [seed.id for seed in seeds] == ["1", "2"]


def test_csv_ids_name_record_start(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text('prompt,label\n"a\nb",benign\nc,harmful\n', encoding="utf-8")
    assert [seed.id for seed in load_csv(path)] == ["lines:2", "lines:4"]


def test_skip_empty_logs_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_jsonl(
        tmp_path / "gaps.jsonl",
        [
            {"prompt": SECRET, "label": "harmful"},
            {"prompt": "  ", "label": "harmful"},
            {"prompt": "", "label": "benign"},
        ],
    )
    with caplog.at_level(logging.INFO, logger="advgame.envs.seeds"):
        seeds = load_jsonl(path, skip_empty=True)
    assert [seed.text for seed in seeds] == [SECRET]
    assert "skipped 2 row(s) with empty text" in caplog.text
    assert "lines 2, 3" in caplog.text
    assert SECRET not in caplog.text


def test_mapping_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "a", "label": "benign"}])
    with pytest.raises(ConfigError, match="label_field"):
        load_jsonl(path, label_field=None)
    with pytest.raises(ConfigError, match="'toxic'"):
        load_jsonl(path, label="toxic")
    with pytest.raises(ConfigError, match="label_map"):
        load_jsonl(path, label_map={"bad": "toxic"})
    with pytest.raises(ConfigError, match="text_field"):
        load_jsonl(path, text_field="")
    with pytest.raises(ConfigError, match="delimiter"):
        load_csv(path, delimiter=";;")


_unicode_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60).filter(
    lambda text: text.strip() != ""
)
_rows = st.lists(
    st.tuples(_unicode_text, st.sampled_from(["harmful", "benign"])), min_size=1, max_size=8
)
_examples = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_examples
@given(rows=_rows, ascii_only=st.booleans())
def test_jsonl_round_trip(tmp_path: Path, rows: list[tuple[str, str]], ascii_only: bool) -> None:
    path = tmp_path / "round.jsonl"
    lines = [json.dumps({"prompt": t, "label": lab}, ensure_ascii=ascii_only) for t, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seeds = load_jsonl(path)
    assert [(seed.text, seed.label) for seed in seeds] == rows


@_examples
@given(rows=_rows)
def test_csv_round_trip(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    path = tmp_path / "round.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "label"])
        writer.writerows(rows)
    seeds = load_csv(path)
    assert [(seed.text, seed.label) for seed in seeds] == rows


# --- malformed files ---------------------------------------------------------------------

_GOOD = json.dumps({"prompt": "fine", "label": "benign"})
_XSTEST_GOOD = '{"id": "v2-1", "type": "homonyms", "prompt": "fine"}'

# (case, loader, file name, content, line, words that the message must contain)
MALFORMED = [
    (
        "invalid json",
        load_jsonl,
        "a.jsonl",
        f'{_GOOD}\n{_GOOD}\n{{"prompt": "{SECRET}",\n',
        3,
        "invalid JSON",
    ),
    ("not an object", load_jsonl, "a.jsonl", f'{_GOOD}\n["{SECRET}"]\n', 2, "JSON array"),
    (
        "missing field",
        load_jsonl,
        "a.jsonl",
        f'{_GOOD}\n{{"text": "{SECRET}", "label": "benign"}}\n',
        2,
        "field 'prompt'",
    ),
    (
        "missing label",
        load_jsonl,
        "a.jsonl",
        f'{_GOOD}\n{{"prompt": "{SECRET}"}}\n',
        2,
        "field 'label'",
    ),
    (
        "unknown label",
        load_jsonl,
        "a.jsonl",
        f'{{"prompt": "{SECRET}", "label": "unsafe"}}\n',
        1,
        "'unsafe'",
    ),
    (
        "long label",
        load_jsonl,
        "a.jsonl",
        f'{{"prompt": "x", "label": "{SECRET} {SECRET} {SECRET}"}}\n',
        1,
        "string of 56 characters",
    ),
    (
        "empty text",
        load_jsonl,
        "a.jsonl",
        f'{_GOOD}\n{{"prompt": "", "label": "benign"}}\n',
        2,
        "non-empty text",
    ),
    (
        "blank text",
        load_jsonl,
        "a.jsonl",
        '{"prompt": " \\t ", "label": "benign"}\n',
        1,
        "whitespace-only",
    ),
    ("number text", load_jsonl, "a.jsonl", '{"prompt": 5, "label": "benign"}\n', 1, "JSON number"),
    (
        "duplicate id",
        lambda p: load_jsonl(p, id_field="id"),
        "a.jsonl",
        '{"id": "x", "prompt": "a", "label": "benign"}\n'
        '{"id": "x", "prompt": "b", "label": "benign"}\n',
        2,
        "also on line 1",
    ),
    ("empty jsonl", load_jsonl, "a.jsonl", "\n\n", None, "at least one data row"),
    (
        "bad utf-8",
        load_jsonl,
        "a.jsonl",
        f"{_GOOD}\n".encode() + b'{"prompt": "\xff"}\n',
        2,
        "UTF-8",
    ),
    ("csv missing column", load_csv, "a.csv", f"prompt,kind\n{SECRET},x\n", 1, "column(s) label"),
    (
        "csv field count",
        load_csv,
        "a.csv",
        f"prompt,label\na,benign\n{SECRET},benign,extra\n",
        3,
        "2 fields",
    ),
    (
        "csv open quote",
        load_csv,
        "a.csv",
        f'prompt,label\na,benign\n"{SECRET},benign\n',
        3,
        "CSV error",
    ),
    ("csv bad quote", load_csv, "a.csv", f'prompt,label\n"{SECRET}"x,benign\n', 2, "CSV error"),
    ("csv unknown label", load_csv, "a.csv", f"prompt,label\n{SECRET},unsafe\n", 2, "'unsafe'"),
    ("csv empty text", load_csv, "a.csv", "prompt,label\na,benign\n,benign\n", 3, "non-empty text"),
    ("csv empty file", load_csv, "a.csv", "", None, "CSV header"),
    ("csv header only", load_csv, "a.csv", "prompt,label\n", None, "at least one data row"),
    (
        "wildjailbreak label",
        load_wildjailbreak,
        "w.jsonl",
        f'{{"prompt": "{SECRET}", "category": "adversarial"}}\n',
        1,
        "field 'category'",
    ),
    (
        "harmbench column",
        load_harmbench,
        "h.csv",
        f"Behavior,FunctionalCategory,SemanticCategory,Tags,BehaviorID\n{SECRET},standard,x,,id1\n",
        1,
        "ContextString",
    ),
    (
        "harmbench empty",
        load_harmbench,
        "h.csv",
        "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
        f'x,standard,s,,,id1\n"  ",contextual,s,,"{SECRET}",id2\n',
        3,
        "field 'Behavior'",
    ),
    (
        "xstest object",
        load_xstest,
        "x.json",
        f'\n{{"prompts": ["{SECRET}"]}}\n',
        2,
        "JSON array at the top level",
    ),
    (
        "xstest invalid json",
        load_xstest,
        "x.json",
        f'[\n{_XSTEST_GOOD},\n{{"prompt": {SECRET}}}\n]',
        3,
        "invalid JSON",
    ),
    (
        "xstest item type",
        load_xstest,
        "x.json",
        f'[\n{_XSTEST_GOOD},\n"{SECRET}"\n]',
        3,
        "JSON object in the array",
    ),
    (
        "xstest missing prompt",
        load_xstest,
        "x.json",
        f'[\n{_XSTEST_GOOD},\n{{\n"type": "homonyms"}}]',
        3,
        "field 'prompt'",
    ),
    (
        "xstest missing type",
        load_xstest,
        "x.json",
        f'[{{"prompt": "{SECRET}"}}]',
        1,
        "field 'type'",
    ),
    (
        "xstest empty prompt",
        load_xstest,
        "x.json",
        '[\n{"type": "homonyms", "prompt": ""}]',
        2,
        "non-empty text",
    ),
    ("xstest trailing data", load_xstest, "x.json", f"[{_XSTEST_GOOD}]\n[]", 2, "more data"),
    (
        "xstest missing bracket",
        load_xstest,
        "x.json",
        f"[{_XSTEST_GOOD}\n{_XSTEST_GOOD}]",
        2,
        "',' or ']'",
    ),
    ("xstest empty array", load_xstest, "x.json", "[ ]", None, "at least one data row"),
    ("xstest empty file", load_xstest, "x.json", "  \n", None, "JSON array"),
]


@pytest.mark.parametrize(
    ("loader", "name", "content", "line", "words"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_file(tmp_path, loader, name, content, line, words) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SeedFileError) as caught:
        loader(path)
    message = str(caught.value)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    location = str(path) if line is None else f"{path}:{line}:"
    assert message.startswith(location)
    assert words in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "loader", [load_jsonl, load_csv, load_wildjailbreak, load_harmbench, load_xstest]
)
def test_missing_file(tmp_path: Path, loader) -> None:
    path = tmp_path / "absent.data"
    with pytest.raises(SeedFileError, match="no such file") as caught:
        loader(path)
    assert caught.value.path == str(path)
    assert caught.value.line is None


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SeedFileError, match="a directory"):
        load_jsonl(tmp_path)


# --- load_seeds --------------------------------------------------------------------------


@pytest.fixture()
def two_files(tmp_path: Path) -> Path:
    rows = [{"prompt": f"request {i}", "label": ("harmful", "benign")[i % 2]} for i in range(10)]
    write_jsonl(tmp_path / "ten.jsonl", rows)
    with (tmp_path / "ten.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "verdict"])
        writer.writerows([[f"question {i}", ("unsafe", "safe")[i % 2]] for i in range(10)])
    return tmp_path


def test_load_seeds_builtin(builtin: list[Seed]) -> None:
    assert load_seeds("builtin") == builtin
    assert load_seeds({"format": "builtin", "labels": "harmful"}) == [
        seed for seed in builtin if seed.is_harmful
    ]


def test_load_seeds_string_spec(two_files: Path) -> None:
    seeds = load_seeds(f"jsonl:{two_files / 'ten.jsonl'}")
    assert [seed.text for seed in seeds] == [f"request {i}" for i in range(10)]


def test_load_seeds_mapping_spec(two_files: Path) -> None:
    spec = {
        "format": "csv",
        "path": "ten.csv",
        "text_field": "question",
        "label_field": "verdict",
        "label_map": {"unsafe": "harmful", "safe": "benign"},
        "labels": ["harmful"],
        "limit": 3,
    }
    seeds = load_seeds(spec, base_dir=two_files)
    assert [seed.text for seed in seeds] == ["question 0", "question 2", "question 4"]
    assert spec["format"] == "csv"  # the caller's mapping is left unchanged


def test_load_seeds_list_and_limit(two_files: Path) -> None:
    seeds = load_seeds(
        ["jsonl:ten.jsonl", {"format": "builtin", "limit": 2}], base_dir=two_files, limit=11
    )
    assert len(seeds) == 11
    assert [seed.source for seed in seeds[-2:]] == ["ten.jsonl", "builtin"]


def test_load_seeds_shuffle_is_seeded(builtin: list[Seed]) -> None:
    first = load_seeds("builtin", shuffle=True, seed=3)
    again = load_seeds("builtin", shuffle=True, seed=3)
    other = load_seeds("builtin", shuffle=True, seed=4)
    assert first == again
    assert first != other
    assert first != builtin
    assert sorted(first, key=lambda seed: seed.id) == sorted(builtin, key=lambda seed: seed.id)


def test_load_seeds_limit_keeps_file_order(builtin: list[Seed]) -> None:
    assert load_seeds("builtin", limit=5) == builtin[:5]
    assert (
        load_seeds("builtin", labels="benign", limit=2)
        == [seed for seed in builtin if not seed.is_harmful][:2]
    )


@pytest.mark.parametrize(
    ("source", "options", "words"),
    [
        ("nope", {}, "'nope'"),
        ("xml:seeds.xml", {}, "'xml:seeds.xml'"),
        ("jsonl:", {}, "FORMAT:PATH"),
        ({"format": "parquet", "path": "a"}, {}, "'parquet'"),
        ({"path": "a.jsonl"}, {}, "`format`"),
        ({"format": "jsonl"}, {}, "`path`"),
        ({"format": "jsonl", "path": "ten.jsonl", "txt_field": "x"}, {}, "['txt_field']"),
        ({"format": "builtin", "path": "x"}, {}, "['path']"),
        ([], {}, "non-empty list"),
        (5, {}, "actual: 5"),
        ([5], {}, "actual: 5"),
        ("builtin", {"limit": 0}, "`limit`"),
        ("builtin", {"limit": True}, "`limit`"),
        ("builtin", {"limit": "3"}, "`limit`"),
        ({"format": "builtin", "limit": -1}, {}, "`limit`"),
        ("builtin", {"labels": "toxic"}, "`labels`"),
        ("builtin", {"labels": []}, "`labels`"),
        ("builtin", {"shuffle": "yes"}, "`shuffle`"),
        ("builtin", {"seed": 1.5}, "`seed`"),
        (
            {"format": "jsonl", "path": "ten.jsonl", "label": "benign"},
            {"labels": "harmful"},
            "at least one seed",
        ),
    ],
)
def test_load_seeds_bad_spec(two_files: Path, source, options, words) -> None:
    with pytest.raises(ConfigError) as caught:
        load_seeds(source, base_dir=two_files, **options)
    assert words in str(caught.value)


def test_load_seeds_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SeedFileError, match="no such file") as caught:
        load_seeds({"format": "xstest", "path": "x.json"}, base_dir=tmp_path)
    assert caught.value.path == str(tmp_path / "x.json")


# --- select_seeds and split_seeds --------------------------------------------------------


def test_select_leaves_input_alone(builtin: list[Seed]) -> None:
    copy = list(builtin)
    select_seeds(builtin, shuffle=True, seed=1, limit=3)
    assert builtin == copy


def test_split_deterministic(builtin: list[Seed]) -> None:
    first = split_seeds(builtin, held_out=0.2, seed=7)
    assert first == split_seeds(builtin, held_out=0.2, seed=7)
    assert first != split_seeds(builtin, held_out=0.2, seed=8)


def test_split_partitions_in_order(builtin: list[Seed]) -> None:
    train, held = split_seeds(builtin, held_out=0.25, seed=0)
    assert len(train) + len(held) == len(builtin)
    assert {seed.id for seed in train}.isdisjoint(seed.id for seed in held)
    position = {seed.id: i for i, seed in enumerate(builtin)}
    assert [position[seed.id] for seed in train] == sorted(position[seed.id] for seed in train)
    assert [position[seed.id] for seed in held] == sorted(position[seed.id] for seed in held)


def test_split_stratified(builtin: list[Seed]) -> None:
    counts = count_labels(builtin)
    train, held = split_seeds(builtin, held_out=0.2, seed=0)
    assert len(held) == round(0.2 * len(builtin))
    assert len(train) == len(builtin) - len(held)
    held_counts = count_labels(held)
    for label in ("harmful", "benign"):
        exact = len(held) * counts[label] / len(builtin)
        assert abs(held_counts[label] - exact) < 1


def test_split_count(builtin: list[Seed]) -> None:
    _, held = split_seeds(builtin, held_out=10, seed=0)
    assert len(held) == 10
    assert count_labels(held)["harmful"] == 5
    assert split_seeds(builtin, held_out=0)[1] == []


@pytest.mark.parametrize("held_out", [1.0, -0.1, 135, 200, -1, True, "0.1", 0.9999])
def test_split_bad_held_out(builtin: list[Seed], held_out) -> None:
    with pytest.raises(ConfigError, match="held_out"):
        split_seeds(builtin, held_out=held_out)


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["harmful", "benign"]), min_size=2, max_size=40),
    fraction=st.floats(min_value=0.0, max_value=0.5),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_split_stratified_property(labels: list[str], fraction: float, seed: int) -> None:
    seeds = [Seed(f"request {i}", label) for i, label in enumerate(labels)]
    train, held = split_seeds(seeds, held_out=fraction, seed=seed)
    assert len(held) == round(fraction * len(seeds))
    assert sorted(train + held, key=lambda s: int(s.text.split()[1])) == seeds
    for label in ("harmful", "benign"):
        exact = len(held) * labels.count(label) / len(labels)
        assert abs(count_labels(held)[label] - exact) < 1
