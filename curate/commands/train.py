"""Training commands: ``curate train sft|reward|dpo|kto|ppo|grpo|rloo`` (the ``train/`` entry points) and
``curate generate`` / ``curate chat`` to try a trained model. torch, transformers and TRL are
imported only when one of these runs, so ``curate --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from train.config import STAGES

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

ModelArg = Annotated[Path, typer.Argument(help="a `curate train` output folder (model or LoRA adapter)")]
TemplateOpt = Annotated[
    str,
    typer.Option(help="auto (the training data's template, else the tokenizer's), none, or a template name"),
]
MaxNewOpt = Annotated[
    int, typer.Option("--max-new-tokens", help="stop after this many new tokens (or at EOS)")
]
TemperatureOpt = Annotated[float, typer.Option(help="sampling temperature; 0 = greedy")]
TopKOpt = Annotated[int, typer.Option("--top-k", help="sample from the k most likely tokens (0: off)")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="nucleus sampling mass")]
RepetitionOpt = Annotated[float, typer.Option("--repetition-penalty", help="> 1 discourages repeats")]
SeedOpt = Annotated[int | None, typer.Option(help="random seed for sampling")]


def _user_lines() -> Iterator[str]:
    """Lines typed at a ``you>`` prompt (or piped in), until end of input."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except EOFError:
            return


def _stage_command(app: typer.Typer, stage: str) -> None:
    from curate.commands.app import user_errors

    @app.command(
        name=stage,
        help=f"{STAGES[stage].description} Arguments: CONFIG.yaml and KEY=VALUE / --KEY VALUE overrides; --help for details.",
        context_settings=PASSTHROUGH,
        add_help_option=False,
    )
    @user_errors
    def command(ctx: typer.Context) -> None:
        from train import dist

        module = importlib.import_module(f"train.{stage}")
        with dist.session():
            module.main(list(ctx.args))


def register(app: typer.Typer) -> None:
    from curate.commands.app import HELP_MARKUP, err_console, user_errors

    train_app = typer.Typer(
        name="train",
        help=f"Train on a curate export with TRL: {', '.join(STAGES)}.",
        no_args_is_help=True,
        rich_markup_mode=HELP_MARKUP,
    )
    for stage in STAGES:
        _stage_command(train_app, stage)
    app.add_typer(train_app, name="train")

    @app.command()
    @user_errors
    def generate(
        model: ModelArg,
        prompt: Annotated[
            list[str] | None, typer.Option("--prompt", "-p", help="a prompt (repeatable); '-' reads stdin")
        ] = None,
        export: Annotated[
            Path | None, typer.Option(help="generate for every row of this `curate export` folder's split")
        ] = None,
        split: Annotated[str, typer.Option(help="with --export: the split to read")] = "test",
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="with --export: JSON Lines of generations")
        ] = None,
        limit: Annotated[int | None, typer.Option(help="with --export: at most this many rows")] = None,
        template: TemplateOpt = "auto",
        max_new_tokens: MaxNewOpt = 128,
        temperature: TemperatureOpt = 0.7,
        top_k: TopKOpt = 50,
        top_p: TopPOpt = 1.0,
        repetition_penalty: RepetitionOpt = 1.0,
        seed: SeedOpt = None,
    ) -> None:
        """Generate a completion for each prompt, or for each row of an export split (--export, --out):
        the rows keep their record ids, ready for `curate argilla log` to suggest to annotators."""
        from curate.errors import CurateError
        from train.generate import Sampling, encode_prompt, generate, load_for_generation

        if bool(prompt) == (export is not None):
            raise CurateError("give either --prompt (one or more) or --export DIR with --out FILE")
        if export is not None and out is None:
            raise CurateError("--export needs --out FILE (JSON Lines of generations)")
        sampling = Sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed)
        sampling.check()
        loaded = load_for_generation(model)
        if export is not None and out is not None:
            from train.loop import generate_for_export

            count = generate_for_export(loaded, export, split, out, sampling, limit)
            err_console().print(f"wrote {count} generations from {export}/{split} to {out}", highlight=False)
            return
        for text in prompt or []:
            text = sys.stdin.read() if text == "-" else text
            ids = encode_prompt(loaded, [{"role": "user", "content": text}], template)
            typer.echo(generate(loaded, ids, sampling))

    @app.command()
    @user_errors
    def chat(
        model: ModelArg,
        system: Annotated[str | None, typer.Option(help="a system message opening the conversation")] = None,
        template: TemplateOpt = "auto",
        max_new_tokens: MaxNewOpt = 256,
        temperature: TemperatureOpt = 0.7,
        top_k: TopKOpt = 50,
        top_p: TopPOpt = 1.0,
        repetition_penalty: RepetitionOpt = 1.0,
        seed: SeedOpt = None,
    ) -> None:
        """Chat with a trained model; the history goes back through the template each turn. /reset, /quit."""
        from train.generate import ChatSession, Sampling, load_for_generation

        sampling = Sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed)
        sampling.check()
        session = ChatSession(load_for_generation(model), sampling, template, system)
        err_console().print(
            f"chatting with {model} (/reset clears the history, /quit or Ctrl-D ends)", highlight=False
        )
        for line in _user_lines():
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if text == "/reset":
                session = ChatSession(session.loaded, sampling, template, system)
                continue
            if text:
                typer.echo(f"assistant> {session.reply(text)}")
