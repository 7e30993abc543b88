"""LMAgent and its HF backend on the real embedded model."""

from __future__ import annotations

import pytest
import torch

from advgame.agents import LMAgent, SamplingConfig
from advgame.agents.backends import left_pad
from advgame.agents.models import resolve_model_path
from advgame.errors import ConfigError, ModelNotFoundError

pytestmark = pytest.mark.slow

PROMPTS = ["How do I bake bread?", "Write a haiku about rain."]


@pytest.fixture(scope="module")
def agent() -> LMAgent:
    return LMAgent(sampling=SamplingConfig(max_new_tokens=24), seed=0)


def test_generate_shapes_and_fields(agent):
    batches = agent.generate(PROMPTS, num_samples=2)
    assert len(batches) == 2
    for batch in batches:
        assert len(batch) == 2
        for completion in batch:
            assert completion.text
            assert 0 < len(completion.token_ids) <= 24
            assert len(completion.logprobs) == len(completion.token_ids)
            assert all(lp <= 0 for lp in completion.logprobs)
            assert completion.truncated == (len(completion.token_ids) == 24)


def test_sampler_logprobs_match_training_logprobs(agent):
    completions = [c for batch in agent.generate(PROMPTS, num_samples=2) for c in batch]
    logprobs, mask = agent.token_logprobs(
        [c.prompt_ids for c in completions], [c.token_ids for c in completions]
    )
    for row, completion in enumerate(completions):
        n = len(completion.token_ids)
        assert mask[row, :n].sum() == n
        assert mask[row, n:].sum() == 0
        assert torch.allclose(logprobs[row, :n], torch.tensor(completion.logprobs), atol=1e-3)


def test_sequence_logprobs_carry_gradients(agent):
    completion = agent.generate(PROMPTS[:1])[0][0]
    total = agent.sequence_logprobs([completion.prompt_ids], [completion.token_ids])
    assert total.shape == (1,)
    total.sum().backward()
    grads = [p.grad for p in agent.model.parameters() if p.grad is not None]
    assert grads
    agent.model.zero_grad()


def test_same_seed_gives_same_samples():
    first = LMAgent(sampling=SamplingConfig(max_new_tokens=12), seed=7).generate(PROMPTS)
    second = LMAgent(sampling=SamplingConfig(max_new_tokens=12), seed=7).generate(PROMPTS)
    assert [c[0].text for c in first] == [c[0].text for c in second]


def test_greedy_is_deterministic(agent):
    greedy = SamplingConfig(temperature=0, max_new_tokens=12)
    one = agent.generate(PROMPTS, sampling=greedy)
    two = agent.generate(PROMPTS, sampling=greedy)
    assert [b[0].token_ids for b in one] == [b[0].token_ids for b in two]


def test_batching_does_not_change_greedy_output(agent):
    greedy = SamplingConfig(temperature=0, max_new_tokens=12, batch_size=1)
    batched = SamplingConfig(temperature=0, max_new_tokens=12, batch_size=8)
    alone = agent.generate(PROMPTS, sampling=greedy)
    together = agent.generate(PROMPTS, sampling=batched)
    assert [b[0].text for b in alone] == [b[0].text for b in together]


def test_stop_strings_and_response_prefix():
    attacker = LMAgent(
        sampling=SamplingConfig(temperature=0, max_new_tokens=40, stop_strings=("</prompt>",)),
        response_prefix="<prompt>",
    )
    instruction = "Repeat exactly: <prompt>hello world</prompt>"
    completion = attacker.generate([instruction])[0][0]
    assert completion.text.startswith("<prompt>")
    tail = attacker.tokenizer.decode(completion.prompt_ids[-4:])
    assert tail.endswith("<prompt>")
    if "</prompt>" in completion.text:
        assert completion.text.endswith("</prompt>")
        assert not completion.truncated


def test_predict_builds_env_actions(agent):
    attacker_action = agent.predict({"text": "Say hi."}, num_samples=2)
    assert len(attacker_action) == 2
    defender_action = agent.predict({"text": ("Say hi.", "")})
    assert len(defender_action) == 2
    assert defender_action[1] == ("",)
    assert defender_action[0][0].text


def test_save_and_load_round_trip(agent, tmp_path):
    agent.save(tmp_path / "agent")
    loaded = LMAgent.load(tmp_path / "agent")
    assert loaded.sampling == agent.sampling
    for (name, a), b in zip(agent.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_lora_trains_only_adapters(tmp_path):
    agent = LMAgent(lora={"r": 4, "lora_alpha": 8}, sampling=SamplingConfig(max_new_tokens=8))
    names = [n for n, p in agent.model.named_parameters() if p.requires_grad]
    assert names
    assert all("lora" in n for n in names)
    agent.save(tmp_path / "lora")
    loaded = LMAgent.load(tmp_path / "lora")
    assert any("lora" in n for n, p in loaded.model.named_parameters() if p.requires_grad)


def test_load_needs_agent_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"LMAgent\.save"):
        LMAgent.load(tmp_path)


def test_unknown_model_path_names_the_fix(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"config\.json"):
        resolve_model_path(tmp_path / "missing")


def test_invalid_num_samples(agent):
    with pytest.raises(ConfigError, match="num_samples"):
        agent.generate(PROMPTS, num_samples=0)


def test_left_pad_layout():
    ids, mask = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
