"""Tokenizers built in code for tests and benchmarks: nothing is downloaded.

* :func:`char_tokenizer`: one token per character, ``id == ord(char)`` (readable expected ids);
* :func:`byte_level_bpe`: a GPT-2/Qwen-style byte-level BPE trained on the fly (any vocab size);
* :func:`sentencepiece_style`: a Llama-2-like Metaspace BPE with byte fallback, ``<s>``/``</s>``
  and a BOS added to every sequence; ``### Assistant:`` tokenizes differently alone and after
  a newline, as with the real Llama-2 tokenizer;
* :func:`chat_tokenizer`: either of the two with a model family's special tokens and the real
  chat template TRL ships in ``trl/chat_templates/``.

Every builder saves with ``save_pretrained`` and returns ``AutoTokenizer.from_pretrained`` of
that folder, so tests exercise the same loading path as a real checkpoint.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WORD_TEXT = (
    "the of and to in is it you that he was for on are with as his they be at one have this from or "
    "had by hot word but what some we can out other were all there when up use your how said an each "
    "she which do their time if will way about many then them write would like so these her long make "
    "thing see him two has look more day could go come did number sound no most people my over know "
    "water than call first who may down side been now find any new work part take get place made live "
    "where after back little only round man year came show every good me give our under name very "
    "through just form sentence great think say help low line differ turn cause much mean before move "
    "right boy old too same tell does set three want air well also play small end put home read hand "
    "port large spell add even land here must big high such follow act why ask men change went light "
    "kind off need house picture try us again animal point mother world near build self earth father "
    "Paris France capital river city summarize explain translate list write answer question poem "
    "données café naïve Straße 東京 数据 привет مرحبا 🙂 🚀"
)
_WORDS = _WORD_TEXT.split()
_MARKERS = (
    "### Instruction:\n",
    "### Response:\n",
    "### Human: ",
    "\n### Assistant: ",
    "### Question: ",
    "\n### Answer: ",
    "\n\n",
    ". ",
    "? ",
    ", ",
    ": ",
    "\n",
)


_SYLLABLE_TEXT = (
    "ka ri to na me lu so ve ban dor ti pre con ex in al ment tion er ly ness pro sta ter mo qua "
    "ful ble ing ed un re de com par ver sen gra phi lo gy tri ang ca li for ni po ro cu la mi"
)
_SYLLABLES = _SYLLABLE_TEXT.split()


def _lexicon(rng: random.Random, size: int = 30_000) -> list[str]:
    # Invented words (syllable strings) give BPE enough distinct material for vocabularies of 8k+.
    words = list(_WORDS)
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))
        words.append(word.capitalize() if rng.random() < 0.1 else word)
    return words


def corpus(n_lines: int, seed: int = 0) -> Iterator[str]:
    """Deterministic English-like lines, with the prompt markers templates use and some unicode.

    Words follow a Zipf-like law over a lexicon of real and invented words.
    """
    rng = random.Random(seed)
    lexicon = _lexicon(rng)
    cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(lexicon))))
    for _ in range(n_lines):
        parts: list[str] = []
        for word in rng.choices(lexicon, cum_weights=cumulative, k=rng.randint(4, 40)):
            parts.append(word)
            parts.append(rng.choice(_MARKERS) if rng.random() < 0.12 else " ")
        yield "".join(parts).strip()


@dataclass(frozen=True)
class Family:
    """A model family's chat tokens: the TRL template file, special tokens, BOS and EOS."""

    template: str
    special_tokens: tuple[str, ...]
    bos: str | None
    eos: str


FAMILIES: dict[str, Family] = {
    "qwen2_5": Family("qwen2_5", ("<|im_start|>", "<|im_end|>", "<|endoftext|>"), None, "<|im_end|>"),
    "llama3": Family(
        "llama3",
        ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        "<|begin_of_text|>",
        "<|eot_id|>",
    ),
    "gemma": Family(
        "gemma", ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"), "<bos>", "<end_of_turn>"
    ),
    "phi3": Family(
        "phi3", ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"), None, "<|endoftext|>"
    ),
    "qwen3": Family(
        "qwen3", ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"), None, "<|im_end|>"
    ),
    # Templates written out in curate.templates need their markers as single tokens too.
    "chatml": Family("", ("<|im_start|>", "<|im_end|>"), None, "<|im_end|>"),
    "zephyr": Family("", ("<|system|>", "<|user|>", "<|assistant|>"), None, "</s>"),
}


def trl_chat_template(name: str) -> str:
    """The text of a chat template TRL ships (``trl/chat_templates/<name>.jinja``)."""
    import trl

    path = Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.jinja"))
        raise FileNotFoundError(f"{path}: no such TRL chat template; available: {', '.join(available)}")
    return path.read_text(encoding="utf-8")


def _save_and_load(tokenizer_object: Any, path: str | Path, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer_object, **kwargs)
    wrapped.save_pretrained(str(path))
    return AutoTokenizer.from_pretrained(str(path))


def char_tokenizer(path: str | Path, extra_special: tuple[str, ...] = ()) -> Any:
    """One token per character with ``id == ord(char)`` for tab, newline and printable ASCII.

    ``<pad>`` = 0, ``<s>`` = 1 (BOS, not added automatically), ``</s>`` = 2 (EOS), ``<unk>`` = 3;
    ``extra_special`` tokens get ids from 200 on.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({chr(c): c for c in (9, 10, *range(32, 127))})
    for i, token in enumerate(extra_special):
        vocab[token] = 200 + i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t in ("<pad>", "<s>", "</s>", "<unk>", *extra_special)
        ]
    )
    return _save_and_load(tok, path, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def byte_level_bpe(
    path: str | Path,
    vocab_size: int = 1024,
    *,
    special_tokens: tuple[str, ...] = (),
    bos: str | None = None,
    eos: str = "<|endoftext|>",
    chat_template: str | None = None,
    n_lines: int = 4000,
    seed: int = 0,
) -> Any:
    """A byte-level BPE (GPT-2 / Qwen / Llama-3 style) trained on :func:`corpus`.

    Offsets are not trimmed (``trim_offsets=False``), as in Qwen and Llama-3 tokenizers.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = tuple(dict.fromkeys(("<|endoftext|>", eos, *((bos,) if bos else ()), *special_tokens)))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(n_lines, seed), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return _save_and_load(
        tok, path, bos_token=bos, eos_token=eos, pad_token="<|endoftext|>", chat_template=chat_template
    )


def sentencepiece_style(
    path: str | Path,
    vocab_size: int = 1024,
    *,
    special_tokens: tuple[str, ...] = (),
    chat_template: str | None = None,
    n_lines: int = 4000,
    seed: int = 0,
) -> Any:
    """A Llama-2-like tokenizer: Metaspace (``▁``, prepended to the first word only), BPE with
    byte fallback (``<0x00>``..``<0xFF>`` at ids 3..258, as in Llama-2), ``<unk>``/``<s>``/``</s>``
    at 0/1/2, and ``<s>`` added in front of every sequence.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    draft = Tokenizer(models.BPE(unk_token="<unk>"))
    draft.pre_tokenizer = metaspace
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size - 256, 64),
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=["▁", "\n"],
        show_progress=False,
    )
    draft.train_from_iterator(corpus(n_lines, seed), trainer)
    trained = json.loads(draft.to_str())["model"]
    # Rebuild the vocab Llama-2's way: specials, then the 256 byte tokens, then learned pieces.
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for piece in sorted(trained["vocab"], key=trained["vocab"].__getitem__):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    tok.pre_tokenizer = metaspace
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>", *special_tokens)]
    )
    return _save_and_load(
        tok,
        path,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        chat_template=chat_template,
    )


def chat_tokenizer(path: str | Path, family: str, kind: str = "bpe", vocab_size: int = 1024) -> Any:
    """A tokenizer with a model family's special tokens and, for TRL families, TRL's real template.

    ``kind`` is ``"bpe"`` (byte-level) or ``"spm"`` (Llama-2-like Metaspace).
    """
    fam = FAMILIES[family]
    template = trl_chat_template(fam.template) if fam.template else None
    if kind == "spm":
        tok = sentencepiece_style(path, vocab_size, special_tokens=fam.special_tokens, chat_template=template)
        # The family's BOS/EOS replace <s>/</s> where the family names its own.
        if fam.bos or fam.eos != "</s>":
            tok.bos_token = fam.bos or tok.bos_token
            tok.eos_token = fam.eos
            tok.save_pretrained(str(path))
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(path))
        return tok
    return byte_level_bpe(
        path, vocab_size, special_tokens=fam.special_tokens, bos=fam.bos, eos=fam.eos, chat_template=template
    )
