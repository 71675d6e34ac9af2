"""This checkout's ``curate export`` against another commit's, in one run: the same export of the
same generated records (``dolly-curated.yaml``, the 1.x Hub layout and the 2.x ``to_disk``
layout), each in its own fresh process, the two checkouts in turns; medians of wall and CPU time
printed with their ratio, and every file of the two exports compared byte for byte.

    python benchmarks/bench_against.py [--base REV] [--records 100000] [--repeats 5] [--layouts v1,v2]
                                       [--tokenized]

``--tokenized`` exports token ids and labels too (``--tokenizer``, a byte-level BPE of 8,192 tokens
built in code, ``--max-length 512``).

The other commit is checked out into a temporary git worktree (removed afterwards); both
checkouts are byte-compiled first, as an installed curate is.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _peer_data import write_v1, write_v2_disk  # beside this script: python puts its folder on sys.path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"
CHILD = [sys.executable, "-m", "curate.commands.app", "export", str(SPEC), "-q", "--source"]


def one(tree: Path, source: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one export by the checkout at ``tree`` (its folder first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = os.times()
    t0 = time.perf_counter()
    done = subprocess.run(
        [*CHILD, str(source), "--out", str(out), *extra],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"export by {tree} failed:\n{done.stderr[-2000:]}")
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base",
        default="HEAD",
        help="the commit to compare with (any git revision; default HEAD: what is not committed)",
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layouts", default="v1,v2", help="v1, v2 or both (default v1,v2)")
    parser.add_argument("--tokenized", action="store_true", help="export token ids and labels too")
    args = parser.parse_args()
    base_rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here_rev = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-against-") as tmp:
        work = Path(tmp)
        base = work / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), base_rev],
            capture_output=True,
            check=True,
        )
        try:
            trees = {f"base {base_rev}": base, f"this {here_rev}": REPO}
            for tree in trees.values():
                compileall.compile_dir(str(tree / "curate"), quiet=1)
            extra: list[str] = []
            if args.tokenized:
                from curate.testing.tiny import byte_level_bpe

                byte_level_bpe(work / "bpe", 8192, n_lines=20_000)
                extra = ["--tokenizer", str(work / "bpe"), "--max-length", "512"]
            print(
                f"curate export, {args.records:,} records, this checkout against {base_rev}: medians of "
                f"{args.repeats} in turns{', tokenized' if args.tokenized else ''}; load average at start "
                f"{os.getloadavg()[0]:.2f}"
            )
            for layout in [x for x in args.layouts.split(",") if x]:
                source = work / f"src-{layout}"
                (write_v1 if layout == "v1" else write_v2_disk)(source, args.records)
                times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
                outs = {name: work / f"out-{layout}-{i}" for i, name in enumerate(trees)}
                for _ in range(args.repeats):
                    for name, tree in trees.items():
                        out = outs[name]
                        if out.exists():
                            shutil.rmtree(out)
                        times[name].append(one(tree, source, out, extra))
                title = (
                    "Argilla 1.x Hub layout (Parquet)"
                    if layout == "v1"
                    else "Argilla 2.x to_disk (records.json)"
                )
                print(f"== {title}")
                medians = {}
                for name, runs in times.items():
                    wall = statistics.median(w for w, _ in runs)
                    cpu = statistics.median(c for _, c in runs)
                    medians[name] = (wall, cpu)
                    spread = ", ".join(f"{w:.2f}" for w, _ in runs)
                    print(f"  {name:<24} {wall:6.2f} s wall ({spread})  {cpu:6.2f} s CPU")
                (base_wall, base_cpu), (here_wall, here_cpu) = medians.values()
                print(
                    f"  this / base: {base_wall / here_wall:.2f}x faster in wall time, {base_cpu / here_cpu:.2f}x in CPU time"
                )
                first, second = (digests(o) for o in outs.values())
                same = first == second
                print(f"  every file the same ({len(first)} files): {'yes' if same else 'NO'}")
                if not same:
                    raise SystemExit("the two checkouts wrote different files")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    print(f"  (load average at the end {os.getloadavg()[0]:.2f}: a shared machine slows both alike)")


if __name__ == "__main__":
    main()
