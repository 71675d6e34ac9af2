"""The bundled demo data is what the committed generator writes (fixtures anyone can regenerate)."""

from __future__ import annotations

import importlib.util

from helpers import DATA


def test_generator_reproduces_the_bundled_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_demo_data", DATA / "make_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    committed = sorted(
        p.relative_to(DATA) for p in DATA.rglob("*") if p.is_file() and p.name != "make_demo_data.py"
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in committed if "__pycache__" not in str(p)] == generated
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), rel
