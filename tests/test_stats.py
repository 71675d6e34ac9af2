"""`curate stats` reports counts, statuses, agreement and lengths, and draws a histogram."""

from __future__ import annotations

import json

from helpers import DATA, SPECS


def test_stats_json_and_png(cli, tmp_path):
    png = tmp_path / "lengths.png"
    result = cli("stats", SPECS / "dolly-curated.yaml", "--png", png, "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["records"] == 300
    assert stats["source"]["layout"] == "argilla_v1"
    assert set(stats["annotator_responses_by_status"]) <= {"submitted", "draft", "discarded"}
    assert stats["annotators_per_record"]["0"] > 0 and "2" in stats["annotators_per_record"]
    assert sum(stats["annotators_per_record"].values()) == 300
    agreement = stats["questions"]["new-response"]["agreement"]
    assert agreement["metric"] == "krippendorff_alpha_nominal" and -1 <= agreement["alpha"] <= 1
    lengths = stats["field_lengths_chars"]["original-context"]
    assert lengths["count"] == 300 and lengths["empty"] > 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_stats_on_an_export_folder_and_ratings(cli):
    result = cli("stats", DATA / "ultrafeedback-v2", "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["questions"]["rating-1"]["agreement"]["metric"] == "krippendorff_alpha_interval"
    assert stats["questions"]["rating-1"]["kind"] == "rating"


def test_stats_human_output(cli):
    result = cli("stats", DATA / "chat-review-v2-disk")
    assert result.exit_code == 0
    assert "chat-review-v2-disk" in result.stdout and "corrected-reply" in result.stdout
