"""Thin training entry points (SFT, reward model, PPO, DPO) over TRL, fed by ``curate export`` folders.

Each stage module has ``make_parser()`` and ``main(argv)``; the shared plumbing (config checking,
data loading, model loading, outputs with a provenance card) lives in :mod:`train.common`.
"""
