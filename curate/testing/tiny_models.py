"""Tiny Llama-architecture models built in code and saved with ``save_pretrained``, so training
tests run the real loading code and real TRL trainers without the Hub. Tokenizers come from
:mod:`curate.testing.tiny` (e.g. ``chat_tokenizer(path, "qwen2_5")``).

A 2-layer, 64-wide model takes a few hundredths of a second per small batch on one CPU core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_tiny_llama(
    out_dir: str | Path,
    tokenizer: Any,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised Llama causal LM and its tokenizer to ``out_dir``; return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m curate.testing.tiny_models OUT_DIR``: a tiny base model for the README's demo."""
    import argparse

    from curate.testing.tiny import chat_tokenizer

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--family", default="qwen2_5", help="chat tokens and TRL chat template to use")
    args = parser.parse_args(argv)
    tokenizer = chat_tokenizer(args.out_dir, args.family)
    print(build_tiny_llama(args.out_dir, tokenizer))


def _run() -> None:
    import sys

    from curate.errors import missing_extra_message

    try:
        main()
    except ModuleNotFoundError as err:  # a core install (make demo) has no torch/transformers
        message = missing_extra_message(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    _run()
