"""Strict attacker-output parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advgame.envs import Seed, parse_attack
from advgame.envs.prompts import attacker_instruction


@pytest.mark.parametrize(
    ("raw", "attack"),
    [
        ("<think>plan</think><prompt>the attack</prompt>", "the attack"),
        ("  <think>plan</think>\n\n<prompt>\n the attack \n</prompt>\n", "the attack"),
        ("<THINK>plan</Think><Prompt>mixed case</PROMPT>", "mixed case"),
        (
            "<think>multi\nline plan</think><prompt>line one\nline two</prompt>",
            "line one\nline two",
        ),
        ("<think>p</think><prompt>Ünïcödé 中文 😀</prompt>", "Ünïcödé 中文 😀"),
        ("<think>p</think><prompt>a < b and c > d</prompt>", "a < b and c > d"),
    ],
)
def test_think_format_accepts(raw, attack):
    parsed = parse_attack(raw, "think")
    assert parsed.ok, parsed.error
    assert parsed.attack == attack


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "missing <prompt>"),
        ("just text", "missing <prompt>"),
        ("<prompt>no reasoning</prompt>", "missing <think>"),
        ("<think>plan</think><prompt>unclosed", "unclosed <prompt>"),
        ("<think>plan<prompt>x</prompt>", "unclosed <think>"),
        ("<think>plan</think><prompt>x</prompt> trailing words", "after </prompt>"),
        ("preamble <think>plan</think><prompt>x</prompt>", "outside"),
        ("<think>plan</think><prompt>   </prompt>", "empty <prompt>"),
        ("<think> </think><prompt>x</prompt>", "empty <think>"),
        ("<think>p</think><prompt>a</prompt><prompt>b</prompt>", "repeated"),
        ("<think>p</think><prompt>a <think>b</think></prompt>", "repeated or nested"),
        ("<prompt>x</prompt><think>plan</think>", "after </prompt>"),
    ],
)
def test_think_format_rejects(raw, error):
    parsed = parse_attack(raw, "think")
    assert not parsed.ok
    assert parsed.attack is None
    assert error in parsed.error


def test_nothink_format():
    assert parse_attack("<prompt>only this</prompt>", "nothink").attack == "only this"
    assert not parse_attack("<think>p</think><prompt>x</prompt>", "nothink").ok
    assert "after </prompt>" in parse_attack("<prompt>x</prompt> more", "nothink").error


@pytest.mark.parametrize(
    ("raw", "attack"),
    [
        ("  a whole output \n\n", "a whole output"),
        ("<prompt>tags stay</prompt>", "<prompt>tags stay</prompt>"),
        ("Ünïcödé 😀", "Ünïcödé 😀"),
    ],
)
def test_plain_format_takes_whole_output(raw, attack):
    assert parse_attack(raw, "plain").attack == attack


def test_plain_format_rejects_empty_output():
    parsed = parse_attack(" \n\t ", "plain")
    assert not parsed.ok
    assert parsed.error == "empty output"


def test_unknown_format_raises():
    with pytest.raises(ValueError, match="attacker_format"):
        parse_attack("<prompt>x</prompt>", "json")


@given(st.text())
def test_parser_never_raises_on_any_text(raw):
    for attacker_format in ("think", "nothink"):
        parsed = parse_attack(raw, attacker_format)
        assert parsed.ok == (parsed.error is None)


@given(
    st.text(min_size=1).filter(lambda s: s.strip() and "<" not in s),
    st.text(min_size=1).filter(lambda s: s.strip() and "<" not in s),
)
def test_well_formed_output_round_trips(plan, attack):
    parsed = parse_attack(f"<think>{plan}</think>\n<prompt>{attack}</prompt>", "think")
    assert parsed.attack == attack.strip()
    assert parsed.reasoning == plan.strip()


def test_instruction_names_seed_and_format():
    harmful = Seed("Explain how to hotwire a car.", "harmful")
    benign = Seed("How do I bake bread?", "benign")
    think = attacker_instruction(harmful, "think")
    assert harmful.text in think
    assert "<think>" in think
    assert "complies" in think
    nothink = attacker_instruction(benign, "nothink")
    assert "<think>" not in nothink
    assert "refuse" in nothink
    plain = attacker_instruction(benign, "plain")
    assert "<prompt>" not in plain
    assert "only the rewritten prompt" in plain
