"""README.md's layout table against the tree: a reader who trusts the table finds every path it names, a module
added without a word in the table fails here, and so does a row that still names a module that moved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_NAMES = {"__init__.py", "__main__.py", "__pycache__"}


def layout_rows(readme: str) -> dict[str, str]:
    """``{path: description}`` of the ``## Layout`` table (the path is the first cell's backticked text)."""
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.+) \|$", line)
        if match:
            rows[match[1]] = match[2]
    return rows


ROWS = layout_rows((ROOT / "README.md").read_text())


def modules_of(package: Path) -> list[str]:
    """The modules and subpackages of ``package`` a reader would look for (not ``__init__``/``__main__``)."""
    return sorted(
        child.stem
        for child in package.iterdir()
        if child.name not in SKIPPED_NAMES
        and (child.suffix == ".py" or (child.is_dir() and (child / "__init__.py").exists()))
    )


def named(module: str, description: str) -> bool:
    return re.search(rf"`{re.escape(module)}(`|/`| \(|\.)", description) is not None


def test_the_table_is_found_and_not_trivial():
    assert len(ROWS) >= 15
    assert "vllm_infra/components/" in ROWS


@pytest.mark.parametrize("path", sorted(ROWS))
def test_every_path_of_the_table_exists(path):
    assert (ROOT / path).exists(), f"README.md's layout table names {path}, which is not in the tree"


def covered(path: str) -> bool:
    return any(row.rstrip("/") == path or row.startswith(path + "/") for row in ROWS)


@pytest.mark.parametrize(
    "entry",
    sorted(
        [
            f"{p.name}"
            for p in ROOT.iterdir()
            if p.is_dir()
            and not p.name.startswith(".")
            and p.name not in {"__pycache__", ".venv"}
            and not p.name.endswith(".egg-info")
        ]
        + [f"vllm_infra/{p.name}" for p in (ROOT / "vllm_infra").iterdir() if p.name not in SKIPPED_NAMES]
    ),
)
def test_every_top_level_folder_and_every_part_of_the_package_has_a_row(entry):
    assert covered(entry), f"{entry} has no row in README.md's layout table"


# The library's and the tools' packages; the tests mirror them and are described as a whole.
PACKAGE_ROWS = sorted(
    path for path in ROWS if path.startswith(("vllm_infra/", "tools/")) and (ROOT / path / "__init__.py").exists()
)


@pytest.mark.parametrize("path", PACKAGE_ROWS)
def test_a_package_s_row_names_each_of_its_modules(path):
    missing = [module for module in modules_of(ROOT / path) if not named(module, ROWS[path])]
    assert missing == [], f"README.md's layout row for {path} does not name {', '.join(missing)}"


def test_the_module_check_can_fail():
    # The checks above on a made-up row: a module the row forgets is reported, one it names is not.
    assert named("registry", "the `registry` (built-ins)")
    assert named("render", "and `render/` (text)")
    assert not named("registry", "the registry, unnamed")
    assert not named("base", "`base64` is something else")
