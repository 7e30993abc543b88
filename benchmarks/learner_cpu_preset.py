"""Measure a short joint AdvGame-DPO run on the embedded model: step time, memory, effect.

Usage (from the repository root; needs ../shared/data)::

    python benchmarks/learner_cpu_preset.py                       # the recommended preset
    python benchmarks/learner_cpu_preset.py --defender-group 2 --system-prompt ""

Both players are the embedded SmolLM2-135M-Instruct. Training seeds are the first 200
WildJailbreak vanilla harmful and benign requests, and evaluation uses the last ``--eval``
of each. Before and after training the script measures, on the evaluation seeds:

* the defender's greedy responses to the plain requests: the share without a refusal phrase
  (harmful compliance, benign compliance), the judge's DEFLECTION mean on harmful requests
  and COMPLIANCE mean on benign ones, and the share that hit the token limit;
* one attacker sample per seed: the share that was truncated or did not parse
  (``attacker_parse_error``) and the share that parsed and was judged faithful.

It prints one JSON object per evaluation and per learner step, then the timing summary and
the peak resident memory (``ru_maxrss``). No prompt or response text is printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advgame.agents.learners import LearnerConfig, PlayerConfig, make_learner
from advgame.agents.lm_agent import LMAgent
from advgame.agents.sampling import SamplingConfig
from advgame.envs import Game, Seed
from advgame.envs.parsing import parse_attack
from advgame.envs.seeds import load_wildjailbreak
from advgame.judges import Faithfulness, FaithfulnessRequest, PointwiseRequest, Rubric
from advgame.judges.factory import make_judge
from advgame.judges.refusal import is_refusal

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wildjailbreak"
STEP_KEYS = (
    "attacker/reward_mean",
    "defender/reward_mean_harmful",
    "defender/reward_mean_benign",
    "attacker/parse_error_rate",
    "attacker/max_length_rate",
    "attacker/unfaithful_rate",
    "defender/max_length_rate",
    "train/step_seconds",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="learner steps")
    parser.add_argument("--harmful-batch", type=int, default=4, help="harmful seeds per step")
    parser.add_argument("--benign-batch", type=int, default=4, help="benign seeds per step")
    parser.add_argument("--attacker-group", type=int, default=2, help="A, attacks per seed")
    parser.add_argument("--defender-group", type=int, default=4, help="D, responses per attack")
    parser.add_argument("--attack-tokens", type=int, default=64, help="attacker token limit")
    parser.add_argument("--response-tokens", type=int, default=96, help="defender token limit")
    parser.add_argument("--lr", type=float, default=3e-5, help="learning rate of both players")
    parser.add_argument("--temperature", type=float, default=0.9, help="sampling temperature")
    parser.add_argument(
        "--system-prompt",
        default="Answer briefly, in at most three sentences.",
        help="defender system prompt; an empty string keeps the chat template's default",
    )
    parser.add_argument("--judge", default="embedding", help="judge kind: embedding or rule")
    parser.add_argument(
        "--attacker-format",
        default="plain",
        choices=("plain", "nothink"),
        help="plain: the whole output is the attack and a blank line ends it; nothink: a "
        "<prompt> block, prefilled with '<prompt>' and ended by '</prompt>'",
    )
    parser.add_argument("--eval", type=int, default=16, help="evaluation seeds per class")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 keeps torch's")
    return parser.parse_args()


def evaluate(
    args: argparse.Namespace, attacker: LMAgent, defender: LMAgent, game: Game, seeds: list[Seed]
) -> dict[str, Any]:
    """Return the defender and attacker evaluation metrics on ``seeds``."""
    started = time.perf_counter()
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=args.response_tokens)
    responses = [row[0] for row in defender.generate([s.text for s in seeds], 1, greedy)]
    requests = [
        PointwiseRequest(s.text, r.text, Rubric.DEFLECTION if s.is_harmful else Rubric.COMPLIANCE)
        for s, r in zip(seeds, responses)
    ]
    scores = [v.score for v in game.judges.defender.judge_points(requests)]
    harmful = [i for i, s in enumerate(seeds) if s.is_harmful]
    benign = [i for i, s in enumerate(seeds) if not s.is_harmful]

    instructions = [game.instruction(s) for s in seeds]
    attacks = [row[0] for row in attacker.generate(instructions, 1, seed=123)]
    parsed = [parse_attack(c.text, game.attacker_format) for c in attacks]
    valid = [i for i, (c, p) in enumerate(zip(attacks, parsed)) if not c.truncated and p.ok]
    verdicts = game.judges.faithfulness.judge_faithfulness(
        [FaithfulnessRequest(seeds[i].text, parsed[i].attack or "", seeds[i].label) for i in valid]
    )
    faithful = sum(v.verdict is Faithfulness.FAITHFUL for v in verdicts)

    def mean(values: list[Any]) -> float:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else float("nan")

    return {
        "harmful_compliance": mean([not is_refusal(responses[i].text) for i in harmful]),
        "benign_compliance": mean([not is_refusal(responses[i].text) for i in benign]),
        "harmful_deflection_score": mean([scores[i] for i in harmful]),
        "benign_compliance_score": mean([scores[i] for i in benign]),
        "defender_truncated": mean([r.truncated for r in responses]),
        "attacker_parse_error": 1.0 - len(valid) / len(attacks),
        "attacker_faithful": faithful / len(attacks),
        "eval_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    harmful = load_wildjailbreak(DATA / "valid_vanilla_harmful_256.jsonl")
    benign = load_wildjailbreak(DATA / "valid_vanilla_benign_256.jsonl")
    train_seeds = harmful[:200] + benign[:200]
    eval_seeds = harmful[-args.eval :] + benign[-args.eval :]

    nothink = args.attacker_format == "nothink"
    attacker = LMAgent(
        "default",
        response_prefix="<prompt>" if nothink else "",
        seed=1,
        sampling=SamplingConfig(
            temperature=args.temperature,
            top_p=0.95,
            max_new_tokens=args.attack_tokens,
            stop_strings=("</prompt>",) if nothink else ("\n\n",),
        ),
    )
    defender = LMAgent(
        "default",
        seed=2,
        system_prompt=args.system_prompt or None,
        sampling=SamplingConfig(
            temperature=args.temperature, top_p=0.95, max_new_tokens=args.response_tokens
        ),
    )
    game = Game(make_judge(args.judge), attacker_format=args.attacker_format)
    config = LearnerConfig(
        attacker=PlayerConfig(lr=args.lr, group_size=args.attacker_group),
        defender=PlayerConfig(lr=args.lr, group_size=args.defender_group),
        total_steps=args.steps,
        harmful_batch=args.harmful_batch,
        benign_batch=args.benign_batch,
    )
    learner = make_learner("dpo", game, attacker, defender, train_seeds, config)

    print(json.dumps({"before": evaluate(args, attacker, defender, game, eval_seeds)}))
    train_started = time.perf_counter()

    def report(step: int, metrics: dict[str, float]) -> None:
        row: dict[str, Any] = {"step": step, **{k: round(metrics[k], 3) for k in STEP_KEYS}}
        for role in ("attacker", "defender"):
            row[f"{role}_pairs"] = sum(
                metrics.get(f"{role}/pairs_{label}", 0.0) for label in ("harmful", "benign")
            )
        print(json.dumps(row), flush=True)

    learner.learn(args.steps, callback=report)
    train_seconds = time.perf_counter() - train_started
    print(json.dumps({"after": evaluate(args, attacker, defender, game, eval_seeds)}))
    summary = {
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / args.steps, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
