"""The stats pictures: which ones each target gets, labelled axes, byte-identical files for the same
input, ``--png DIR`` (one file each) and ``--png FILE.png`` (one overview)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, SPECS

import curate

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_pictures_of_a_spec_have_labelled_axes() -> None:
    pictures = curate.stats(SPECS / "dolly-curated.yaml").plot()
    assert list(pictures) == ["agreement", "annotators", "rejects", "splits", "lengths"]
    for name in pictures:
        fig = pictures[name]
        assert fig.get_suptitle(), name
        for ax in fig.axes:
            if not ax.get_visible() or ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
    agreement = pictures["agreement"]
    titles = [ax.get_title() for ax in agreement.axes if ax.get_title()]
    assert titles[2].startswith("new-response (text)\nKrippendorff's α (nominal) = 0.48")
    assert any(ax.get_label() == "<colorbar>" for ax in agreement.axes)


def test_which_pictures_each_target_gets(tmp_path: Path) -> None:
    raw = curate.stats(DATA / "ultrafeedback-v2", on_warning=lambda m: None).plot()
    assert list(raw) == ["agreement", "annotators"]  # no spec: nothing rejected, no rows, no lengths
    curate.export(SPECS / "dolly-curated-preference.yaml", tmp_path / "pref")
    folder = curate.stats(tmp_path / "pref").plot()
    assert list(folder) == ["rejects", "splits", "lengths"]  # an export keeps no per-annotator answers
    split_file = curate.stats(tmp_path / "pref" / "test.parquet")
    assert split_file["rows_per_file"] == {"test.parquet": split_file["rows_per_split"]["test"]}


def test_same_input_same_bytes_and_the_cli_writes_what_the_api_writes(cli: Any, tmp_path: Path) -> None:
    spec = SPECS / "ultrafeedback-ratings.yaml"
    first = curate.stats(spec).plot().save(tmp_path / "a")
    second = curate.stats(spec).plot().save(tmp_path / "b")
    assert [p.name for p in first] == [
        "agreement.png",
        "annotators.png",
        "rejects.png",
        "splits.png",
        "lengths.png",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        width, height = png_size(a.read_bytes())
        assert 300 < width <= 2000 and 100 < height <= 2000, (a.name, width, height)
    result = cli("stats", spec, "--png", tmp_path / "c", "--json")
    assert result.exit_code == 0, result.stderr
    written = json.loads(result.stdout)["pictures"]
    assert [Path(p).name for p in written] == [p.name for p in first]
    for path in first:
        assert (tmp_path / "c" / path.name).read_bytes() == path.read_bytes()
    assert {p.name for p in (tmp_path / "c").iterdir()} == {p.name for p in first}  # no temporary files left


def test_png_file_path_is_one_overview(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "overview.png"
    result = cli("stats", SPECS / "chat-review.yaml", "--png", out, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["histogram"] == str(out) and data["pictures"] == [str(out)]
    width, height = png_size(out.read_bytes())
    parts = curate.stats(SPECS / "chat-review.yaml", on_warning=lambda m: None).plot()
    tallest = max(png_size(_png(parts[n]))[1] for n in parts)
    assert height > tallest and width >= 600  # every picture stacked in one image
    assert list(tmp_path.joinpath("deep").iterdir()) == [out]


def _png(fig: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def test_trained_token_picture_with_a_tokenizer(tokenizer: Path) -> None:
    stats = curate.stats(SPECS / "ultrafeedback-ratings.yaml", tokenizer=tokenizer)
    pictures = stats.plot()
    assert list(pictures)[-1] == "trained_tokens" and "lengths" not in pictures
    ax = pictures["trained_tokens"].axes[0]
    assert ax.get_xlabel() == "trained tokens per answer (chosen, rejected)" and ax.get_ylabel() == "answers"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chosen", "rejected"]
    median = stats["export"]["trained_tokens"]["chosen"]["median"]
    assert f"chosen: median {median:g} (dashed)" in ax.get_title()


def test_notebook_display_and_empty_exports(tmp_path: Path) -> None:
    html = curate.stats(SPECS / "dolly-prompts.yaml").plot()._repr_html_()
    assert html.count("<img ") == 5 and "data:image/png;base64," in html
    spec = curate.Spec(
        name="none-kept",
        task="prompt",
        source={"path": str(DATA / "dolly-curated-v1")},
        columns={"prompt": {"field": "original-instruction"}},
        filters={"min_chars": {"prompt": 10_000}},
    )
    stats = curate.stats(spec)
    assert stats["export"]["rows_per_split"] == {"train": 0}
    assert stats["export"]["rejects_by_reason"] == {"too_short:prompt": 300}
    rejects = stats.plot()["rejects"]
    assert rejects.get_suptitle() == "Rejects by reason: 300 of 300 input records (100%)"
    stats.plot().save(tmp_path / "empty.png")
    assert png_size((tmp_path / "empty.png").read_bytes())[1] > 300


def test_short_annotator_names_stay_unique() -> None:
    from curate.report.plots import short_names

    names = short_names(["abcdefgh-1", "abcdefgh-2", "zz"])
    assert names == {"abcdefgh-1": "abcdefgh-1", "abcdefgh-2": "abcdefgh-2", "zz": "zz"}


@pytest.fixture(scope="module")
def tokenizer(bpe_tokenizer: Path) -> Path:
    return bpe_tokenizer  # the session's one byte-level BPE
