"""Tokenize + label throughput on 20k prompt/completion examples, against two baselines measured
in the same run on the same data and tokenizer (byte-level BPE, vocab 8192, built in code):

* floor: the raw batched tokenizer call on the joined texts (no labels at all);
* TRL: ``SFTTrainer._prepare_dataset`` (TRL 1.12's own preparation: tokenizes prompt and
  prompt+completion, builds labels), run with its defaults.

Targets: >= 0.8x the floor and >= 1.6x TRL. Run: ``python benchmarks/bench_tokenize.py``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings for each contender")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from datasets import Dataset, disable_progress_bars

    from curate.templates import get_template
    from curate.testing.tiny import byte_level_bpe, corpus
    from curate.testing.trl_reference import trl_sft_prepare
    from curate.tokens.tokenize import RowTransform

    disable_progress_bars()
    tokenizer = byte_level_bpe(Path(tempfile.mkdtemp()) / "bpe", args.vocab, n_lines=20_000)
    lines = list(corpus(3 * args.examples, seed=7))
    alpaca = get_template("alpaca")
    rows = [
        {
            "prompt": alpaca.prompt(lines[3 * i], lines[3 * i + 1] if i % 2 else ""),
            "completion": lines[3 * i + 2],
        }
        for i in range(args.examples)
    ]
    texts = [r["prompt"] + r["completion"] + tokenizer.eos_token for r in rows]
    dataset = Dataset.from_dict(
        {"prompt": [r["prompt"] for r in rows], "completion": [r["completion"] for r in rows]}
    )

    def ours() -> None:
        transform = RowTransform("sft", tokenizer)
        out = list(transform.map(rows))
        assert not any(isinstance(r, tuple) for r in out), transform.summary()["rejected_by_reason"]

    def ours_per_row() -> None:
        transform = RowTransform("sft", tokenizer)
        for row in rows:
            transform(row)

    # Contenders alternate within each round so load from other processes hits them alike.
    timings: dict[str, list[float]] = {"raw": [], "ours": [], "row": [], "trl": []}
    contenders = {
        "raw": lambda: tokenizer(texts),
        "ours": ours,
        "row": ours_per_row,
        "trl": lambda: trl_sft_prepare(dataset, tokenizer),
    }
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    t_raw, t_ours, t_row, t_trl = (min(timings[k]) for k in ("raw", "ours", "row", "trl"))
    n_tokens = sum(len(x) for x in tokenizer(texts)["input_ids"])
    rate = lambda t: args.examples / t  # noqa: E731
    print(
        f"{args.examples} examples, {n_tokens} tokens, vocab {len(tokenizer)}, TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'default')}, {os.cpu_count()} cpus"
    )
    print(f"raw tokenizer call (floor): {t_raw:7.3f} s  {rate(t_raw):9.0f} ex/s")
    print(
        f"curate tokenize+labels    : {t_ours:7.3f} s  {rate(t_ours):9.0f} ex/s  = {t_raw / t_ours:.2f}x raw (target >= 0.8)"
    )
    print(
        f"TRL SFT _prepare_dataset  : {t_trl:7.3f} s  {rate(t_trl):9.0f} ex/s  -> curate = {t_trl / t_ours:.2f}x TRL (target >= 1.6)"
    )
    print(
        f"curate, one row per call  : {t_row:7.3f} s  {rate(t_row):9.0f} ex/s  = {t_raw / t_row:.2f}x raw, {t_trl / t_row:.2f}x TRL"
    )


if __name__ == "__main__":
    main()
