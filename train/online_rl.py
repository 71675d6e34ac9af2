"""What ``curate train grpo`` and ``curate train rloo`` share: the rewards (the reward model trained
by ``curate train reward``, plus an optional length rule) and the prompts, both encoded by curate
exactly as in training: the reward model scores BOS + prompt + completion + EOS, the tokens its
``chosen_ids``/``rejected_ids`` had, and the policy sees the prompt ids curate's export would write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curate.errors import CurateError
from train import common, dist

if TYPE_CHECKING:
    from train.run import Run


class RewardModelScore:
    """A TRL reward function: the score of a ``curate train reward`` model for each completion."""

    def __init__(self, run: Run, path: str, batch_size: int = 16):
        import torch

        tokenizer = common.load_tokenizer(run, path)
        self.tokenizer = tokenizer
        self.model = common.load_model(run, path, "reward", pad_token_id=tokenizer.pad_token_id)
        self.model.to(_device()).eval()
        self.batch_size = batch_size
        self.run = run
        self._torch = torch
        self._transforms: dict[str, Any] = {}
        self.__name__ = "reward_model"  # TRL logs each reward function under its name

    def encode(self, prompt: Any, completion: Any) -> list[int] | None:
        """Token ids as the reward model was trained on them (None: curate cannot encode the pair)."""
        from train.data import is_conversational, make_row_transform

        conversational = is_conversational(prompt)
        task = "chat" if conversational else "sft"
        if task not in self._transforms:
            self._transforms[task] = make_row_transform(self.run, self.tokenizer, task, conversational, None)
        if conversational and isinstance(completion, str):
            completion = [{"role": "assistant", "content": completion}]
        result = self._transforms[task]({"prompt": prompt, "completion": completion})
        return None if isinstance(result, tuple) else list(result["input_ids"])

    def __call__(self, prompts: list[Any], completions: list[Any], **_: Any) -> list[float | None]:
        torch = self._torch
        encoded = [self.encode(p, c) for p, c in zip(prompts, completions, strict=True)]
        scores: list[float | None] = [None] * len(encoded)
        todo = [i for i, ids in enumerate(encoded) if ids]
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            width = max(len(encoded[i] or []) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                seq = encoded[i] or []
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(
                    input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)
                )
            for row, i in enumerate(chunk):
                scores[i] = float(logits.logits[row, 0])
        return scores


class LengthReward:
    """A rule reward: ``-|tokens - target| / target`` (0 at the target length, negative around it).

    >>> LengthReward(4)(prompts=["p", "p"], completions=["a", "b"], completion_ids=[[1, 2, 3, 4], [1, 2]])
    [0.0, -0.5]
    """

    def __init__(self, target: int):
        self.target = target
        self.__name__ = "length"

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        ids = kwargs["completion_ids"]
        return [-abs(len(c) - self.target) / self.target for c in ids]


def _device() -> Any:
    from accelerate import PartialState

    return PartialState().device


def reward_functions(run: Run) -> tuple[list[Any], list[float]]:
    """The configured rewards and their weights (``rewards`` section)."""
    rewards = run.reward_args
    funcs: list[Any] = []
    weights: list[float] = []
    if rewards.model:
        funcs.append(RewardModelScore(run, rewards.model, run.training_args.per_device_eval_batch_size))
        weights.append(rewards.model_weight)
    if rewards.length_weight:
        funcs.append(LengthReward(int(rewards.length_target)))
        weights.append(rewards.length_weight)
    return funcs, weights


def curate_prompt_trainer(base: type, run: Run) -> type:
    """``base`` (GRPOTrainer / RLOOTrainer) whose prompts are tokenized by curate, not by TRL."""
    from train.data import is_conversational, make_row_transform

    transforms: dict[bool, Any] = {}

    def encode(tokenizer: Any, prompt: Any) -> list[int]:
        conversational = is_conversational(prompt)
        if conversational not in transforms:
            transforms[conversational] = make_row_transform(run, tokenizer, "prompt", conversational, None)
        result = transforms[conversational]({"prompt": prompt})
        if isinstance(result, tuple):  # the same prompts passed curate_tokens before training
            raise CurateError(f"prompt cannot be tokenized by curate: {result[0]} ({result[1]})")
        return list(result["input_ids"])

    class CuratePrompts(base):  # type: ignore[misc, valid-type]
        def _tokenize_prompts(self, prompts: list[Any]) -> tuple[list[list[int]], None, dict[str, Any]]:
            return [encode(self.processing_class, p) for p in prompts], None, {}

    CuratePrompts.__name__ = base.__name__
    return CuratePrompts


def train_online(stage: str, argv: list[str] | None, description: str) -> common.TrainResult | None:
    """Prompts from a prompt-only export, completions sampled from the policy, rewards from above."""
    run, dry_run = common.prepare_run(stage, argv, description)
    if dry_run:
        print(common.describe_run(run))
        return None
    import trl

    base = trl.GRPOTrainer if stage == "grpo" else trl.RLOOTrainer
    path = run.model_args.model_name_or_path
    tokenizer = common.load_tokenizer(run, path, padding_side="left")
    train, evaluation = common.load_splits(run, tokenizer, run.data_args.max_prompt_tokens)
    funcs, weights = reward_functions(run)
    run.training_args.reward_weights = weights
    trainer_class = curate_prompt_trainer(base, run) if run.labels.get("by") == "curate" else base
    trainer = trainer_class(
        model=common.load_model(run, path, "causal"),
        reward_funcs=funcs,
        args=run.training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=common.peft_config(run, "CAUSAL_LM"),
    )
    common.train_model(run, trainer)
    metrics = trainer.evaluate() if evaluation is not None else {}
    out = common.save_outputs(run, trainer, metrics)
    if dist.is_main_process():
        rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
        if rewards:
            print(f"mean reward: first step {rewards[0]:.3f}, last step {rewards[-1]:.3f}")
    return common.TrainResult(out, metrics, trainer.state.log_history, trainer)
