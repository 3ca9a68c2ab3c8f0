"""The test suite runs on a fresh clone with nothing beside it: no test may read outside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `parents[2].parent`, "../shared", `/ "shared"`: the ways a path has climbed out of the repository before.
OUTSIDE = re.compile(r"""(\.\./shared|parents\[\d+\]\.parent|/\s*["']shared["'])""")


def test_no_test_reads_outside_the_checkout() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, "tests must only read files inside the repository:\n" + "\n".join(offenders)


def test_vendored_schemas_record_their_source() -> None:
    schema_dir = ROOT / "tests" / "data" / "crd-schemas"
    source = (schema_dir / "SOURCE.md").read_text()
    vendored = sorted(str(p.relative_to(schema_dir)) for p in schema_dir.rglob("*.json"))
    assert vendored, "no vendored CRD schema"
    missing = [name for name in vendored if f"`{name}`" not in source]
    assert not missing, f"SOURCE.md does not record: {missing}"
