"""sha256 of every file that exporting every shipped spec writes, to prove a refactor changes no byte.

Each spec in ``datasets_spec/`` is exported as Parquet and as JSONL, plain, tokenized (a byte-level
BPE with a ChatML template, built in code) and tokenized + packed, and once with ``--num-proc 2``.
The tokenizer is built once into ``--work`` and reused, so two runs compare the same tokens.

    python benchmarks/export_hashes.py --write before.json     # on the old commit
    python benchmarks/export_hashes.py --compare before.json   # on the new one: exits 1 on any change

A spec/variant that fails records its one error line, so a changed error is a change too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS: dict[str, list[str]] = {
    "parquet": ["--format", "parquet"],
    "jsonl": ["--format", "jsonl"],
    "parquet-tok": ["--format", "parquet", "--tokenizer", "{tok}", "--max-length", "256"],
    "jsonl-tok": ["--format", "jsonl", "--tokenizer", "{tok}", "--max-length", "256"],
    "parquet-packed": ["--format", "parquet", "--tokenizer", "{tok}", "--max-length", "256", "--pack"],
    "jsonl-packed": ["--format", "jsonl", "--tokenizer", "{tok}", "--max-length", "256", "--pack"],
    "parquet-np2": ["--format", "parquet", "--num-proc", "2"],
}


def tokenizer(work: Path) -> Path:
    path = work / "tokenizer-chatml"
    if not (path / "tokenizer_config.json").exists():
        from curate.testing.tiny import chat_tokenizer

        chat_tokenizer(path, "chatml", vocab_size=1024)
    return path


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run(work: Path) -> dict[str, object]:
    tok = tokenizer(work)
    curate = Path(sys.executable).parent / "curate"
    results: dict[str, object] = {}
    for spec in sorted((REPO / "datasets_spec").glob("*.yaml")):
        for name, flags in VARIANTS.items():
            out = work / "out" / spec.stem / name
            args = [a.replace("{tok}", str(tok)) for a in flags]
            cmd = [str(curate), "export", str(spec), "--out", str(out), "--quiet", *args]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            key = f"{spec.stem}/{name}"
            if proc.returncode == 0:
                results[key] = digest(out)
            else:
                results[key] = {
                    "exit": proc.returncode,
                    "stderr": proc.stderr.strip().replace(str(work), "WORK"),
                }
            print(f"{key}: {'ok' if proc.returncode == 0 else 'exit ' + str(proc.returncode)}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the hashes to this JSON file")
    group.add_argument("--compare", type=Path, help="compare with hashes written earlier")
    parser.add_argument("--work", type=Path, default=None, help="folder for the tokenizer and exports")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="curate-hashes-"))
    work.mkdir(parents=True, exist_ok=True)
    results = run(work)
    if args.write:
        args.write.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        files = sum(len(v) for v in results.values() if isinstance(v, dict) and "exit" not in v)
        print(f"wrote {len(results)} exports ({files} files) to {args.write}")
        return 0
    before = json.loads(args.compare.read_text(encoding="utf-8"))
    changed = sorted(k for k in before.keys() | results.keys() if before.get(k) != results.get(k))
    for key in changed:
        old, new = before.get(key), results.get(key)
        if isinstance(old, dict) and isinstance(new, dict) and "exit" not in old and "exit" not in new:
            files = sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))
            print(f"CHANGED {key}: {', '.join(files)}")
        else:
            print(f"CHANGED {key}:\n  before {old}\n  after  {new}")
    print(f"{len(results)} exports compared, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
