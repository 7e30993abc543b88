"""The learner base class: it owns the loop, each algorithm only its loss.

One learner step:

1. draw ``harmful_batch`` harmful and ``benign_batch`` benign seeds with :attr:`Learner.rng`;
2. play them all in one batched :func:`~advgame.envs.play_batch` call, so each player
   samples once per step (from its EMA copy for AdvGame-DPO/IPO, else from itself);
3. for the harmful batch, then the benign batch, let :meth:`Learner.train_batch` update each
   player that is not frozen (every batch has its own optimizer step);
4. advance both learning-rate schedules and, where used, update each EMA copy once.

Metrics are namespaced: ``attacker/``, ``defender/``, ``judge/``, ``env/`` and ``train/``;
per-batch training metrics end in ``_harmful`` or ``_benign``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from advgame.agents.base import Completion
from advgame.agents.learners.config import ROLES, LearnerConfig, PlayerConfig
from advgame.agents.learners.samples import Sample
from advgame.agents.learners.weights import ShadowWeights, cosine_multiplier
from advgame.agents.lm_agent import LMAgent
from advgame.envs.game import Game
from advgame.envs.rollout import play_batch
from advgame.envs.seeds.base import Seed
from advgame.envs.tree import RolloutTree, SeedNode
from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

LABELS: tuple[str, str] = ("harmful", "benign")


@dataclass
class Player:
    """Everything a learner keeps for one player.

    Attributes:
        role: ``"attacker"`` or ``"defender"``.
        agent: the agent whose model is trained in place.
        config: the player's settings.
        optimizer: AdamW over the agent's trainable parameters and any extra modules;
            ``None`` for a frozen player.
        scheduler: the warm-up plus cosine schedule, stepped once per learner step.
        ema: the EMA copy that samples and serves as reference (AdvGame-DPO/IPO).
        reference: the frozen initial weights for a KL penalty (GRPO, PPO).
        modules: extra trained modules such as a PPO value head, by name.
    """

    role: str
    agent: LMAgent
    config: PlayerConfig
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
    ema: ShadowWeights | None = None
    reference: ShadowWeights | None = None
    modules: dict[str, torch.nn.Module] = field(default_factory=dict)

    @property
    def frozen(self) -> bool:
        return self.config.frozen

    def parameters(self) -> list[torch.nn.Parameter]:
        """Return every parameter the optimizer updates."""
        params = self.agent.trainable_parameters()
        for module in self.modules.values():
            params += [p for p in module.parameters() if p.requires_grad]
        return params


class _PlayerPolicy:
    """Samples for one player with its rollout settings, optionally from shadow weights."""

    def __init__(self, player: Player, shadow: ShadowWeights | None) -> None:
        self.player = player
        self.shadow = shadow

    def generate(self, prompts: Sequence[str], num_samples: int = 1) -> list[list[Completion]]:
        agent = self.player.agent
        swap = self.shadow.swapped_into(agent.model) if self.shadow is not None else nullcontext()
        with swap:
            return agent.generate(prompts, num_samples, self.player.config.sampling)


class Learner:
    """Base of all learners: trains the attacker and the defender from one rollout tree.

    Subclasses set :attr:`name`, implement :meth:`train_batch` and may set
    :attr:`samples_from_ema` and :attr:`uses_reference`. Register them with
    :func:`~advgame.agents.learners.register_learner`.

    Args:
        game: the rules and judges; ``game.reward_mode`` decides pairwise or pointwise
            rewards, and the learner never judges again.
        attacker: the attacker agent, trained in place.
        defender: the defender agent, trained in place; a separate model.
        seeds: the pool that each step's seeds are drawn from.
        config: the run's settings.
    """

    name: ClassVar[str] = ""
    samples_from_ema: ClassVar[bool] = False
    uses_reference: ClassVar[bool] = False

    def __init__(
        self,
        game: Game,
        attacker: LMAgent,
        defender: LMAgent,
        seeds: Sequence[Seed],
        config: LearnerConfig,
    ) -> None:
        if not isinstance(config, LearnerConfig):
            raise ConfigError(
                f"Expects config to be a LearnerConfig, actual: {type(config).__name__}; "
                "build one with LearnerConfig(...) or LearnerConfig.from_dict(...)"
            )
        if not isinstance(game, Game):
            raise ConfigError(f"Expects game to be a Game, actual: {type(game).__name__}")
        for role, agent in (("attacker", attacker), ("defender", defender)):
            if not isinstance(agent, LMAgent):
                raise ConfigError(
                    f"Expects the {role} to be an LMAgent, actual: {type(agent).__name__}; "
                    "learners train a model through LMAgent"
                )
        if attacker is defender or attacker.model is defender.model:
            raise ConfigError(
                "Expects the attacker and the defender to be separate models, actual: the same "
                "model object; build two LMAgent instances"
            )
        self.game = game
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self._pools = {label: [s for s in seeds if s.label == label] for label in LABELS}
        self._check_seed_pools(len(seeds))
        self.check_config(config)
        self.players = {
            role: self._build_player(role, agent)
            for role, agent in (("attacker", attacker), ("defender", defender))
        }
        self._step_count = 0

    # -- construction --------------------------------------------------------------------

    def _check_seed_pools(self, total: int) -> None:
        for label in LABELS:
            batch_size = getattr(self.config, f"{label}_batch")
            if batch_size and not self._pools[label]:
                raise ConfigError(
                    f"Expects {label} seeds for {label}_batch={batch_size}, actual: none among "
                    f"{total} seeds; add {label} seeds or set {label}_batch: 0"
                )

    def check_config(self, config: LearnerConfig) -> None:
        """Raise :class:`~advgame.errors.ConfigError` for settings this algorithm cannot use."""

    def create_modules(self, role: str, agent: LMAgent) -> dict[str, torch.nn.Module]:
        """Return extra modules to train with ``role`` (for example a value head)."""
        return {}

    def extra_param_groups(self, player: Player) -> list[dict[str, Any]]:
        """Return optimizer parameter groups for :attr:`Player.modules`."""
        return [
            {"params": list(module.parameters()), "weight_decay": 0.0}
            for module in player.modules.values()
        ]

    def _build_player(self, role: str, agent: LMAgent) -> Player:
        cfg = self.config.player(role)
        player = Player(role, agent, cfg)
        if cfg.frozen:
            return player
        if not agent.trainable_parameters():
            raise ConfigError(
                f"Expects the {role} model to have trainable parameters, actual: none; set "
                f"{role}.frozen: true to keep it fixed"
            )
        player.modules = self.create_modules(role, agent)
        groups = [{"params": agent.trainable_parameters()}, *self.extra_param_groups(player)]
        player.optimizer = torch.optim.AdamW(
            groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )
        schedule = partial(
            cosine_multiplier,
            total_steps=self.config.total_steps,
            warmup_steps=cfg.warmup_steps,
            final_ratio=cfg.lr_final_ratio,
        )
        player.scheduler = torch.optim.lr_scheduler.LambdaLR(player.optimizer, schedule)
        if self.samples_from_ema:
            player.ema = ShadowWeights(agent.model)
        if self.uses_reference and cfg.beta > 0:
            player.reference = ShadowWeights(agent.model)
        return player

    # -- the loop ------------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        """Learner steps done so far, including those restored from a checkpoint."""
        return self._step_count

    def step(self) -> dict[str, float]:
        """Play one batch of seeds, update both players, and return the step's metrics."""
        started = time.perf_counter()
        tree = self.play()
        metrics = dict(tree.metrics)
        for role in ROLES:
            player = self.players[role]
            if player.scheduler is not None:
                metrics[f"{role}/lr"] = player.scheduler.get_last_lr()[0]

        for label in LABELS:
            nodes = [node for node in tree.nodes if node.seed.label == label]
            if not nodes:
                continue
            for role in ROLES:
                player = self.players[role]
                if player.frozen:
                    continue
                for key, value in self.train_batch(player, nodes).items():
                    metrics[f"{role}/{key}_{label}"] = value

        for player in self.players.values():
            if player.frozen:
                continue
            assert player.scheduler is not None
            with warnings.catch_warnings():
                # A step whose batches gave no pairs or samples makes no optimizer step; the
                # schedule still follows learner steps, which torch warns about.
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step")
                player.scheduler.step()
            if player.ema is not None:
                player.ema.update_ema(player.agent.model, self.config.ema_decay)
        self._step_count += 1
        metrics["train/step"] = float(self._step_count)
        metrics["train/step_seconds"] = time.perf_counter() - started
        logger.info("step %d: %s", self._step_count, _summary(metrics))
        return metrics

    def play(self) -> RolloutTree:
        """Draw this step's seeds and return their scored rollout tree.

        Every completion of a trained player leaves with sampler log-probabilities: those
        its backend reported, or ones recomputed here with the weights that sampled.
        """
        seeds = self.draw_seeds()
        policies = {role: self.sampling_policy(role) for role in ROLES}
        tree = play_batch(
            self.game,
            seeds,
            policies["attacker"],
            policies["defender"],
            num_attacks=self.config.attacker.group_size,
            num_responses=self.config.defender.group_size,
            rng=self.rng,
        )
        attacks = [attack.completion for _, attack in tree.attacks()]
        responses = [response.completion for _, _, response in tree.responses()]
        for role, completions in (("attacker", attacks), ("defender", responses)):
            if not self.players[role].frozen:
                self._fill_sampler_logprobs(self.players[role], completions)
        return tree

    def _fill_sampler_logprobs(self, player: Player, completions: list[Completion]) -> None:
        missing = [c for c in completions if c.logprobs is None and c.token_ids]
        if not missing:
            return
        samples = [Sample(c.prompt_ids, c.token_ids, None, 0.0, False, False, 0) for c in missing]
        with torch.no_grad():
            logprobs, _ = self.token_logprobs(player, samples, player.ema)  # (N, T)
        for completion, row in zip(missing, logprobs):
            completion.logprobs = row[: len(completion.token_ids)].tolist()

    def draw_seeds(self) -> list[Seed]:
        """Draw the harmful then the benign seeds of one step, without repeats when possible."""
        seeds: list[Seed] = []
        for label in LABELS:
            pool = self._pools[label]
            size = getattr(self.config, f"{label}_batch")
            if size == 0:
                continue
            indices = self.rng.choice(len(pool), size=size, replace=size > len(pool))
            seeds += [pool[int(i)] for i in indices]
        return seeds

    def sampling_policy(self, role: str) -> _PlayerPolicy:
        """Return the policy that samples ``role``'s rollouts this step."""
        # NOTE: the EMA weights are swapped into the agent's in-process model, so a backend
        # that samples elsewhere (a server) would sample from weights it holds itself.
        player = self.players[role]
        return _PlayerPolicy(player, player.ema)

    def train_batch(self, player: Player, nodes: Sequence[SeedNode]) -> dict[str, float]:
        """Update ``player`` from the scored ``nodes`` of one batch; return its metrics.

        Implementations compute the loss, call ``backward`` and then
        :meth:`optimizer_step` (once, or once per minibatch). Returned keys get the role
        prefix and the batch suffix from :meth:`step`.
        """
        raise NotImplementedError

    def learn(
        self,
        steps: int,
        callback: Callable[[int, dict[str, float]], bool | None] | None = None,
    ) -> None:
        """Run ``steps`` learner steps; stop early when ``callback(step, metrics)`` is False."""
        if not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"Expects steps to be a non-negative int, actual: {steps!r}")
        for _ in range(steps):
            metrics = self.step()
            if callback is not None and callback(self._step_count, metrics) is False:
                logger.info("callback stopped training after step %d", self._step_count)
                break

    # -- helpers for algorithms ----------------------------------------------------------

    def optimizer_step(self, player: Player) -> float:
        """Clip the gradient norm, step the optimizer, clear gradients; return the norm."""
        assert player.optimizer is not None
        params = player.parameters()
        norm = torch.nn.utils.clip_grad_norm_(params, player.config.grad_clip)
        player.optimizer.step()
        player.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def token_logprobs(
        self, player: Player, samples: Sequence[Sample], shadow: ShadowWeights | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logprobs, mask)`` of ``samples``, both ``(N, T)``.

        With ``shadow`` the weights are swapped in and no graph is built; otherwise the call
        runs under the caller's grad mode.
        """
        agent = player.agent
        prompts = [s.prompt_ids for s in samples]
        completions = [s.token_ids for s in samples]
        size = player.config.micro_batch_size
        if shadow is None:
            return agent.token_logprobs(prompts, completions, batch_size=size)
        with torch.no_grad(), shadow.swapped_into(agent.model):
            return agent.token_logprobs(prompts, completions, batch_size=size)

    def sampler_token_logprobs(
        self, player: Player, samples: Sequence[Sample], shadow: ShadowWeights | None
    ) -> torch.Tensor:
        """Return the sampler's token log-probs ``(N, T)``, recomputed where missing.

        :meth:`play` fills in missing log-probs before any update, so the recomputation
        here serves only samples built by hand. ``shadow`` is the set of weights that
        sampled: the EMA copy, or ``None`` for the live model.
        """
        width = max(len(s.token_ids) for s in samples)
        device = next(player.agent.model.parameters()).device
        out = torch.zeros(len(samples), width, device=device)
        missing = [i for i, s in enumerate(samples) if s.sampler_logprobs is None]
        for i, sample in enumerate(samples):
            if sample.sampler_logprobs is not None:
                row = torch.tensor(sample.sampler_logprobs, dtype=torch.float32)
                out[i, : len(row)] = row.to(device)
        if missing:
            with torch.no_grad():
                recomputed, _ = self.token_logprobs(player, [samples[i] for i in missing], shadow)
            for position, i in enumerate(missing):
                out[i, : recomputed.shape[1]] = recomputed[position]
        return out

    # -- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write everything needed to continue this run exactly; see :mod:`.checkpoint`."""
        from advgame.agents.learners.checkpoint import save_checkpoint

        return save_checkpoint(self, Path(path))

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this learner."""
        from advgame.agents.learners.checkpoint import load_checkpoint

        load_checkpoint(self, Path(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, step={self._step_count})"


def nan_metrics(*keys: str) -> dict[str, float]:
    """Return NaN for each key: a batch without trainable samples has no loss."""
    return dict.fromkeys(keys, math.nan)


def _summary(metrics: dict[str, float]) -> str:
    keys = (
        "attacker/reward_mean",
        "defender/reward_mean",
        "attacker/parse_error_rate",
        "train/step_seconds",
    )
    return ", ".join(f"{k}={metrics[k]:.3g}" for k in keys if k in metrics)
