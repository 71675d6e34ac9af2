"""Export at scale (issue 23): wall time and peak memory of `curate export` as the record count grows.

Generates Argilla 2.x ``to_disk`` folders (``_peer_data.py``, the Dolly-curated reviews) of each size,
runs ``curate export`` of ``datasets_spec/dolly-curated.yaml`` in one process and with ``--num-proc 2``,
and prints per run: wall seconds, the peak RSS of the largest process (``os.wait4``: the export's
parent or one of its workers, whichever was larger) and the peak of the summed PSS of the whole
process tree (polled from ``/proc`` every 50 ms: shared pages of forked workers are counted once).
Then the slope of each figure (per 100k records, least squares over the sizes run) and the memory
ratios against the smallest size. ``--hashes FILE`` writes the sha256 of every output file, to show
that a change keeps the benchmark sets' exports byte-identical (``--compare-hashes FILE``).

    python benchmarks/bench_scale.py --sizes 100k,300k,1M        # 3M takes several minutes more
    python benchmarks/bench_scale.py --sizes 100k --modes one --work /tmp/scale-data

Each run is a fresh process forked by a bare ``python -S`` launcher, so only the export's memory counts.
Generated sources are kept in ``--work`` (default: a temporary folder) and reused by later runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _compiled import compile_curate
from _peer_data import write_v2_disk  # beside this script: python puts its folder on sys.path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"
MODES = {"one": [], "np2": ["--num-proc", "2"]}

# Forks and execs the export, polls the process tree's PSS (own + descendants) while it runs, and
# writes: exit code, wall seconds, ru_maxrss (KB, the largest process of the tree), peak tree PSS (KB).
LAUNCHER = r"""
import os, sys, time
def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out
def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
peak = 0
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    peak = max(peak, sum(pss(p) for p in tree(pid)))
    time.sleep(0.05)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    fh.write(f"{os.waitstatus_to_exitcode(status)} {wall} {usage.ru_maxrss} {peak}")
"""


def parse_size(text: str) -> int:
    """``100k`` -> 100000, ``1M`` -> 1000000, ``2500`` -> 2500."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else str(n)


def source_for(work: Path, n: int) -> Path:
    folder = work / f"v2-{label(n)}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_v2_disk(folder, n)
        (folder / ".complete").write_text("")
    return folder


def run_export(source: Path, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS of the largest process (MB), peak PSS of the process tree (MB)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "curate.commands.app", "export", str(SPEC), "--source", str(source)]
    cmd += ["--out", str(out), "-q", *extra]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        proc = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, str(report), *cmd],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not report.exists():
            raise SystemExit(f"launcher failed: {proc.stderr[-2000:]}")
        code, wall, maxrss_kb, pss_kb = report.read_text().split()
    if int(code) != 0:
        raise SystemExit(f"export failed ({code}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return float(wall), int(maxrss_kb) / 1024, int(pss_kb) / 1024


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="100k,300k,1M,3M", help="record counts, e.g. 100k,1M (default 100k,300k,1M,3M)"
    )
    parser.add_argument("--modes", default="one,np2", help="one (one process), np2 (--num-proc 2), or both")
    parser.add_argument("--work", type=Path, help="folder for generated sources (kept and reused)")
    parser.add_argument("--hashes", type=Path, help="write the sha256 of every output file to this JSON file")
    parser.add_argument("--compare-hashes", type=Path, help="compare the outputs with a --hashes file")
    args = parser.parse_args()
    compile_curate()  # as an installed curate is: start-up without compiling
    sizes = sorted(parse_size(s) for s in args.sizes.split(",") if s.strip())
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {unknown}, expected one or np2")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"curate export at scale (2.x to_disk, {SPEC.name}); Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results: dict[str, dict[int, tuple[float, float, float]]] = {m: {} for m in modes}
    hashes: dict[str, dict[str, str]] = {}
    for n in sizes:
        source = source_for(work, n)
        for mode in modes:
            out = work / f"out-{label(n)}-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, pss = run_export(source, out, MODES[mode])
            results[mode][n] = (wall, rss, pss)
            hashes[f"{label(n)}/{mode}"] = file_hashes(out)
            shutil.rmtree(out, ignore_errors=True)
            print(
                f"  {label(n):>5} {mode:<4} {wall:8.1f} s  {n / wall:8,.0f} rec/s  "
                f"peak RSS {rss:7,.0f} MB  tree PSS {pss:7,.0f} MB",
                flush=True,
            )
    print(
        "\n| records | mode | wall s | rec/s | peak RSS MB (largest process) | peak PSS MB (all processes) |"
    )
    print("|---|---|---|---|---|---|")
    for mode in modes:
        for n, (wall, rss, pss) in results[mode].items():
            print(f"| {n:,} | {mode} | {wall:.1f} | {n / wall:,.0f} | {rss:,.0f} | {pss:,.0f} |")
    print()
    base = sizes[0]
    for mode in modes:
        xs = [n / 100_000 for n in results[mode]]
        walls = [r[0] for r in results[mode].values()]
        rsss = [r[1] for r in results[mode].values()]
        psss = [r[2] for r in results[mode].values()]
        ratios = ", ".join(
            f"RSS({label(n)})/RSS({label(base)}) {results[mode][n][1] / results[mode][base][1]:.2f}"
            for n in sizes[1:]
        )
        print(
            f"{mode}: slope {slope(xs, walls):.2f} s, {slope(xs, rsss):.1f} MB RSS, {slope(xs, psss):.1f} MB PSS "
            f"per 100k records; {ratios or 'one size only'}"
        )
    same_outputs = all(
        hashes[f"{label(n)}/{modes[0]}"] == hashes[f"{label(n)}/{m}"] for n in sizes for m in modes
    )
    print(f"every mode's output byte-identical to {modes[0]}'s: {'yes' if same_outputs else 'NO'}")
    print(f"(load average at the end {os.getloadavg()[0]:.2f}: a shared machine slows every run)")
    if args.hashes:
        args.hashes.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if args.compare_hashes:
        before = json.loads(args.compare_hashes.read_text(encoding="utf-8"))
        both = sorted(before.keys() & hashes.keys())
        changed = [k for k in both if before[k] != hashes[k]]
        for key in changed:
            files = sorted(
                f for f in before[key].keys() | hashes[key].keys() if before[key].get(f) != hashes[key].get(f)
            )
            print(f"CHANGED {key}: {', '.join(files)}")
        print(f"{len(both)} outputs compared with {args.compare_hashes}, {len(changed)} changed")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
