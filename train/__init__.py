"""Thin training entry points over TRL, fed by ``curate export`` folders: SFT, reward model, DPO,
KTO, PPO (TRL 1.12, the ``ppo`` extra), GRPO and RLOO.

Each stage module has ``make_parser()`` and ``main(argv)``; what they share lives by concern in
:mod:`train.config`, :mod:`train.data` (curate's labels), :mod:`train.models`, :mod:`train.outputs`
and :mod:`train.dist` (many processes), gathered by :mod:`train.common`. Nothing here imports
``curate.commands`` (the CLI imports ``train``, not the reverse).
"""
