"""Single-player GRPO update: advgame against TRL's GRPOTrainer, same model and settings.

Both sides train the embedded SmolLM2-135M-Instruct on the same prompts (built-in seed
texts), with the same group size, completion length, sampling, KL coefficient, learning rate
and reward function (1 when the response contains no refusal phrase, else 0), in float32
without gradient checkpointing unless ``--trl-defaults`` is given. ``--trl-defaults
--autocast bfloat16`` compares both sides in bf16 mixed precision. A step is one
generation of ``prompts x group`` completions, the reward, the reference log-probs, the loss,
backward and one optimizer step. Each side runs in its own subprocess, so peak memory (max
RSS) is measured per side; the first ``--warmup`` steps are left out of the timing.

Run (needs ``pip install trl``; results go to docs/benchmarks.md by hand)::

    python benchmarks/grpo_vs_trl.py --prompts 4 --group 4 --max-new-tokens 64 --steps 4

Prints one JSON object with seconds per step, mean completion length and seconds per 1,000
completion tokens for each side, and the ratios TRL / advgame per step and per token (above
1 means advgame is faster).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def prompts_for(count: int, steps: int) -> list[list[str]]:
    """Return ``steps`` batches of ``count`` prompts, alternating harmful and benign seeds."""
    from advgame.envs.seeds import load_default_seeds

    seeds = load_default_seeds()
    harmful = [s.text for s in seeds if s.is_harmful]
    benign = [s.text for s in seeds if not s.is_harmful]
    mixed = [text for pair in zip(harmful, benign) for text in pair]
    return [[mixed[(step * count + i) % len(mixed)] for i in range(count)] for step in range(steps)]


def reward(text: str) -> float:
    from advgame.judges.refusal import is_refusal

    return 0.0 if is_refusal(text) else 1.0


def run_ours(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Time advgame's GRPO loss on LMAgent sampling, the way AdvGameGRPO trains a player."""
    import copy

    import torch

    from advgame.agents import LMAgent, SamplingConfig
    from advgame.agents.backends import HFBackend
    from advgame.agents.learners.grpo import grpo_loss

    sampling = SamplingConfig(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.prompts * args.group,
    )
    agent = LMAgent("default", sampling=sampling, seed=0, autocast=args.autocast)
    reference = HFBackend(
        copy.deepcopy(agent.model).eval().requires_grad_(False),
        agent.tokenizer,
        autocast=agent.backend.autocast,
    )
    optimizer = torch.optim.AdamW(agent.model.parameters(), lr=args.lr, betas=(0.9, 0.95))
    times, lengths = [], []
    for batch in prompts_for(args.prompts, args.steps + args.warmup):
        started = time.perf_counter()
        completions = [c for group in agent.generate(batch, args.group) for c in group]
        rewards = torch.tensor([reward(c.text) for c in completions]).view(-1, args.group)
        advantages = (rewards - rewards.mean(-1, keepdim=True)).view(-1)  # (N,)
        prompt_ids = [c.prompt_ids for c in completions]
        completion_ids = [c.token_ids for c in completions]
        with torch.no_grad():
            ref_logprobs, _ = reference.token_logprobs(prompt_ids, completion_ids)
        width = ref_logprobs.shape[1]
        sampler = torch.zeros(len(completions), width)
        for row, completion in enumerate(completions):
            sampler[row, : len(completion.logprobs)] = torch.tensor(completion.logprobs)
        logprobs, mask = agent.token_logprobs(prompt_ids, completion_ids)
        loss, _, _ = grpo_loss(logprobs, sampler, ref_logprobs, advantages, mask, args.beta, 2.0)
        (loss.sum() / len(completions)).backward()
        torch.nn.utils.clip_grad_norm_(agent.model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
        lengths.append(sum(len(c) for c in completion_ids) / len(completion_ids))
    return times[args.warmup :], lengths[args.warmup :]


def run_trl(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Time TRL's GRPOTrainer with matching settings through a step-timing callback."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from advgame.agents.models import ensure_embedded_checkpoint, load_tokenizer

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._start = 0.0

        def on_step_begin(self, *unused: Any, **kwargs: Any) -> None:
            self._start = time.perf_counter()

        def on_step_end(self, *unused: Any, **kwargs: Any) -> None:
            self.times.append(time.perf_counter() - self._start)

    batches = prompts_for(args.prompts, args.steps + args.warmup)
    rows = [{"prompt": [{"role": "user", "content": text}]} for batch in batches for text in batch]

    def reward_function(completions: list[Any], **kwargs: Any) -> list[float]:
        return [reward(c[0]["content"] if isinstance(c, list) else c) for c in completions]

    path = ensure_embedded_checkpoint()
    timer = StepTimer()
    # TRL's GRPOConfig turns on bf16 autocast and gradient checkpointing by default, while
    # advgame's side trains in float32 without checkpointing. Matching them is the default;
    # --trl-defaults keeps TRL's own choices.
    matched = {} if args.trl_defaults else {"bf16": False, "gradient_checkpointing": False}
    with tempfile.TemporaryDirectory() as out_dir:
        config = GRPOConfig(
            output_dir=out_dir,
            per_device_train_batch_size=args.prompts * args.group,
            num_generations=args.group,
            max_completion_length=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            beta=args.beta,
            learning_rate=args.lr,
            adam_beta1=0.9,
            adam_beta2=0.95,
            max_grad_norm=1.0,
            max_steps=args.steps + args.warmup,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_steps=1,
            shuffle_dataset=False,
            seed=0,
            disable_tqdm=True,
            **matched,
        )
        trainer = GRPOTrainer(
            model=str(path),
            reward_funcs=reward_function,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=load_tokenizer(path),
            callbacks=[timer],
        )
        trainer.train()
    logged = [row for row in trainer.state.log_history if "completions/mean_length" in row]
    lengths = [float(row["completions/mean_length"]) for row in logged]
    return timer.times[args.warmup :], lengths[args.warmup :]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    times, lengths = run_ours(args) if args.only == "ours" else run_trl(args)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    completions = args.prompts * args.group
    return {
        "side": args.only,
        "step_seconds": times,
        "median_step_seconds": statistics.median(times),
        # Sampling makes completion lengths differ between the sides, and a step's time
        # grows with them, so the per-token figure is the fairer comparison.
        "mean_completion_tokens": lengths,
        "seconds_per_1k_tokens": 1000 * sum(times) / (completions * sum(lengths)),
        "peak_rss_gib": peak_kib / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="completion token cap")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=0.1, help="KL coefficient")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--trl-defaults",
        action="store_true",
        help="keep TRL's bf16 autocast and gradient checkpointing instead of float32 without "
        "checkpointing, as advgame's side runs",
    )
    parser.add_argument(
        "--autocast",
        choices=("bfloat16",),
        help="run advgame's sampling and forward passes under torch.autocast in this dtype",
    )
    parser.add_argument("--only", choices=("ours", "trl"), help="run one side (internal)")
    args = parser.parse_args()

    if args.only:
        print(json.dumps(measure(args)))
        return
    results = {}
    for side in ("ours", "trl"):
        command = [sys.executable, __file__, *sys.argv[1:], "--only", side]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[side] = json.loads(output.strip().splitlines()[-1])
    ratio = results["trl"]["median_step_seconds"] / results["ours"]["median_step_seconds"]
    per_token = results["trl"]["seconds_per_1k_tokens"] / results["ours"]["seconds_per_1k_tokens"]
    summary = {
        "settings": vars(args),
        **results,
        "speedup_vs_trl": ratio,
        "speedup_vs_trl_per_token": per_token,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
