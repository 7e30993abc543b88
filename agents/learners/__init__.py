"""Learners that train the attacker and the defender together from one rollout tree.

===========  =====================================================================
name         method
===========  =====================================================================
``"dpo"``    AdvGame-DPO: best-vs-worst pairs, sampled from EMA copies (the default)
``"ipo"``    AdvGame-IPO: the same pairs with the IPO loss
``"grpo"``   AdvGame-GRPO: on-policy REINFORCE with a k3 KL penalty
``"ppo"``    PPO with a value head and GAE
===========  =====================================================================

Build one with :func:`make_learner` and run it with :meth:`Learner.learn`; add your own with
:func:`register_learner`.
"""

from __future__ import annotations

from advgame.agents.learners.base import Learner, Player
from advgame.agents.learners.checkpoint import read_checkpoint_config, read_checkpoint_state
from advgame.agents.learners.config import LearnerConfig, PlayerConfig
from advgame.agents.learners.dpo import AdvGameDPO, AdvGameIPO, dpo_loss, ipo_loss
from advgame.agents.learners.grpo import AdvGameGRPO, grpo_loss, k3_kl
from advgame.agents.learners.ppo import PPO, ValueHead, gae, ppo_loss
from advgame.agents.learners.registry import (
    available_learners,
    learner_class,
    make_learner,
    register_learner,
)
from advgame.agents.learners.samples import Pair, Sample, player_groups, select_pairs
from advgame.agents.learners.weights import ShadowWeights, cosine_multiplier

__all__ = [
    "PPO",
    "AdvGameDPO",
    "AdvGameGRPO",
    "AdvGameIPO",
    "Learner",
    "LearnerConfig",
    "Pair",
    "Player",
    "PlayerConfig",
    "Sample",
    "ShadowWeights",
    "ValueHead",
    "available_learners",
    "cosine_multiplier",
    "dpo_loss",
    "gae",
    "grpo_loss",
    "ipo_loss",
    "k3_kl",
    "learner_class",
    "make_learner",
    "player_groups",
    "ppo_loss",
    "read_checkpoint_config",
    "read_checkpoint_state",
    "register_learner",
    "select_pairs",
]
