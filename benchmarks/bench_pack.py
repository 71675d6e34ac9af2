"""Packing fill ratio and time against TRL's ``pack_dataset(strategy="bfd")``, measured in the
same run on the same tokenized rows (lengths drawn like SFT examples: 20k rows, 30..2048 tokens,
log-uniform). Target: fill >= TRL's. Run: ``python benchmarks/bench_pack.py``.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--max-length", type=int, default=2048)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from datasets import Dataset, disable_progress_bars
    from trl.data_utils import pack_dataset

    from curate.tokens.pack import pack_rows

    disable_progress_bars()
    rng = random.Random(0)
    lengths = [int(math.exp(rng.uniform(math.log(30), math.log(args.max_length)))) for _ in range(args.rows)]
    rows = [
        {
            "record_id": str(i),
            "input_ids": [i % 30000 + 1] * n,
            "labels": [-100] * (n // 2) + [1] * (n - n // 2),
        }
        for i, n in enumerate(lengths)
    ]
    dataset = Dataset.from_dict(
        {"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]}
    )

    start = time.perf_counter()
    _, ours = pack_rows(rows, args.max_length)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    packed = pack_dataset(dataset, args.max_length, strategy="bfd")
    t_trl = time.perf_counter() - start
    trl_fill = sum(lengths) / (len(packed) * args.max_length)
    print(f"{args.rows} rows, {sum(lengths)} tokens, max_length {args.max_length}")
    print(f"curate pack_rows : {ours['bins']:6d} bins, fill {ours['fill_ratio']:.4f}, {t_ours:6.2f} s")
    print(f"TRL pack_dataset : {len(packed):6d} bins, fill {trl_fill:.4f}, {t_trl:6.2f} s")
    print(
        f"fill ratio curate/TRL = {ours['fill_ratio'] / trl_fill:.4f} (target >= 1.0); time curate/TRL = {t_ours / t_trl:.2f}x"
    )


if __name__ == "__main__":
    main()
