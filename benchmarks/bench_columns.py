"""The column-wise build against the row-by-row build it stands in for, in one run: the same
export of the same generated records (``dolly-curated.yaml``, the 1.x Hub layout and the 2.x
``to_disk`` layout), each build in its own fresh process, in turns, medians printed with their
ratio; the two outputs are compared byte for byte.

    python benchmarks/bench_columns.py [--records 100000] [--repeats 3]

The row-by-row build is what ``curate export`` ran before the column-wise one (and still runs for
sources read row by row); a child turns the column-wise build off with the pipeline's own switch.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _compiled import compile_curate  # beside this script: python puts its folder on sys.path
from _peer_data import write_v1, write_v2_disk

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"
CHILD = """
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
from pathlib import Path
from curate.api.loader import load_spec
from curate.pipeline import run
from curate.pipeline.plan import plan_export
from curate.sources.open import open_spec_source
run.COLUMN_WISE = sys.argv[1] == "columns"
spec = load_spec(Path(sys.argv[2]))
source = open_spec_source(spec, sys.argv[3])
run.run_export(plan_export(spec, source), source, run.ExportOptions(Path(sys.argv[4])))
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def one(build: str, source: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one export in a fresh process (CPU time moves less on a shared machine)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, build, str(SPEC), str(source), str(out)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{build} export failed:\n{done.stderr[-2000:]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    compile_curate()  # as an installed curate is: start-up without compiling
    print(
        f"column-wise vs row-by-row build, {args.records:,} records, medians of {args.repeats}, load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-columns-") as tmp:
        work = Path(tmp)
        for layout, write in (("1.x Hub layout", write_v1), ("2.x to_disk", write_v2_disk)):
            source = work / f"src-{layout[:3]}"
            write(source, args.records)
            times: dict[str, list[tuple[float, float]]] = {"rows": [], "columns": []}
            outs: dict[str, Path] = {}
            for rep in range(args.repeats):
                for build in times:  # in turns: a busy machine slows both alike
                    out = work / f"out-{build}-{rep}"
                    times[build].append(one(build, source, out))
                    outs[build] = out
            wall = {b: statistics.median(t[0] for t in ts) for b, ts in times.items()}
            cpu = {b: statistics.median(t[1] for t in ts) for b, ts in times.items()}
            same = digest(outs["rows"]) == digest(outs["columns"])
            print(
                f"  {layout}: row by row {wall['rows']:.2f} s ({cpu['rows']:.2f} s CPU), column-wise "
                f"{wall['columns']:.2f} s ({cpu['columns']:.2f} s CPU): {wall['rows'] / wall['columns']:.2f}x "
                f"faster ({cpu['rows'] / cpu['columns']:.2f}x in CPU time); every file the same: "
                f"{'yes' if same else 'NO'}"
            )
            if not same:
                raise SystemExit(1)
    print(f"  (load average at the end {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
