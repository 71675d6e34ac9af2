"""The one place that imports TRL's PPO.

PPO lives in ``trl.experimental.ppo`` and was removed from TRL in 1.13; curate pins
``trl>=1.10,<1.13`` (pyproject ``train`` extra) so that ``curate train ppo`` keeps working.
Keeping the import here means a move to another PPO implementation touches one file.
"""

from __future__ import annotations

from trl.experimental.ppo import PPOConfig, PPOTrainer

__all__ = ["PPOConfig", "PPOTrainer"]
