"""The one place that imports TRL's PPO.

PPO lives in ``trl.experimental.ppo`` and was removed from TRL in 1.13, while the other stages follow
the current TRL. ``curate train ppo`` therefore runs in a second environment with the ``ppo`` extra
(``pip install -e ".[ppo]"``: TRL 1.12); on a newer TRL it says so in one line. TRL's maintained
online-RL trainers that take a trained reward model are GRPO and RLOO (``curate train grpo|rloo``).
"""

from __future__ import annotations

import warnings
from typing import Any

from curate.errors import CurateError

LAST_TRL_WITH_PPO = "1.12"


def load_ppo() -> tuple[Any, Any]:
    """``(PPOConfig, PPOTrainer)`` from the installed TRL, or one clear error naming what to install."""
    import trl

    try:
        with warnings.catch_warnings():
            # curate chose TRL 1.12's experimental PPO knowingly (above); the import's notice would
            # otherwise precede every `curate train ppo` line, errors included
            warnings.filterwarnings(
                "ignore", message="You are importing from 'trl.experimental'", category=UserWarning
            )
            from trl.experimental.ppo import PPOConfig, PPOTrainer
    except ImportError:
        raise CurateError(
            f"curate train ppo needs TRL {LAST_TRL_WITH_PPO} (PPO was removed in TRL 1.13; this is TRL "
            f"{trl.__version__}): install curate's ppo extra in a second environment (make venv-ppo, or "
            "pip install 'trl>=1.12,<1.13' there), or use curate train grpo / rloo"
        ) from None
    return PPOConfig, PPOTrainer


def available() -> bool:
    """Whether the installed TRL still has PPO (1.12 and older)."""
    import importlib.util

    try:
        return importlib.util.find_spec("trl.experimental.ppo") is not None
    except ImportError:
        return False
