"""Hostile templates and tokenizers: every one ends in one ``error:`` line naming the file (exit 2,
no traceback, no output folder) or in rows rejected with a counted reason naming the template.

Rendering limits are deterministic (a loop-step budget, an output-size cap): no test waits on a
clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import SPECS, manifest_of

from curate.errors import CurateError
from curate.templates import get_template
from curate.templates.sandbox import GuardedTemplate, RenderLimits, TemplateRunaway, TemplateTooLarge
from curate.testing import tiny
from curate.testing.chat_tokenizers import family_tokenizer
from curate.tokens.tokenize import RowTransform

CHAT_SPEC = SPECS / "chat-review.yaml"
SFT_SPEC = SPECS / "dolly-curated.yaml"
CHATML = tiny.trl_chat_template("qwen2_5")


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tok") / "qwen"
    family_tokenizer(path, "qwen", CHATML)
    return path


def with_template(qwen: Path, dest: Path, template: str) -> Path:
    """A copy of the qwen tokenizer folder whose own chat template is ``template``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen))
    tok.chat_template = template
    tok.save_pretrained(str(dest))
    return dest


def export(cli: Any, tmp_path: Path, spec: Path, tokenizer: Path, *extra: str) -> tuple[Any, Path]:
    out = tmp_path / "out"
    return cli("export", spec, "--out", out, "-q", "--tokenizer", tokenizer, *extra), out


def assert_user_error(result: Any, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no temp folder


def manifest(out: Path) -> dict[str, Any]:
    return manifest_of(out)


# --- user Jinja templates (--template my.jinja) --------------------------------------------------


def jinja(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


LOOP = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
GEN = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


def test_runaway_loop_fails_the_export_naming_the_file(cli: Any, tmp_path: Path, qwen: Path) -> None:
    bad = jinja(
        tmp_path,
        "runaway.jinja",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}" + LOOP,
    )
    result, out = export(cli, tmp_path, CHAT_SPEC, qwen, "--template", str(bad))
    assert_user_error(result, out, "runaway.jinja", "ran past 2,000,000 loop steps")


def test_runaway_recursion_fails_cleanly(cli: Any, tmp_path: Path, qwen: Path) -> None:
    bad = jinja(
        tmp_path, "recurse.jinja", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}" + LOOP + GEN
    )
    result, out = export(cli, tmp_path, CHAT_SPEC, qwen, "--template", str(bad))
    assert_user_error(result, out, "recurse.jinja", "fails on a one-turn user/assistant chat")


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("multiply.jinja", "{{ 'x' * 10**9 }}"),
        ("power.jinja", "{{ 7 ** (10**8) }}"),
        (
            "doubling.jinja",
            "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        ),
        ("filter.jinja", "{{ messages[0].content | center(10**8) }}"),
    ],
)
def test_output_bombs_stop_at_the_size_limit(
    cli: Any, tmp_path: Path, qwen: Path, name: str, body: str
) -> None:
    bad = jinja(tmp_path, name, body + LOOP + GEN)
    result, out = export(cli, tmp_path, CHAT_SPEC, qwen, "--template", str(bad))
    assert_user_error(result, out, name, "over the limit" if "power" not in name else "computes 7 **")


def test_long_output_only_for_some_rows_rejects_those_rows(tmp_path: Path, qwen: Path) -> None:
    from transformers import AutoTokenizer

    # Repeats each message 5000 times: within the limit for short rows, over it for long ones.
    text = (
        "{% for m in messages %}{% for i in range(5000 if m.content | length > 300 else 1) %}"
        "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% endfor %}" + GEN
    )
    template = get_template(str(jinja(tmp_path, "amplify.jinja", text)))
    transform = RowTransform("chat", AutoTokenizer.from_pretrained(str(qwen)), template)
    short = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    long = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "Yo"}]
    results = list(transform.map([{"messages": short}, {"messages": long}]))
    assert isinstance(results[0], dict)
    assert results[1][0] == "template_too_large" and "amplify.jinja" in results[1][1]  # type: ignore[index]
    assert transform.summary()["rejected_by_reason"] == {"template_too_large": 1}


def test_template_failing_on_every_row_rejects_each_with_the_template_error(
    tmp_path: Path, qwen: Path
) -> None:
    from transformers import AutoTokenizer

    # Works on a plain chat, refuses every conversation with a system message (every row here).
    text = (
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system role, please') }}{% endif %}"
        + LOOP
        + GEN
    )
    template = get_template(str(jinja(tmp_path, "nosys.jinja", text)))
    transform = RowTransform("chat", AutoTokenizer.from_pretrained(str(qwen)), template)
    system = {"role": "system", "content": "Be kind."}
    rows = [
        {"messages": [system, {"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": "A"}]}
        for i in range(5)
    ]
    results = list(transform.map(rows))
    assert all(isinstance(r, tuple) and r[0] == "template_refused" for r in results)
    assert all("nosys.jinja" in r[1] and "no system role, please" in r[1] for r in results)  # type: ignore[index]
    assert transform.summary()["rejected_by_reason"] == {"template_refused": 5}


def test_nondeterministic_template_rows_are_rejected(tmp_path: Path, qwen: Path) -> None:
    from transformers import AutoTokenizer

    text = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ range(10**5) | random }} {{ m.content }}<|im_end|>\n{% endfor %}"
        + GEN
    )
    transform = RowTransform(
        "chat",
        AutoTokenizer.from_pretrained(str(qwen)),
        get_template(str(jinja(tmp_path, "dice.jinja", text))),
    )
    reason, detail = transform(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    )  # type: ignore[misc]
    assert reason == "template_not_deterministic" and "renders the same conversation differently" in detail


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("syntax.jinja", "{% for m in messages %}{{ m.content }", "not a valid Jinja chat template"),
        (
            "escape.jinja",
            "{{ messages.__class__.__mro__[1].__subclasses__() }}" + LOOP + GEN,
            "SecurityError",
        ),
        (
            "nocontent.jinja",
            "{% for m in messages %}<|im_start|>{{ m.role }}<|im_end|>{% endfor %}" + GEN,
            "does not render message content",
        ),
        ("raises.jinja", "{{ raise_exception('this template is broken') }}", "this template is broken"),
    ],
)
def test_broken_user_templates_are_one_error_line(
    cli: Any, tmp_path: Path, qwen: Path, name: str, text: str, needle: str
) -> None:
    result, out = export(cli, tmp_path, CHAT_SPEC, qwen, "--template", str(jinja(tmp_path, name, text)))
    assert_user_error(result, out, name, needle)


def test_missing_template_file(cli: Any, tmp_path: Path, qwen: Path) -> None:
    result, out = export(cli, tmp_path, CHAT_SPEC, qwen, "--template", str(tmp_path / "gone.jinja"))
    assert_user_error(result, out, "gone.jinja: template file not found")


# --- hostile tokenizers (--tokenizer PATH) -------------------------------------------------------


def test_tokenizer_folder_missing(cli: Any, tmp_path: Path) -> None:
    result, out = export(cli, tmp_path, SFT_SPEC, tmp_path / "nope")
    assert_user_error(result, out, "nope: tokenizer folder not found")


def test_tokenizer_path_is_a_file(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text("{}")
    result, out = export(cli, tmp_path, SFT_SPEC, path)
    assert_user_error(result, out, "tokenizer.json: cannot load tokenizer")


def test_folder_that_is_not_a_tokenizer(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("not a tokenizer")
    result, out = export(cli, tmp_path, SFT_SPEC, folder)
    assert_user_error(result, out, "notes: cannot load tokenizer")


def test_corrupt_tokenizer_json(cli: Any, tmp_path: Path, qwen: Path) -> None:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for f in qwen.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "tokenizer.json").write_text('{"model": ')
    result, out = export(cli, tmp_path, SFT_SPEC, folder)
    assert_user_error(result, out, "corrupt: cannot load tokenizer")


def remote_code_folder(folder: Path) -> Path:
    """A tokenizer folder whose class lives in the folder's own code (``auto_map``)."""
    folder.mkdir()
    auto_map = {"AutoTokenizer": ["tokenization_mine.MineTokenizer", None]}
    (folder / "config.json").write_text(json.dumps({"auto_map": auto_map, "model_type": "mine"}))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": auto_map, "tokenizer_class": "MineTokenizer"})
    )
    (folder / "tokenization_mine.py").write_text("raise SystemExit('curate ran the folder code')\n")
    return folder


@pytest.mark.parametrize("command", ["export", "preview"])
@pytest.mark.parametrize(
    "kind, needle",
    [
        ("empty", "the tokenizer folder is empty"),
        ("remote", "the tokenizer needs custom code from its folder (auto_map), which curate does not run"),
        ("no-vocab", "cannot load tokenizer (ValueError: Couldn't instantiate the backend tokenizer"),
    ],
)
def test_a_tokenizer_that_cannot_load_is_one_stderr_line(
    tmp_path: Path, command: str, kind: str, needle: str
) -> None:
    """In a real process (transformers logs to the process's stderr, and asks "[y/N]" about a
    folder's code): the whole of stderr is the one error line, and the folder's code never runs."""
    import os
    import subprocess
    import sys

    folder = tmp_path / kind
    if kind == "remote":
        remote_code_folder(folder)
    else:
        folder.mkdir()
    if kind == "no-vocab":  # transformers' message for it runs over five lines
        (folder / "tokenizer_config.json").write_text("{}")
    out = tmp_path / "out"
    args = ["--out", str(out), "-q"] if command == "export" else []
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "curate.commands.app",
            command,
            str(SFT_SPEC),
            "--tokenizer",
            str(folder),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SPECS.parent)},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {folder}: {needle}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not out.exists()


def test_slow_python_tokenizer(cli: Any, tmp_path: Path) -> None:
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(str(tmp_path / "byt5"))
    result, out = export(cli, tmp_path, SFT_SPEC, tmp_path / "byt5")
    assert_user_error(result, out, "byt5: the tokenizer has no fast (Rust) backend")


def test_tokenizer_without_eos(cli: Any, tmp_path: Path, qwen: Path) -> None:
    config = json.loads((qwen / "tokenizer_config.json").read_text())
    folder = tmp_path / "no-eos"
    folder.mkdir()
    for f in qwen.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config["eos_token"] = None
    config["pad_token"] = None
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    result, out = export(cli, tmp_path, SFT_SPEC, folder)
    assert_user_error(result, out, "no-eos: the tokenizer has no EOS token")


def test_tokenizer_without_chat_template_for_chats(cli: Any, tmp_path: Path) -> None:
    tiny.byte_level_bpe(tmp_path / "plain", 300, n_lines=200)
    result, out = export(cli, tmp_path, CHAT_SPEC, tmp_path / "plain")
    assert_user_error(result, out, "plain: the tokenizer has no chat template")


@pytest.mark.parametrize(
    ("name", "template", "needle"),
    [
        ("broken", "{% for m in messages %}{{ m.content }", "not a valid Jinja chat template"),
        ("raising", "{{ raise_exception('I refuse everything') }}", "I refuse everything"),
        (
            "looping",
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
            "loop steps",
        ),
        ("undefined", "{{ messages[0].content.nope() }}" + LOOP, "fails on a one-turn user/assistant chat"),
    ],
)
def test_hostile_tokenizer_chat_templates(
    cli: Any, tmp_path: Path, qwen: Path, name: str, template: str, needle: str
) -> None:
    folder = with_template(qwen, tmp_path / name, template)
    result, out = export(cli, tmp_path, CHAT_SPEC, folder)
    assert_user_error(result, out, f"{name} (chat template)", needle)


# --- the sandbox itself ----------------------------------------------------------------------------


def test_time_budget_backs_up_the_step_budget() -> None:
    # A deadline already passed: the check every 1024 steps stops the render (no real waiting).
    slow = GuardedTemplate("{% for i in range(5000) %}{% endfor %}", "slow.jinja", RenderLimits(seconds=-1.0))
    with pytest.raises(TemplateRunaway, match=r"slow\.jinja: the chat template ran past -1 s"):
        slow.render()


def test_limits_leave_real_templates_alone() -> None:
    template = GuardedTemplate(
        CHATML, "qwen2_5.jinja", RenderLimits(steps=2000, chars=5000, chars_per_input=2)
    )
    messages = [{"role": "user", "content": "word " * 50}, {"role": "assistant", "content": "ok"}] * 20
    assert template.render(messages=messages, add_generation_prompt=True).endswith("<|im_start|>assistant\n")
    with pytest.raises(TemplateTooLarge):
        GuardedTemplate("{{ 'ab' * 3000 }}", "x.jinja", RenderLimits(chars=5000)).render()
    with pytest.raises(CurateError, match=r"bad\.jinja:1: not a valid Jinja chat template"):
        GuardedTemplate("{% if %}", "bad.jinja")
