"""Throughput (tokens/s) and peak memory of ``curate train sft`` against plain TRL ``SFTTrainer`` on
the same data, model and settings, measured in one run (each side in its own process, so peak
memory is its own). Run: ``python benchmarks/bench_train.py`` (CPU: a tiny Llama on the Dolly demo
export; ``--gpu``, the default where CUDA is present: a Qwen2-0.5B-shaped model built from its config,
bf16, LoRA, packed padding-free rows, about 5 minutes on one GPU). ``--json FILE`` saves the figures.

Both sides are TRL's ``SFTTrainer``; curate hands it its own ``input_ids``/``labels`` (tokenized
before training, or read from a ``--tokenizer --pack`` export on GPU), plain TRL tokenizes the
text itself. Tokens/s counts every token the model saw (TRL's ``num_tokens``) over ``train_runtime``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"


# The GPU recipe (LoRA, packed padding-free rows) on the tiny CPU model in fp32: checks the GPU
# code path end to end where no GPU is; its figures are not GPU figures.
CHECK = os.environ.get("BENCH_TRAIN_CHECK_GPU_PATH") == "1"


def settings(gpu: bool, steps: int) -> dict[str, Any]:
    common = {
        "max_steps": steps,
        "per_device_train_batch_size": 8,
        "learning_rate": 2e-4,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "seed": 0,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "gradient_checkpointing": False,
    }
    if gpu:
        return {**common, "bf16": not CHECK, "max_length": 1024, "padding_free": True}
    return {**common, "bf16": False, "max_length": 1024}


def setup(root: Path, gpu: bool) -> dict[str, str]:
    """The model (saved with save_pretrained) and the exports both sides read."""
    import curate
    from curate.testing.tiny import chat_tokenizer

    model_dir = root / "model"
    tokenizer = chat_tokenizer(model_dir, "qwen2_5", vocab_size=8192 if gpu else 1024)
    if gpu and not CHECK:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(0)
        config = Qwen2Config(  # Qwen2-0.5B's shape, with the test tokenizer's vocabulary
            vocab_size=len(tokenizer), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
            num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096,
            tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        Qwen2ForCausalLM(config).save_pretrained(model_dir)
    else:
        from curate.testing.tiny_models import build_tiny_llama

        build_tiny_llama(model_dir, tokenizer, hidden_size=128, num_layers=4)
    text = root / "export"
    curate.export(SPEC, text)
    out = {"model": str(model_dir), "export": str(text)}
    if gpu:  # curate's packed rows, as `curate export --tokenizer --pack` writes them
        packed = root / "export-packed"
        curate.export(SPEC, packed, tokenizer=model_dir, max_length=1024, pack=True)
        out["packed"] = str(packed)
    return out


def run_curate(paths: dict[str, str], gpu: bool, steps: int) -> Any:
    from train import sft

    argv = [
        f"model.model_name_or_path={paths['model']}",
        "data.eval_split=null",
        f"output_dir={paths['out']}",
    ]
    argv += [f"training.{k}={json.dumps(v)}" for k, v in settings(gpu, steps).items() if k != "padding_free"]
    if gpu:
        argv += [f"data.export={paths['packed']}", "data.packed=true"]
        argv += [] if CHECK else ["model.dtype=bfloat16"]
        argv += ["model.use_peft=true", "model.lora_r=16", "model.lora_target_modules=all-linear"]
    else:
        argv += [f"data.export={paths['export']}"]
    result = sft.main(argv)
    return result.trainer


def run_trl(paths: dict[str, str], gpu: bool, steps: int) -> Any:
    import pyarrow.parquet as pq
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    table = pq.read_table(Path(paths["export"]) / "train.parquet", columns=["prompt", "completion"])
    tokenizer = AutoTokenizer.from_pretrained(paths["model"])
    dtype = torch.bfloat16 if gpu and not CHECK else torch.float32
    model = AutoModelForCausalLM.from_pretrained(paths["model"], dtype=dtype)
    config = settings(gpu, steps)
    peft = None
    if gpu:
        from peft import LoraConfig

        config["packing"] = True  # TRL packs (BFD) and trains padding-free itself
        peft = LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(output_dir=paths["out"], **config),
        train_dataset=Dataset(table),
        processing_class=tokenizer,
        peft_config=peft,
    )
    trainer.train()
    return trainer


def worker(side: str, paths: dict[str, str], gpu: bool, steps: int) -> dict[str, Any]:
    import torch

    if gpu and not CHECK:
        torch.cuda.reset_peak_memory_stats()
    trainer = (run_curate if side == "curate" else run_trl)(paths, gpu, steps)
    history = trainer.state.log_history
    tokens = max(float(e["num_tokens"]) for e in history if "num_tokens" in e)
    runtime = next(float(e["train_runtime"]) for e in history if "train_runtime" in e)
    if gpu and not CHECK:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {
        "side": side,
        "tokens": tokens,
        "seconds": runtime,
        "tokens_per_s": tokens / runtime,
        "peak_mib": peak,
    }


def one_run(side: str, paths: dict[str, str], tmp: Path, gpu: bool, steps: int) -> dict[str, Any]:
    run = {**paths, "out": str(tmp / f"out-{side}")}
    cmd = [sys.executable, __file__, "--worker", side, "--paths", json.dumps(run), f"--steps={steps}"]
    cmd.append("--gpu" if gpu else "--no-gpu")
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{side} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median tokens/s, with every run's tokens/s alongside."""
    ordered = sorted(runs, key=lambda r: r["tokens_per_s"])
    return {**ordered[len(ordered) // 2], "all_tokens_per_s": [round(r["tokens_per_s"], 1) for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per side (CPU 30, GPU 60)")
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--check-gpu-path",
        action="store_true",
        help="the GPU recipe on the tiny model on CPU (no GPU figures)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per side, alternating; medians reported")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--worker", choices=["curate", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    if args.check_gpu_path:
        os.environ["BENCH_TRAIN_CHECK_GPU_PATH"] = "1"  # read by the worker processes too
        global CHECK
        CHECK = True
    gpu = CHECK or (torch.cuda.is_available() if args.gpu is None else args.gpu)
    steps = args.steps or (60 if gpu else 30)
    if args.worker:
        from datasets import disable_progress_bars

        disable_progress_bars()
        print("RESULT " + json.dumps(worker(args.worker, json.loads(args.paths), gpu, steps)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = setup(Path(tmp), gpu)
        runs: dict[str, list[dict[str, Any]]] = {"curate": [], "trl": []}
        for _ in range(args.repeat):  # alternating sides spreads machine noise over both
            for side in ("curate", "trl"):
                runs[side].append(one_run(side, paths, Path(tmp), gpu, steps))
    results = {side: median_run(r) for side, r in runs.items()}
    where = f"GPU ({torch.cuda.get_device_name(0)})" if gpu and not CHECK else "CPU"
    if CHECK:
        where += " (GPU recipe check on the tiny model: not GPU figures)"
    setup_text = (
        "Qwen2-0.5B-shaped, bf16, LoRA r16, packed padding-free" if gpu else "tiny Llama (4x128), fp32"
    )
    print(f"{where}: {setup_text}, Dolly demo export, {steps} steps x batch 8, max_length 1024")
    for side in ("curate", "trl"):
        r = results[side]
        name = "curate train sft" if side == "curate" else "plain TRL SFTTrainer"
        print(
            f"{name:22s}: {r['tokens_per_s']:10.0f} tokens/s ({r['tokens']:.0f} tokens in {r['seconds']:.1f} s), peak {r['peak_mib']:.0f} MiB"
        )
    ratio = results["curate"]["tokens_per_s"] / results["trl"]["tokens_per_s"]
    mem = results["curate"]["peak_mib"] / results["trl"]["peak_mib"]
    print(f"curate/TRL: tokens/s {ratio:.2f}x, peak memory {mem:.2f}x")
    if args.json:
        args.json.write_text(
            json.dumps({"device": where, "steps": steps, **results, "ratio_tokens_per_s": ratio}, indent=2)
            + "\n"
        )


if __name__ == "__main__":
    main()
