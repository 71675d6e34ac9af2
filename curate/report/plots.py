"""Pictures of a dataset (``curate stats --png`` and ``curate.stats(...).plot()``): agreement per
annotator pair and question, responses by status per annotator, rejects by reason, rows per
split, and trained-token lengths (characters per row without a tokenizer).

Drawn with matplotlib's object API (no pyplot state) and written by the Agg backend with fixed
size, DPI, style and no software/date metadata: the same input gives byte-identical PNGs.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from curate.errors import CurateError
from curate.tasks import TASKS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

DPI = 100
STYLE = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}
# Okabe-Ito colours: distinguishable with colour-vision deficiencies
STATUS_COLORS = {"submitted": "#009E73", "draft": "#E69F00", "discarded": "#D55E00", "unknown": "#999999"}
BLUE, ORANGE, VERMILLION, GREY = "#0072B2", "#E69F00", "#D55E00", "#999999"


class Figures(Protocol):
    """What the pictures are drawn from (:class:`curate.report.stats.Stats` is one): the figures
    of a source, a spec or an export, and the lengths behind the length pictures."""

    kind: str
    data: dict[str, Any]
    lengths: dict[str, list[int]]
    trained: dict[str, list[int]]

    @property
    def title(self) -> str: ...


@dataclass(frozen=True)
class Picture:
    name: str
    size: tuple[float, float]  # inches at DPI
    draw: Callable[[FigureBase], None]


class Pictures(Mapping[str, "Figure"]):
    """The pictures of one :class:`curate.report.stats.Stats`, by name; each is a matplotlib ``Figure``.

    ``save(DIR)`` writes ``DIR/<name>.png`` for each; ``save(FILE.png)`` writes one overview with
    all of them. In a notebook the object shows every picture.
    """

    def __init__(self, pictures: list[Picture], title: str):
        self._pictures = {p.name: p for p in pictures}
        self.title = title

    def __getitem__(self, name: str) -> Figure:
        return _render(self._pictures[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._pictures)

    def __len__(self) -> int:
        return len(self._pictures)

    def overview(self) -> Figure:
        """All pictures stacked in one figure (what ``--png FILE.png`` writes)."""
        from matplotlib.figure import Figure

        pictures = list(self._pictures.values()) or [_nothing()]
        width = max(p.size[0] for p in pictures)
        heights = [p.size[1] for p in pictures]
        with _style():
            fig = Figure(figsize=(width, sum(heights) + 0.5), dpi=DPI, layout="constrained")
            fig.suptitle(self.title, fontweight="bold")
            subfigs = fig.subfigures(len(pictures), 1, height_ratios=heights, squeeze=False)[:, 0]
            for sub, picture in zip(subfigs, pictures, strict=True):
                picture.draw(sub)
        return fig

    def save(self, path: str | os.PathLike[str]) -> list[Path]:
        """Write PNGs: one overview to ``FILE.png``, else one file per picture into the folder
        ``path`` (created if missing). Returns the files written."""
        target = Path(path)
        where = _where(target)
        try:
            if target.suffix.lower() == ".png":
                _write(self.overview(), target)
                return [target]
            target.mkdir(parents=True, exist_ok=True)
            written = []
            for name in self._pictures:
                _write(self[name], target / f"{name}.png")
                written.append(target / f"{name}.png")
            return written
        except OSError as err:
            raise CurateError(f"{where}: cannot write ({err.strerror or err})") from None

    def _repr_html_(self) -> str:
        parts = [f"<h4>{_html(self.title)}</h4>"]
        for name in self._pictures:
            png = base64.b64encode(_png_bytes(self[name])).decode("ascii")
            parts.append(f"<img alt='{_html(name)}' src='data:image/png;base64,{png}'/>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"Pictures({', '.join(self._pictures)})"


def _where(path: Path) -> str:
    from curate.arguments import arg, cli_called

    return arg("png", str(path)) if cli_called() else str(path)


def _html(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _style() -> Any:
    import matplotlib

    return matplotlib.rc_context(STYLE)  # type: ignore[arg-type]


def _render(picture: Picture) -> Figure:
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=picture.size, dpi=DPI, layout="constrained")
        picture.draw(fig)
    return fig


def _png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _write(fig: Figure, path: Path) -> None:
    data = _png_bytes(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# --- what to draw --------------------------------------------------------------------------------
def pictures(stats: Figures) -> Pictures:
    """The pictures the figures of ``stats`` support, in reading order."""
    data = stats.data
    export = data if stats.kind == "export" else data.get("export")
    out: list[Picture] = []
    pairwise = data.get("pairwise_agreement") or {}
    if pairwise:
        decided = ((export or {}).get("review") or {}).get("decided_by_question")
        out.append(_agreement_picture(pairwise, data.get("questions") or {}, decided))
    if data.get("annotators"):
        out.append(_annotators_picture(data["annotators"]))
    if export is not None:
        out.append(_rejects_picture(export))
        if export.get("rows_per_split"):
            out.append(_splits_picture(export))
        task = str(export.get("task") or "")
        if stats.trained:
            out.append(_trained_picture(stats.trained, export.get("trained_tokens") or {}, task))
        else:
            shown = TASKS[task].length_columns if task in TASKS else ()
            lengths = {c: stats.lengths[c] for c in shown if stats.lengths.get(c)}
            if lengths:
                out.append(_lengths_picture(lengths))
    return Pictures(out, f"{stats.title}: curate stats")


def short_names(ids: list[str], width: int = 8) -> dict[str, str]:
    """Readable annotator labels: the first ``width`` characters of each id, longer where two
    would clash.

    >>> short_names(["d02673aa-1d18-53b8", "a8513b2d-679a"])
    {'d02673aa-1d18-53b8': 'd02673aa', 'a8513b2d-679a': 'a8513b2d'}
    """
    for w in range(width, max((len(i) for i in ids), default=width) + 1):
        names = {i: i if len(i) <= w else i[:w] for i in ids}
        if len(set(names.values())) == len(ids):
            return names
    return {i: i for i in ids}


def _agreement_picture(
    pairwise: dict[str, Any], questions: dict[str, Any], decided: dict[str, int] | None = None
) -> Picture:
    """Per question, annotator x annotator agreement; where the spec names a review, each title
    also says how many records a reviewer decided (their answer replaced the annotators')."""
    names = list(pairwise)
    ncols = 2 if len(names) == 4 else min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    most = max(len(p["annotators"]) for p in pairwise.values())
    cell = max(3.4, 0.75 * most + 1.4)

    def draw(fig: FigureBase) -> None:
        import numpy as np

        axes = fig.subplots(nrows, ncols, squeeze=False)
        image = None
        for ax, q in zip(axes.flat, names, strict=False):
            info = pairwise[q]
            people = info["annotators"]
            label = short_names(people)
            index = {p: i for i, p in enumerate(people)}
            share = np.full((len(people), len(people)), np.nan)
            shared = np.zeros((len(people), len(people)), dtype=int)
            for pair in info["pairs"]:
                i, j = index[pair["a"]], index[pair["b"]]
                share[i, j] = share[j, i] = pair["share"]
                shared[i, j] = shared[j, i] = pair["shared"]
            image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_facecolor("#f0f0f0")
            for i in range(len(people)):
                for j in range(len(people)):
                    if i == j or not shared[i, j]:
                        continue
                    dark = share[i, j] < 0.6
                    ax.text(
                        j, i, f"{share[i, j]:.0%}\nn={shared[i, j]}", ha="center", va="center",
                        fontsize=8, color="white" if dark else "black",
                    )  # fmt: skip
            ticks = range(len(people))
            ax.set_xticks(ticks, [label[p] for p in people], rotation=30, ha="right")
            ax.set_yticks(ticks, [label[p] for p in people])
            ax.set_xlabel("annotator")
            ax.set_ylabel("annotator")
            ax.spines[:].set_visible(False)
            title = _question_title(q, questions.get(q) or {})
            if decided is not None:
                title += (
                    f"\nreviewer decided {decided.get(q, 0)} record{'' if decided.get(q, 0) == 1 else 's'}"
                )
            ax.set_title(title)
        for ax in axes.flat[len(names) :]:
            ax.set_visible(False)
        if image is not None:
            fig.colorbar(
                image, ax=axes, shrink=0.8, label="same answer (share of the records both answered)",
                format=_percent(),
            )  # fmt: skip
        fig.suptitle("Agreement per annotator pair")
        fig.supxlabel(
            "Counted: submitted answers (and answers whose status the export lost).\n"
            "n = records both annotators answered; grey = no record in common.",
            fontsize=8,
        )

    return Picture("agreement", (max(5.5, cell * ncols + 1.6), cell * nrows + 1.1), draw)


def _integers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0)


def _question_title(name: str, info: dict[str, Any]) -> str:
    kind = info.get("kind") or "?"
    agreement = info.get("agreement") or {}
    alpha = agreement.get("alpha")
    if alpha is None:
        return f"{name} ({kind})"
    metric = "interval" if str(agreement.get("metric", "")).endswith("interval") else "nominal"
    return f"{name} ({kind})\nKrippendorff's α ({metric}) = {alpha:.2f}"


def _annotators_picture(per_annotator: dict[str, dict[str, int]]) -> Picture:
    people = sorted(per_annotator, key=lambda p: (-sum(per_annotator[p].values()), p))
    statuses = [s for s in STATUS_COLORS if any(s in c for c in per_annotator.values())]
    statuses += sorted({s for c in per_annotator.values() for s in c} - set(statuses))
    label = short_names(people)

    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        left = [0] * len(people)
        y = list(range(len(people)))
        for status in statuses:
            counts = [per_annotator[p].get(status, 0) for p in people]
            bars = ax.barh(y, counts, left=left, color=STATUS_COLORS.get(status, BLUE), label=status)
            labels = [str(c) if c else "" for c in counts]
            ax.bar_label(bars, labels=labels, label_type="center", fontsize=8, color="white")
            left = [a + b for a, b in zip(left, counts, strict=True)]
        for i, total in enumerate(left):
            ax.text(total, i, f" {total}", va="center", fontsize=8)
        ax.set_yticks(y, [label[p] for p in people])
        ax.invert_yaxis()
        ax.set_xlabel("records (an annotator's status on each record they responded to)")
        ax.set_ylabel("annotator")
        ax.set_xlim(0, max(left, default=1) * 1.1 or 1)
        _integers(ax.xaxis)
        ax.legend(ncols=len(statuses), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
        fig.suptitle("Responses by status per annotator")

    return Picture("annotators", (9.0, 1.4 + 0.45 * len(people)), draw)


def _rejects_picture(export: dict[str, Any]) -> Picture:
    records = dict(export.get("rejects_by_reason") or {})
    rows = dict(export.get("dropped_rows_by_reason") or {})
    counts = export.get("counts") or {}
    n_input = export.get("input_records", counts.get("input_records")) or 0
    bars = [
        (f"{reason}", n, VERMILLION) for reason, n in sorted(records.items(), key=lambda x: (-x[1], x[0]))
    ]
    bars += [
        (f"{reason} (row)", n, ORANGE) for reason, n in sorted(rows.items(), key=lambda x: (-x[1], x[0]))
    ]
    rejected = sum(records.values())

    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        if not bars:
            ax.text(0.5, 0.5, "no record rejected", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            y = list(range(len(bars)))
            drawn = ax.barh(y, [b[1] for b in bars], color=[b[2] for b in bars])
            ax.bar_label(drawn, padding=3, fontsize=8)
            ax.set_yticks(y, [b[0] for b in bars])
            ax.invert_yaxis()
            ax.set_xlim(0, max(b[1] for b in bars) * 1.15)
            _integers(ax.xaxis)
            ax.set_xlabel(
                "records rejected (rows dropped from kept records: orange)" if rows else "records rejected"
            )
            ax.set_ylabel("reason")
        share = f" ({rejected / n_input:.0%})" if n_input else ""
        fig.suptitle(f"Rejects by reason: {rejected} of {n_input} input records{share}")

    return Picture("rejects", (9.0, 1.5 + 0.35 * max(1, len(bars))), draw)


def _splits_picture(export: dict[str, Any]) -> Picture:
    rows = dict(export.get("rows_per_split") or {})
    records = dict(export.get("records_per_split") or {})
    n_input = export.get("input_records") or 0
    kept = sum(records.values())

    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        names = list(rows)
        y = list(range(len(names)))
        drawn = ax.barh(y, [rows[n] for n in names], color=BLUE, height=0.6)
        labels = [
            f"{rows[n]} rows"
            + (f" ({records.get(n, 0)} records)" if rows[n] != records.get(n, rows[n]) else "")
            for n in names
        ]
        ax.bar_label(drawn, labels=labels, padding=3, fontsize=8)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, max(rows.values(), default=1) * 1.3 or 1)
        _integers(ax.xaxis)
        ax.set_xlabel("rows")
        ax.set_ylabel("split")
        fig.suptitle(f"Rows per split ({n_input} input records: {kept} kept, {n_input - kept} rejected)")

    return Picture("splits", (9.0, 1.4 + 0.4 * max(1, len(rows))), draw)


def _histogram(ax: Axes, values: list[int], color: str, label: str | None = None) -> None:
    distinct = len(set(values))
    ax.hist(values, bins=max(1, min(40, distinct)), color=color, alpha=0.75 if label else 1.0, label=label)


def _marks(ax: Axes, values: list[int], color: str = "black") -> str:
    """Median (dashed) and p90 (dotted) lines; returns the words for a title."""
    import statistics

    ordered = sorted(values)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    ax.axvline(median, color=color, linestyle="--", linewidth=1.2)
    ax.axvline(p90, color=color, linestyle=":", linewidth=1.2)
    return f"median {median:g} (dashed), p90 {p90:g} (dotted)"


def _trained_picture(trained: dict[str, list[int]], summary: dict[str, Any], task: str) -> Picture:
    pair = task in TASKS and TASKS[task].trains == "pair"
    tokenizer = summary.get("tokenizer")

    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        marks = []
        for (name, values), color in zip(trained.items(), (BLUE, ORANGE), strict=False):
            _histogram(ax, values, color, name if pair else None)
            marks.append(_marks(ax, values, color if pair else "black"))
        ax.set_xlabel(f"trained tokens per {'answer' if pair else 'row'} ({', '.join(trained)})")
        ax.set_ylabel("answers" if pair else "rows")
        if pair:
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.set_title(
            "\n".join(f"{n}: {m}" for n, m in zip(trained, marks, strict=True)) if pair else marks[0]
        )
        total = sum(len(v) for v in trained.values())
        fig.suptitle(f"Trained tokens ({total} {'answers' if pair else 'rows'}, tokenizer {tokenizer})")

    return Picture("trained_tokens", (9.0, 3.4), draw)


def _lengths_picture(lengths: dict[str, list[int]]) -> Picture:
    def draw(fig: FigureBase) -> None:
        axes = fig.subplots(1, len(lengths), squeeze=False)[0]
        for ax, (column, values) in zip(axes, lengths.items(), strict=True):
            _histogram(ax, values, BLUE)
            marks = _marks(ax, values)
            ax.set_title(f"{column} (n={len(values)})\n{marks}", fontsize=9)
            ax.set_xlabel("characters")
            ax.set_ylabel("rows")
        fig.suptitle("Characters per row (pass a tokenizer for trained-token lengths)")

    return Picture("lengths", (max(6.0, 3.6 * len(lengths)), 3.2), draw)


def _nothing() -> Picture:
    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "nothing to draw", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()

    return Picture("empty", (6.0, 1.5), draw)
