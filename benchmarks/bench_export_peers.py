"""curate export against every way a user could get the same rows (issue 14): the Argilla SDK 2.8
path (offline, from a to_disk folder), a hand-written pandas script and the bare read, for the
Argilla 1.x Hub layout and the 2.x to_disk layout, plus start-up time.

Every contender runs in its own subprocess (wall time and its own peak RSS from ``os.wait4``, forked
by a bare launcher so the parent's memory does not count);
repetitions go round-robin so a busy machine slows all contenders alike; medians are printed.
The rows the pandas script and the SDK path keep are compared with curate's.
Usage: python benchmarks/bench_export_peers.py [--quick] [--records N ...] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from _compiled import compile_curate
from _peer_data import write_v1, write_v2_disk  # beside this script: python puts its folder on sys.path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"
CONTENDERS = Path(__file__).resolve().parent / "_peer_contenders.py"
COMPARED = ("instruction", "context", "response")
# Figures from issue 14 for the Argilla 1.x SDK, which cannot be installed beside argilla 2.8.
V1_SDK_QUOTE = "Argilla 1.x SDK: not run (cannot be installed beside argilla==2.8); issue 14 measured {}"
WORKERS = min(2, os.cpu_count() or 1)  # curate export --num-proc: as many workers as this machine's cores
V1_SDK_FIGURES = {15_000: "159 s (prepare_for_training 167 s) at 15k", 100_000: "812 s at 100k"}


@dataclass
class Runs:
    label: str
    walls: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks_mb)

    def phases(self) -> dict[str, float]:
        names = self.reports[0].get("phases", {}) if self.reports else {}
        return {k: statistics.median(r["phases"][k] for r in self.reports) for k in names}


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # the curate of this checkout, whatever is installed in the environment
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


# Peak RSS must be the child's own: a process forked from this one (pyarrow loaded, rows read back)
# starts with this one's resident pages on its ru_maxrss. So children are forked by a bare
# ``python -S`` launcher (a few MB), which times them and reports os.wait4's rusage.
LAUNCHER = """
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    fh.write(f"{os.waitstatus_to_exitcode(status)} {wall} {usage.ru_maxrss}")
"""


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of this child alone, and its stdout; a failure stops the benchmark."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            launcher = [sys.executable, "-S", "-c", LAUNCHER, str(report), *cmd]
            subprocess.run(launcher, stdout=out, stderr=err, env=child_env(), cwd=REPO, check=True)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        code, wall, maxrss_kb = report.read_text().split()
    if int(code) != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{stderr[-3000:]}")
    return float(wall), int(maxrss_kb) / 1024, stdout


def curate_cmd(source: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "curate.commands.app",
        "export",
        str(SPEC),
        "--source",
        str(source),
        "--out",
        str(out),
        "-q",
        *extra,
    ]


def contender_cmd(name: str, source: Path, out: Path) -> list[str]:
    return [sys.executable, str(CONTENDERS), name, str(source), str(out)]


def measure(plan: dict[str, Any], repeats: int, work: Path) -> dict[str, Runs]:
    """Run each contender ``repeats`` times, round-robin; the last run's output folder is kept."""
    runs = {name: Runs(name) for name in plan}
    for rep in range(repeats):
        for name, make_cmd in plan.items():
            out = work / f"{name}-{rep}"
            wall, peak, stdout = run_child(make_cmd(out))
            r = runs[name]
            r.walls.append(wall)
            r.peaks_mb.append(peak)
            if name.startswith("curate"):
                r.reports.append(json.loads((out / "manifest.json").read_text(encoding="utf-8")))
            else:
                r.reports.append(json.loads(stdout.strip().splitlines()[-1]))
            if rep < repeats - 1:
                shutil.rmtree(out, ignore_errors=True)
    return runs


def read_rows(folder: Path) -> dict[str, tuple[str, ...]]:
    """record_id -> (instruction, context, response, prompt, completion) over the train and test files."""
    rows: dict[str, tuple[str, ...]] = {}
    for split in ("train", "test"):
        table = pq.read_table(
            folder / f"{split}.parquet", columns=["record_id", *COMPARED, "prompt", "completion"]
        )
        for row in table.to_pylist():
            rows[row["record_id"]] = tuple(row[c] for c in (*COMPARED, "prompt", "completion"))
    return rows


def compare(curate_out: Path, other_out: Path, other: str) -> str:
    mine, theirs = read_rows(curate_out), read_rows(other_out)
    both = mine.keys() & theirs.keys()
    same = sum(mine[k][:3] == theirs[k][:3] for k in both)
    same_pc = sum(mine[k][3:] == theirs[k][3:] for k in both)
    share = same / len(both) if both else 0.0
    return (
        f"rows vs {other}: curate keeps {len(mine):,}, {other} {len(theirs):,}, both {len(both):,}; "
        f"instruction/context/response equal in {same:,} of {len(both):,} ({share:.2%}), "
        f"prompt/completion equal in {same_pc:,}; kept by curate only {len(mine.keys() - theirs.keys()):,}, "
        f"by {other} only {len(theirs.keys() - mine.keys()):,}"
    )


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def line(label: str, r: Runs, n: int) -> str:
    phases = r.phases()
    shown = ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
    return f"  {label:<44} {r.wall:7.2f} s  {n / r.wall:9,.0f} rec/s  peak RSS {r.peak_mb:6,.0f} MB" + (
        f"  (in-process: {shown} s)" if shown else ""
    )


def bench_layout(layout: str, n: int, repeats: int, work: Path) -> dict[str, Runs]:
    source = work / f"src-{layout}"
    t0 = time.perf_counter()
    if layout == "v1":
        write_v1(source, n)
        data = source / "data" / "train-00000-of-00001.parquet"
        title = f"Argilla 1.x Hub layout (Dolly-curated columns), {n:,} records, Parquet {data.stat().st_size / 1e6:,.1f} MB"
    else:
        write_v2_disk(source, n)
        data = source / "records.json"
        title = f"Argilla 2.x to_disk, {n:,} records, records.json {data.stat().st_size / 1e6:,.1f} MB"
    print(f"== {title} (generated in {time.perf_counter() - t0:.1f} s)", flush=True)
    plan: dict[str, Any] = {"curate": lambda out: curate_cmd(source, out)}
    if WORKERS > 1:
        plan["curate-workers"] = lambda out: curate_cmd(source, out, "--num-proc", str(WORKERS))
    if layout == "v2":
        plan["sdk"] = lambda out: contender_cmd("sdk_v2", source, out)
    plan["pandas"] = lambda out: contender_cmd(f"pandas_{layout}", source, out)
    plan["floor"] = lambda out: contender_cmd(f"floor_{layout}", source, out)
    runs = measure(plan, repeats, work)
    manifest = runs["curate"].reports[-1]["counts"]
    assert manifest["input_records"] == n, manifest
    rejects = ", ".join(f"{k} {v:,}" for k, v in manifest["rejects_by_reason"].items())
    print(line("curate export", runs["curate"], n))
    print(f"    kept {manifest['kept_records']:,}, rejected {manifest['rejected_records']:,} ({rejects})")
    if WORKERS > 1:
        print(line(f"curate export --num-proc {WORKERS}", runs["curate-workers"], n))
        last = repeats - 1
        same = files_of(work / f"curate-{last}") == files_of(work / f"curate-workers-{last}")
        print(f"    every file byte-identical to one process: {'yes' if same else 'NO'}")
    if layout == "v2":
        print(line("Argilla SDK 2.8 (records.json -> to_datasets)", runs["sdk"], n))
    print(line("pandas script (same rule)", runs["pandas"], n))
    floor = "pq.read_table" if layout == "v1" else "json.load"
    print(line(f"read floor ({floor})", runs["floor"], n))
    if layout == "v1":
        print(f"  {V1_SDK_QUOTE.format(V1_SDK_FIGURES.get(n, '812 s at 100k, 159 s at 15k'))}")
    last = repeats - 1
    print("  " + compare(work / f"curate-{last}", work / f"pandas-{last}", "pandas"))
    if layout == "v2":
        print("  " + compare(work / f"curate-{last}", work / f"sdk-{last}", "SDK"))
    sys.stdout.flush()
    return runs


def bench_startup(repeats: int, work: Path) -> dict[str, Runs]:
    tiny = write_v1(work / "src-tiny", 10)
    plan: dict[str, Any] = {
        "python -c pass": lambda out: [sys.executable, "-c", "pass"],
        "curate --help": lambda out: [sys.executable, "-m", "curate.commands.app", "--help"],
        "curate export, 10 records": lambda out: curate_cmd(tiny, out),
    }
    runs = {name: Runs(name) for name in plan}
    for rep in range(max(repeats, 3)):  # start-up is cheap: always at least 3
        for name, make_cmd in plan.items():
            out = work / f"startup-{rep}"
            wall, peak, _ = run_child(make_cmd(out))
            runs[name].walls.append(wall)
            runs[name].peaks_mb.append(peak)
            shutil.rmtree(out, ignore_errors=True)
    print("== start-up")
    for name, r in runs.items():
        print(f"  {name:<44} {r.wall:7.2f} s  peak RSS {r.peak_mb:6,.0f} MB")
    return runs


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append", help="records per dataset (repeatable)")
    parser.add_argument("--quick", action="store_true", help="2,000 records, one run each")
    parser.add_argument("--repeats", type=int, help="runs per contender (default 3, 1 with --quick)")
    parser.add_argument("--layouts", default="v1,v2", help="v1, v2 or both (default v1,v2)")
    args = parser.parse_args()
    compile_curate()  # as an installed curate is: start-up without compiling
    sizes = args.records or ([2_000] if args.quick else [15_000, 100_000])
    repeats = args.repeats or (1 if args.quick else 3)
    layouts = [x for x in args.layouts.split(",") if x]
    print(
        f"curate export vs its peers: medians of {repeats}; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}"
    )
    results: dict[tuple[str, int], dict[str, Runs]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        startup = bench_startup(repeats, Path(tmp) / "startup")
        for n in sizes:
            for layout in layouts:
                work = Path(tmp) / f"{layout}-{n}"
                work.mkdir(parents=True)
                results[(layout, n)] = bench_layout(layout, n, repeats, work)
                shutil.rmtree(work, ignore_errors=True)
    print("== ratios (issue 14 targets apply at 100k records)")
    for (layout, n), runs in results.items():
        c = runs["curate"]
        if layout == "v2":
            sdk = runs["sdk"]
            speedup = sdk.wall / c.wall
            sdk_only = sum(
                v for k, v in sdk.phases().items() if k in ("import", "read_records", "to_datasets")
            )
            print(
                f"  2.x to_disk {n:,}: curate {speedup:.2f}x faster than the SDK 2.8 path (target >= 2x: "
                f"{verdict(speedup, 2, True)}; the SDK's import + Record objects + to_datasets() alone take "
                f"{sdk_only:.2f} s of its {sdk.wall:.2f} s); curate peak RSS {c.peak_mb:,.0f} MB vs SDK "
                f"{sdk.peak_mb:,.0f} MB (target <= 300 MB: {verdict(c.peak_mb, 300, False)})"
            )
            print(
                f"  2.x to_disk {n:,}: curate / pandas script {c.wall / runs['pandas'].wall:.1f}x; "
                f"curate / read floor {c.wall / runs['floor'].wall:.1f}x"
            )
            if WORKERS > 1:
                w = runs["curate-workers"]
                print(
                    f"  2.x to_disk {n:,} with --num-proc {WORKERS}: {sdk.wall / w.wall:.2f}x faster than the "
                    f"SDK path, {c.wall / w.wall:.2f}x faster than one process; curate / read floor "
                    f"{w.wall / runs['floor'].wall:.1f}x; peak RSS of its largest process {w.peak_mb:,.0f} MB"
                )
        else:
            vs_pandas = c.wall / runs["pandas"].wall
            vs_floor = c.wall / runs["floor"].wall
            print(
                f"  1.x {n:,}: curate / pandas script {vs_pandas:.1f}x (target <= 3x: "
                f"{verdict(vs_pandas, 3, False)}); curate / read floor {vs_floor:.1f}x "
                f"(target <= 10x: {verdict(vs_floor, 10, False)}); curate peak RSS {c.peak_mb:,.0f} MB"
            )
            if WORKERS > 1:
                w = runs["curate-workers"]
                vs_floor = w.wall / runs["floor"].wall
                print(
                    f"  1.x {n:,} with --num-proc {WORKERS}: curate / pandas script "
                    f"{w.wall / runs['pandas'].wall:.1f}x; curate / read floor {vs_floor:.1f}x (target <= 10x: "
                    f"{verdict(vs_floor, 10, False)}); {c.wall / w.wall:.2f}x faster than one process; "
                    f"peak RSS of its largest process {w.peak_mb:,.0f} MB"
                )
    print(f"  (load average at the end {os.getloadavg()[0]:.2f}: a shared machine slows every contender)")
    help_s, bare_s = startup["curate --help"].wall, startup["python -c pass"].wall
    print(
        f"  curate --help {help_s:.2f} s (target <= 0.3 s: {verdict(help_s, 0.3, False)}) vs python -c pass "
        f"{bare_s:.2f} s ({help_s / bare_s:.1f}x); a 10-record export {startup['curate export, 10 records'].wall:.2f} s"
    )


if __name__ == "__main__":
    main()
