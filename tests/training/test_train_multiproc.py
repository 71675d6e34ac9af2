"""Many processes: ``accelerate launch --multi_gpu --num_processes 2`` (two CPU processes over gloo
on a machine without GPUs) runs sft, reward, dpo and kto on tiny models, and what each saves matches
a single-process run with the same global batch: the same files, config and provenance (written
once, by the main process), and weights close to the single-process ones where the maths is the
same (sft, reward, dpo; KTO estimates its KL term per device batch, so its weights differ).

``accelerate launch --cpu`` starts several CPU processes only through MPI; without it, it starts one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

from helpers import REPO
from train_fixtures import FAST, write_export, write_table_spec

pytestmark = pytest.mark.slow

STAGES = ("sft", "reward", "dpo", "kto")


def exports(root: Path) -> dict[str, Path]:
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "kappa", "sigma"]
    sft_rows = [
        {"id": f"s{i}", "instruction": f"Say {w}: ", "response": f"{w} {w}"}
        for i, w in enumerate(rng.choices(words, k=20))
    ]
    columns = "  instruction: {field: instruction}\n  response: {field: response}"
    pairs = [
        {"record_id": f"p{i}", "prompt": f"Say {w}: ", "chosen": w, "rejected": "no", "margin": 1.0}
        for i, w in enumerate(rng.choices(words, k=20))
    ]
    unpaired = [
        {
            "record_id": f"u{i}",
            "prompt": f"Say {w}: ",
            "completion": w if i % 2 else "no",
            "label": bool(i % 2),
        }
        for i, w in enumerate(rng.choices(words, k=20))
    ]
    return {
        # a spec: exported on the fly into <output_dir>/data, by the main process only
        "sft": write_table_spec(root / "sft", "say", "sft", sft_rows, columns, "{train: 0.8, test: 0.2}"),
        "reward": write_export(root / "pairs", {"train": pairs[:16], "test": pairs[16:]}, "preference"),
        "dpo": root / "pairs",
        "kto": write_export(root / "unpaired", {"train": unpaired[:16], "test": unpaired[16:]}, "unpaired"),
    }


def plan(model: Path, data: dict[str, Path], out: Path, per_device: int) -> dict[str, list[str]]:
    return {
        stage: [
            f"model.model_name_or_path={model}",
            f"data.{'spec' if stage == 'sft' else 'export'}={data[stage]}",
            f"output_dir={out / stage}",
            "max_steps=3",
            f"per_device_train_batch_size={per_device}",
            f"per_device_eval_batch_size={per_device}",
            "learning_rate=1e-3",
            "lr_scheduler_type=constant",
            "max_length=64",
            *FAST,
        ]
        for stage in STAGES
    }


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def given_config(folder: Path) -> dict:
    import yaml

    body = yaml.safe_load((folder / "train_config.yaml").read_text())
    for key in ("output_dir", "per_device_train_batch_size", "per_device_eval_batch_size"):
        body["training"].pop(key)
    return body


def test_two_processes_save_what_one_process_saves(tiny_base: Path, tmp_path: Path) -> None:
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher, "accelerate is a dependency of the train extra"
    data = exports(tmp_path / "data")
    single, multi = tmp_path / "one", tmp_path / "two"
    from train import dpo, kto, reward, sft

    for stage, module in zip(STAGES, (sft, reward, dpo, kto), strict=True):
        assert module.main(plan(tiny_base, data, single, 4)[stage]) is not None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    command = [
        launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        str(REPO / "tests" / "multiproc_stages.py"), json.dumps(plan(tiny_base, data, multi, 2)),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("left the process group") == 2  # no gloo group alive at exit
    # each message printed by the main process only
    assert done.stderr.count("curate labels (train.parquet)") == 2  # sft and reward, once each
    assert done.stdout.count("pairwise accuracy on test.parquet") == 1

    for stage in STAGES:
        one, two = single / stage, multi / stage
        assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir()), stage
        p1, p2 = (json.loads((d / "provenance.json").read_text()) for d in (one, two))
        if stage == "sft":  # each run exported the spec into its own output folder
            assert (p1.pop("export"), p2.pop("export")) == (str(one / "data"), str(two / "data"))
            assert (one / "data" / "manifest.json").read_bytes() == (
                two / "data" / "manifest.json"
            ).read_bytes()
        assert p1 == p2, stage
        assert given_config(one) == given_config(two), stage
        args = json.loads((two / "training_args.json").read_text())
        assert args["per_device_train_batch_size"] == 2 and args["output_dir"] == str(two)
        w1, w2 = weights(one), weights(two)
        assert w1.keys() == w2.keys()
        if stage == "kto":
            continue  # KL term estimated per device batch: other maths, other weights
        start = weights(tiny_base) if stage != "reward" else None
        if start is not None:  # training moved the weights, so "close" says something
            assert max((w1[n] - start[n]).abs().max().item() for n in start) > 1e-4, stage
        for name, tensor in w1.items():
            gap = (tensor - w2[name]).abs().max().item()
            if start is not None and name in start:
                moved = (tensor - start[name]).abs().max().item()
                assert gap <= 0.05 * moved + 1e-6, (stage, name, gap, moved)
            else:
                assert gap < 1e-3, (stage, name, gap)


def test_a_launched_mistake_ends_each_process_with_its_error(tiny_base: Path, tmp_path: Path) -> None:
    """Both processes join the group, then stop on the same user error: each says it in one line
    and leaves the group, so none aborts at exit (no C++ "terminate called" on top of it)."""
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = tmp_path / "no-such-export"
    command = [
        launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "train.sft", f"model.model_name_or_path={tiny_base}", f"data.export={missing}",
        f"output_dir={tmp_path / 'out'}", *FAST,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    # the launcher stops the other process (SIGTERM) once one has failed, so one error line or two
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors and all(str(missing) in line for line in errors), done.stderr[-4000:]
    codes = re.findall(r"exitcode\s*: (-?\d+)", done.stderr)
    assert "2" in codes and set(codes) <= {"2", "-15"}, done.stderr[-4000:]  # 2: CurateError's code
    # (the launcher's own traceback about its failed children follows; the processes wrote none)
    assert "terminate called" not in done.stderr, done.stderr[-4000:]
