"""Train SB3 PPO to pick defender response strategies, then compare it with fixed policies.

The defender observes only an embedding of the attack, never the seed's class, so to
comply with benign requests and deflect harmful ones it has to tell them apart from the
attack text. Training uses the built-in seeds minus a held-out, class-stratified share.
Evaluation plays every strategy in every held-out context once (an exact sweep). So the
numbers for the random and fixed policies are expectations, not samples.

Run:
    python examples/sb3_defender_strategy.py --steps 4096

Only aggregate numbers are printed; no seed, attack or response text.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from stable_baselines3 import PPO

from advgame.envs import DefenderStrategyEnv
from advgame.envs.seeds import load_default_seeds, split_seeds
from advgame.envs.strategy_eval import StrategySweep, sweep_strategies


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4096, help="PPO environment steps")
    parser.add_argument("--n-steps", type=int, default=256, help="PPO rollout length")
    parser.add_argument("--batch-size", type=int, default=64, help="PPO minibatch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--held-out", type=float, default=0.25, help="share of seeds held out")
    parser.add_argument("--seed", type=int, default=0, help="seed of PPO, the env and the split")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args()


def results_table(sweep: StrategySweep, actions: np.ndarray) -> Table:
    table = Table(title="Mean defender reward on held-out seeds (0-10)")
    table.add_column("policy")
    for column in ("all", "harmful", "benign"):
        table.add_column(column, justify="right")

    def row(name: str, values: tuple[float, float, float], style: str = "") -> None:
        table.add_row(name, *(f"{v:.2f}" for v in values), style=style)

    labels = (None, "harmful", "benign")
    row("PPO (trained)", tuple(sweep.policy_mean(actions, lab) for lab in labels), "bold")
    row("uniform random", tuple(sweep.random_mean(lab) for lab in labels))
    means = {lab: sweep.strategy_means(lab) for lab in labels}
    for index, strategy in enumerate(sweep.strategies):
        row(f"always {strategy}", tuple(float(means[lab][index]) for lab in labels))
    row("best strategy per context", tuple(sweep.best_mean(lab) for lab in labels), "dim")
    return table


def shares_table(sweep: StrategySweep, actions: np.ndarray) -> Table:
    table = Table(title="Strategy chosen by the trained policy (share of held-out contexts)")
    table.add_column("strategy")
    table.add_column("harmful seeds", justify="right")
    table.add_column("benign seeds", justify="right")
    harmful = sweep.action_shares(actions, "harmful")
    benign = sweep.action_shares(actions, "benign")
    for index, strategy in enumerate(sweep.strategies):
        table.add_row(strategy, f"{harmful[index]:.0%}", f"{benign[index]:.0%}")
    return table


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    console = Console()

    train_seeds, held_seeds = split_seeds(load_default_seeds(), held_out=args.held_out, seed=0)
    train_env = DefenderStrategyEnv(train_seeds)
    train_env.reset(seed=args.seed)
    held_sweep = sweep_strategies(DefenderStrategyEnv(held_seeds))
    console.print(
        f"seeds: {len(train_seeds)} train ({train_env.num_contexts} attack contexts), "
        f"{len(held_seeds)} held out ({len(held_sweep.labels)} contexts); "
        f"strategies: {', '.join(train_env.strategies)}"
    )

    start = time.perf_counter()
    model = PPO(
        "MlpPolicy",
        train_env,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=args.steps)
    seconds = time.perf_counter() - start
    console.print(f"trained PPO for {args.steps} steps in {seconds:.1f} s")

    actions = held_sweep.actions_of(lambda obs: model.predict(obs, deterministic=True)[0])
    console.print(results_table(held_sweep, actions))
    console.print(shares_table(held_sweep, actions))
    gain = held_sweep.policy_mean(actions) - held_sweep.random_mean()
    console.print(f"trained minus uniform random: {gain:+.2f}")


if __name__ == "__main__":
    main()
