"""``curate train`` config checking: every mistake is one error line naming the file and key, raised
before a model is loaded (the model folders here hold a config.json that is not even JSON, so any
attempt to load one would fail differently).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import REPO, SPECS

import curate
from curate.errors import CurateError

pytest.importorskip("trl")

from train import common, dpo, grpo, kto, ppo, reward, rloo, sft
from train.ppo_backend import available as ppo_available

needs_ppo = pytest.mark.skipif(not ppo_available(), reason="PPO needs TRL 1.12 (the ppo extra)")

CONFIGS = REPO / "train" / "configs"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    out = {}
    names = (
        "dolly-curated",
        "dolly-curated-preference",
        "ultrafeedback-ratings",
        "dolly-prompts",
        "answer-feedback-kto",
    )
    for name in names:
        curate.export(SPECS / f"{name}.yaml", root / name)
        out[name] = root / name
    out["unpaired"] = out["answer-feedback-kto"]
    return out


@pytest.fixture
def junk_model(tmp_path: Path) -> Path:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text("{ this is not json")
    return folder


def write_config(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def base_config(exports: dict[str, Path], model: Path, tmp_path: Path, export: str = "dolly-curated") -> dict:
    return {
        "model": {"model_name_or_path": str(model)},
        "data": {"export": str(exports[export])},
        "training": {"output_dir": str(tmp_path / "out"), "report_to": "none", "bf16": False},
    }


def error_of(main, argv: list[str]) -> str:
    with pytest.raises(CurateError) as err:
        main(argv)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_valid_config_dry_run_prints_resolved_config(exports, junk_model, tmp_path, capsys):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    assert sft.main([str(path), "--max_steps", "7", "lora_r=4", "--use_peft", "--dry-run"]) is None
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["training"]["max_steps"] == 7
    assert printed["model"]["lora_r"] == 4 and printed["model"]["use_peft"] is True
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_unknown_key_names_file_key_and_suggestion(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path)
    body["training"]["leraning_rate"] = 1e-4
    path = write_config(tmp_path, body)
    message = error_of(sft.main, [str(path)])
    assert message.startswith(f"{path}: training.leraning_rate: unknown key for SFTConfig")
    assert "did you mean 'learning_rate'" in message


def test_unknown_section_and_unknown_override(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path)
    path = write_config(tmp_path, {**body, "trainer": {"x": 1}})
    assert "trainer: unknown section" in error_of(sft.main, [str(path)])
    path = write_config(tmp_path, body)
    assert "unknown key 'max_stpes' (did you mean 'max_steps'?)" in error_of(
        sft.main, [str(path), "max_stpes=3"]
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.max_steps=ten", "training.max_steps: expected an integer, got 'ten'"),
        ("training.learning_rate=fast", "training.learning_rate: expected a number, got 'fast'"),
        ("model.use_peft=maybe", "model.use_peft: expected true/false, got 'maybe'"),
        ("data.packed=3", "data.packed: expected true/false, got 3"),
    ],
)
def test_wrong_type_names_the_key_and_expectation(exports, junk_model, tmp_path, override, expected):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    message = error_of(sft.main, [str(path), override])
    assert message == f"command line ({override}): {expected}"


def test_wrong_type_in_file(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path)
    body["training"]["num_train_epochs"] = [1, 2]
    path = write_config(tmp_path, body)
    assert (
        error_of(sft.main, [str(path)]) == f"{path}: training.num_train_epochs: expected a number, got [1, 2]"
    )


def test_missing_columns_for_the_stage(exports, junk_model, tmp_path):
    # DPO needs prompt/chosen/rejected; the SFT export has prompt/completion.
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path, "dolly-curated"))
    message = error_of(dpo.main, [str(path)])
    assert message.startswith(str(exports["dolly-curated"] / "train.parquet"))
    assert "the dpo stage needs columns (prompt, chosen, rejected)" in message
    assert "found instruction, context, response, prompt, completion" in message
    # ...and the reward model cannot train on prompts alone.
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path, "dolly-prompts"))
    assert (
        "the reward stage needs columns (chosen_ids, rejected_ids) or (prompt, chosen, rejected) (an export of task preference)"
        in error_of(reward.main, [str(path)])
    )


@needs_ppo
def test_ppo_without_reward_model(exports, junk_model, tmp_path):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path, "dolly-prompts"))
    message = error_of(ppo.main, [str(path)])
    assert (
        message
        == f"{path}: training.reward_model_path: PPO needs a reward model: set it to a `curate train reward` output folder"
    )


@needs_ppo
def test_ppo_reward_model_with_another_vocabulary(exports, tmp_path):
    policy, rm = tmp_path / "policy", tmp_path / "rm"
    for folder, vocab in ((policy, 1024), (rm, 512)):
        folder.mkdir()
        (folder / "config.json").write_text(f'{{"vocab_size": {vocab}}}')
    body = base_config(exports, policy, tmp_path, "dolly-prompts")
    body["training"]["reward_model_path"] = str(rm)
    message = error_of(ppo.main, [str(write_config(tmp_path, body))])
    assert "vocabulary of 512 tokens but the policy" in message


def test_missing_required_keys_and_data(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path)
    del body["model"]["model_name_or_path"]
    path = write_config(tmp_path, body)
    assert error_of(sft.main, [str(path)]).endswith(
        "model.model_name_or_path: required (a local model folder or a Hub id)"
    )
    body = base_config(exports, junk_model, tmp_path)
    body["data"]["spec"] = str(SPECS / "dolly-curated.yaml")
    assert "give export (a `curate export` folder) or spec" in error_of(
        sft.main, [str(write_config(tmp_path, body))]
    )
    body = base_config(exports, junk_model, tmp_path)
    body["data"]["export"] = str(tmp_path / "nowhere")
    assert "is not a folder (run `curate export` first)" in error_of(
        sft.main, [str(write_config(tmp_path, body))]
    )
    body = base_config(exports, junk_model, tmp_path)
    body["data"]["eval_split"] = "validation"
    message = error_of(sft.main, [str(write_config(tmp_path, body))])
    assert "has no validation.parquet or validation.jsonl; found test.parquet, train.parquet" in message


def test_packed_needs_packed_files(exports, junk_model, tmp_path):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    message = error_of(sft.main, [str(path), "data.packed=true"])
    assert "has no __packed__/train.parquet (export with --tokenizer and --pack for packed files)" in message


def test_quantization_without_bitsandbytes_or_gpu(exports, junk_model, tmp_path):
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available():
        pytest.skip("this machine can load 4-bit models")
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    message = error_of(sft.main, [str(path), "load_in_4bit=true", "use_peft=true"])
    assert "model.load_in_4bit: needs bitsandbytes and a CUDA GPU; missing" in message
    assert "quantized weights train through LoRA only" in error_of(sft.main, [str(path), "load_in_8bit=true"])


def test_trl_post_init_errors_become_one_line(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path)
    del body["training"]["bf16"]
    path = write_config(tmp_path, body)
    message = error_of(sft.main, [str(path), "model.load_in_8bit=true", "model.load_in_4bit=true"])
    assert message.startswith(f"{path}: model: ")  # ModelConfig refuses 8-bit and 4-bit together
    import torch

    if not torch.cuda.is_available():
        assert "set training.bf16: false on a CPU" in error_of(sft.main, [str(path)])


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_validate(config, exports, junk_model, tmp_path):
    """Every example config is valid for its stage (paths pointed at this test's exports)."""
    body = yaml.safe_load(config.read_text())
    stage = config.stem
    export_of = {
        "sft": "dolly-curated",
        "reward": "ultrafeedback-ratings",
        "dpo": "dolly-curated-preference",
        "kto": "unpaired",
        "ppo": "dolly-prompts",
        "grpo": "dolly-prompts",
        "rloo": "dolly-prompts",
    }
    if stage == "ppo" and not ppo_available():
        pytest.skip("PPO needs TRL 1.12 (the ppo extra)")
    overrides = [
        f"model.model_name_or_path={junk_model}",
        f"data.export={exports[export_of[stage]]}",
        f"training.output_dir={tmp_path / 'out'}",
    ]
    if stage == "ppo":  # the vocabulary check reads both config.json files
        assert body["training"]["reward_model_path"]
        (junk_model / "config.json").write_text('{"vocab_size": 8}')
        overrides.append(f"training.reward_model_path={junk_model}")
    if stage in ("grpo", "rloo"):
        assert body["rewards"]["model"]
        overrides.append(f"rewards.model={junk_model}")
    module = {"sft": sft, "reward": reward, "dpo": dpo, "kto": kto, "ppo": ppo, "grpo": grpo, "rloo": rloo}[
        stage
    ]
    assert module.main([str(config), *overrides, "--dry-run"]) is None


def test_cli_prints_one_error_line_and_exits_2(cli, exports, junk_model, tmp_path):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    result = cli("train", "dpo", path, "--max_steps", "2")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and "the dpo stage needs columns" in result.stderr
    assert "Traceback" not in result.stderr


def test_normalize_and_coerce_helpers():
    assert common.normalize_argv(["--config", "a.yaml", "--lora_target_modules", "[q_proj,v_proj]"]) == [
        "a.yaml",
        "lora_target_modules=[q_proj,v_proj]",
    ]
    assert common.coerce("all-linear", list[str] | None) == ["all-linear"]
    assert common.coerce(None, int | None) is None
    with pytest.raises(common.Mismatch):
        common.coerce(True, int)


@pytest.mark.skipif(ppo_available(), reason="this TRL still has PPO")
def test_ppo_on_a_newer_trl_says_what_to_install(exports, junk_model, tmp_path, cli):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path, "dolly-prompts"))
    result = cli("train", "ppo", path, "--dry-run")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: curate train ppo needs TRL 1.12")
    assert "make venv-ppo, or pip install 'trl>=1.12,<1.13' there" in lines[0]


def test_online_rl_needs_a_reward(exports, junk_model, tmp_path):
    body = base_config(exports, junk_model, tmp_path, "dolly-prompts")
    path = write_config(tmp_path, body)
    assert "GRPO needs a reward: set it to a `curate train reward` output folder" in error_of(
        grpo.main, [str(path)]
    )
    assert "rewards.length_target: required with length_weight" in error_of(
        rloo.main, [str(path), "rewards.length_weight=0.5"]
    )
    body["rewards"] = {"model": str(junk_model)}
    path = write_config(tmp_path, body)
    assert "rewards: unknown section" in error_of(sft.main, [str(path)])  # only grpo/rloo have rewards


def test_kto_labels_must_be_bool_and_template_must_fit(exports, junk_model, tmp_path):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path, "dolly-curated"))
    assert "the kto stage needs columns (prompt, completion, label)" in error_of(kto.main, [str(path)])
    assert "data.labels: expected 'curate' or 'trl', got 'mine'" in error_of(
        sft.main, [str(path), "data.labels=mine"]
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("multi_gpu", "MULTI_GPU"),
        ("deepspeed_zero2", "DEEPSPEED"),
        ("deepspeed_zero3", "DEEPSPEED"),
        ("fsdp", "FSDP"),
    ],
)
def test_shipped_accelerate_configs_load(name, kind):
    """accelerate's own loader reads each shipped launch config (what `--config_file` does)."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / "accelerate" / f"{name}.yaml"))
    assert str(config.distributed_type).endswith(kind) and not config.use_cpu
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])
    if name == "fsdp":
        assert config.fsdp_config["fsdp_version"] == 2


# A YAML alias bomb: each line repeats the one before ten times (10**6 values once expanded).
_ALIASES = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("binary", "cannot read config (UnicodeDecodeError"),
        ("folder", "cannot read config (IsADirectoryError"),
        ("duplicate", ":4:1: malformed YAML: duplicate key 'training'"),
        ("duplicate_key", ":2:{col}: malformed YAML: duplicate key 'export'"),
        ("deep", "malformed YAML: nested too deeply"),
        ("deep_value", "malformed YAML: nested too deeply"),
        ("aliases", "the config holds more than 100,000 values once its YAML aliases are expanded"),
        ("output_file", "training.output_dir: {out} is a file; expected a folder"),
    ],
)
def test_bad_config_files_are_one_error_line(case, expected, cli, exports, junk_model, tmp_path):
    export, out = exports["dolly-curated"], tmp_path / "out"
    text = (
        f"model: {{model_name_or_path: {junk_model}}}\n"
        f"data: {{export: {export}}}\n"
        f"training: {{output_dir: {out}, report_to: none, bf16: false}}\n"
    )
    path = tmp_path / "run.yaml"
    if case == "binary":
        path.write_bytes(b"\x00\xff\xfe model:")
    elif case == "folder":
        path.mkdir()
    elif case == "duplicate":  # PyYAML keeps the last silently: the first output_dir would be lost
        path.write_text(text + "training: {output_dir: elsewhere}\n")
    elif case == "duplicate_key":
        path.write_text(text.replace(f"{{export: {export}}}", f"{{export: {export}, export: {export}}}"))
    elif case == "deep":
        path.write_text("[" * 5000 + "]" * 5000)
    elif case == "deep_value":  # deep enough to pass PyYAML, too deep for anything after it
        path.write_text(text + "rewards: " + "[" * 300 + "]" * 300 + "\n")
    elif case == "aliases":
        path.write_text(text + _ALIASES)
    else:
        out.write_text("a file that is not curate's")
        path.write_text(text)
    result = cli("train", "sft", path, "--dry-run")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    col = len(f"data: {{export: {export}, ") + 1  # where the second `export` starts
    assert expected.format(out=out, col=col) in lines[0], lines[0]
    if case == "output_file":
        assert out.read_text() == "a file that is not curate's"


def test_overrides_refuse_alias_bombs_and_duplicate_keys(exports, junk_model, tmp_path):
    path = write_config(tmp_path, base_config(exports, junk_model, tmp_path))
    bomb = "[" + ", ".join(["&x [" + ", ".join(["1"] * 400) + "]"] + ["*x"] * 300) + "]"
    message = error_of(sft.main, [str(path), f"training.lora_target_modules={bomb}", "--dry-run"])
    assert message.startswith("command line: training.lora_target_modules: the value holds more than")
    # a repeated key is not YAML curate reads: the text stays a string, refused as not a mapping
    message = error_of(sft.main, [str(path), "model.model_init_kwargs={a: 1, a: 2}", "--dry-run"])
    assert "model_init_kwargs" in message


def test_the_training_config_warns_nothing_before_an_error(exports, junk_model, tmp_path):
    """TRL's configs default to gradient_checkpointing, which transformers 5 deprecates: each run
    printed a two-line FutureWarning before any error. A real process shows what a user sees."""
    import os
    import subprocess
    import sys

    body = base_config(exports, junk_model, tmp_path)
    body["data"]["export"] = str(tmp_path / "nowhere")  # an error found after TRL's config is built
    path = write_config(tmp_path, body)
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    cmd = [sys.executable, "-m", "curate.commands.app", "train", "sft", str(path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines == [
        f"error: {path}: data.export: {tmp_path / 'nowhere'} is not a folder (run `curate export` first)"
    ]
