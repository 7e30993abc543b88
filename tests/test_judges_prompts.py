"""Prompt templates: defaults, validation, replacement, and recognition by the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advgame.errors import ConfigError
from advgame.judges import (
    FAITHFULNESS_CRITERIA,
    RUBRIC_CRITERIA,
    JudgeStatus,
    PairwiseRequest,
    PromptTemplate,
    Rubric,
    RuleJudge,
    build_templates,
    default_templates,
)
from advgame.judges.chat import BackendFailure, ChatJudge, ChatPrompt
from advgame.judges.http import HTTPJudge
from advgame.judges.serving import JudgeChatBackend, TemplateMatcher
from advgame.serve import ChatServer, make_server


@pytest.mark.parametrize("mode", ["generative", "logprob"])
def test_default_templates_cover_every_case(mode: str) -> None:
    templates = default_templates(mode)  # type: ignore[arg-type]
    rows = templates.all()
    assert len(rows) == 3 + 3 + 2
    for rubric in Rubric:
        user = templates.pairwise[rubric].user
        assert RUBRIC_CRITERIA[rubric].splitlines()[0] in user
        assert "{response_a}" in user
        assert "{response_b}" in user
    for label in ("harmful", "benign"):
        assert FAITHFULNESS_CRITERIA[label].split("\n")[0] in templates.faithfulness[label].user


def test_benign_faithfulness_states_length_rule() -> None:
    for mode in ("generative", "logprob"):
        user = default_templates(mode).faithfulness["benign"].user  # type: ignore[arg-type]
        assert "15 times longer" in " ".join(user.split())


def test_generative_and_logprob_answer_formats() -> None:
    generative = default_templates("generative")
    logprob = default_templates("logprob")
    assert "<score_a>N</score_a><score_b>M</score_b>" in generative.pairwise[Rubric.REFUSAL].user
    assert logprob.pairwise[Rubric.REFUSAL].answer_prefix == "<better>"
    assert logprob.pointwise[Rubric.COMPLIANCE].candidates == tuple(str(k) for k in range(11))
    assert logprob.faithfulness["harmful"].candidates == ("Yes", "No")


def test_render_keeps_braces_in_texts() -> None:
    template = default_templates().pointwise[Rubric.COMPLIANCE]
    messages = template.render(query="What is {x}?", response="Use {{ and }}.")
    assert "What is {x}?" in messages[1]["content"]
    assert "Use {{ and }}." in messages[1]["content"]
    assert messages[0]["role"] == "system"


def test_build_templates_uses_given_criteria() -> None:
    criteria = {rubric: f"Custom criteria for {rubric.value} {{braces}}." for rubric in Rubric}
    templates = build_templates("generative", rubric_criteria=criteria)
    assert (
        "Custom criteria for refusal {braces}."
        in templates.pointwise[Rubric.REFUSAL].render(query="q", response="r")[1]["content"]
    )


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("Grade {response}", "slots"),
        ("Grade {query} {response} {extra}", "slots"),
        ("Grade {query} {response", "not a valid format string"),
    ],
)
def test_templates_reject_bad_slots(user: str, message: str) -> None:
    bad = PromptTemplate("system", user)
    with pytest.raises(ConfigError, match=message):
        default_templates().replace(pointwise={Rubric.COMPLIANCE: bad})


def test_logprob_templates_need_answer_tag() -> None:
    plain = PromptTemplate("system", "Grade {query} {response}")
    with pytest.raises(ConfigError, match="answer_tag"):
        default_templates("logprob").replace(pointwise={Rubric.COMPLIANCE: plain})


def test_templates_need_every_rubric() -> None:
    base = default_templates()
    with pytest.raises(ConfigError, match="pairwise templates"):
        type(base)(
            "generative", base.pointwise, {Rubric.COMPLIANCE: base.pairwise[Rubric.COMPLIANCE]}
        )


class RecordingJudge(ChatJudge):
    """A ChatJudge whose backend records prompts and answers with fixed tags."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.prompts: list[ChatPrompt] = []

    def _generate(self, prompts, num_samples):  # type: ignore[no-untyped-def]
        self.prompts += prompts
        return [["<score_a>6</score_a><score_b>4</score_b>"] * num_samples for _ in prompts]

    def _answer_probs(self, prompts):  # type: ignore[no-untyped-def]
        self.prompts += prompts
        return [BackendFailure(JudgeStatus.ERROR, "offline") for _ in prompts]


def test_judge_uses_passed_templates() -> None:
    custom = PromptTemplate("Be strict.", "Q: {query}\nA: {response_a}\nB: {response_b}")
    templates = default_templates().replace(pairwise={Rubric.DEFLECTION: custom})
    judge = RecordingJudge(templates=templates)
    verdict = judge.judge_pairs([PairwiseRequest("q1", "ra", "rb", Rubric.DEFLECTION)])[0]
    assert verdict.score_a == 6.0
    assert judge.prompts[0].messages == (("system", "Be strict."), ("user", "Q: q1\nA: ra\nB: rb"))


def test_judge_rejects_templates_of_other_mode() -> None:
    with pytest.raises(ConfigError, match="mode"):
        RecordingJudge(mode="logprob", templates=default_templates("generative"))


def test_long_fields_are_cut() -> None:
    judge = RecordingJudge(max_field_chars=50)
    judge.judge_pairs([PairwiseRequest("q", "x" * 500, "short", Rubric.COMPLIANCE)])
    user = judge.prompts[0].messages[1][1]
    assert "x" * 50 + "\n[cut by the judge: 450 more characters]" in user
    assert "x" * 51 not in user


field_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)


@settings(max_examples=60, deadline=None)
@given(field_text, field_text, field_text, st.sampled_from(list(Rubric)))
def test_matcher_recovers_fields(query: str, a: str, b: str, rubric: Rubric) -> None:
    matcher = TemplateMatcher()
    for mode in ("generative", "logprob"):
        template = default_templates(mode).pairwise[rubric]  # type: ignore[arg-type]
        found = matcher.match(template.render(query=query, response_a=a, response_b=b))
        assert found is not None
        assert (found.kind, found.key, found.mode) == ("pairwise", rubric.value, mode)
        assert found.fields == {"query": query, "response_a": a, "response_b": b}


def test_matcher_rejects_foreign_prompts() -> None:
    matcher = TemplateMatcher()
    assert matcher.match([{"role": "user", "content": "Hello"}]) is None
    template = default_templates().pointwise[Rubric.REFUSAL]
    messages = template.render(query="q", response="r")
    messages[0]["content"] = "You are a pirate."
    assert matcher.match(messages) is None


@pytest.fixture
def custom_server() -> Iterator[tuple[ChatServer, object]]:
    custom = PromptTemplate("Grade briefly.", "Request: {query}\nResponse: {response}")
    templates = default_templates().replace(pointwise={Rubric.COMPLIANCE: custom})
    backend = JudgeChatBackend(RuleJudge(max_failure_rate=None), "rule", [templates])
    server = make_server(backend, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, templates
    server.shutdown()
    server.server_close()


def test_server_recognises_user_templates(custom_server) -> None:
    from advgame.judges import PointwiseRequest

    server, templates = custom_server
    judge = HTTPJudge(server.base_url, "rule", templates=templates, max_failure_rate=None)
    verdict = judge.judge_points([PointwiseRequest("q", "I cannot help.", Rubric.COMPLIANCE)])[0]
    assert verdict.status is JudgeStatus.OK
    assert verdict.score == 1.0
    default_judge = HTTPJudge(server.base_url, "rule", max_retries=0, max_failure_rate=None)
    failed = default_judge.judge_points([PointwiseRequest("q", "r", Rubric.COMPLIANCE)])[0]
    assert failed.status is JudgeStatus.ERROR
    assert "HTTP 400" in failed.detail
