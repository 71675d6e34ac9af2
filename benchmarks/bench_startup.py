"""Start-up of the curate command line (issue 23): ``curate --help`` and ``curate export --help``
beside ``python -c pass``, run in turns in the same loop so a busy machine slows all of them alike.

Prints the median wall seconds and the median CPU seconds (user + system, from ``os.wait4``: less
moved by other work on a shared machine) of each, and ``curate --help`` against its target
(<= 0.25 s wall) and against ``python -c pass``. Usage: python benchmarks/bench_startup.py [--runs N]
``--importtime`` also prints the slowest imports of ``curate --help`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _compiled import compile_curate  # beside this script

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.25
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "curate --help": [sys.executable, "-m", "curate.commands.app", "--help"],
    "curate export --help": [sys.executable, "-m", "curate.commands.app", "export", "--help"],
}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH")) if p)
    return out


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(), cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime


def slowest_imports(n: int = 15) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *COMMANDS["curate --help"][1:]],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    return [f"  {us / 1000:7.1f} ms {name}" for us, name in sorted(rows, reverse=True)[:n]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports of --help")
    args = parser.parse_args()
    compile_curate()  # as an installed curate is: start-up without compiling
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # once each, unmeasured: files into the page cache
        run_once(cmd)
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            wall, cpu = run_once(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(
        f"start-up, medians of {args.runs} runs in turns; Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name in COMMANDS:
        print(
            f"  {name:<22} wall {statistics.median(walls[name]):6.3f} s   cpu {statistics.median(cpus[name]):6.3f} s"
        )
    help_s = statistics.median(walls["curate --help"])
    bare_s = statistics.median(walls["python -c pass"])
    verdict = "met" if help_s <= TARGET_S else "NOT met"
    print(
        f"curate --help {help_s:.3f} s wall (target <= {TARGET_S} s: {verdict}), {help_s / bare_s:.1f}x "
        f"python -c pass ({bare_s:.3f} s); {help_s - bare_s:.3f} s more"
    )
    if args.importtime:
        print("slowest imports of curate --help (cumulative):")
        print("\n".join(slowest_imports()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
