"""The version ranges pyproject.toml declares, and a check that the installed distribution is inside its range.

Code that leans on a library's private internals pins the library's range in pyproject.toml to the versions it was
tested with; the internals tests call :func:`assert_installed_within_declared_range` so an upgrade past the range
fails by naming the internal and the file that uses it, rather than with a traceback deep inside the library.

>>> declared_range("pulumi").contains("3.0.0")
False
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def declared_requirements() -> list[Requirement]:
    """Every requirement pyproject.toml declares: the runtime dependencies and every optional extra's."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = [*project["dependencies"], *(line for extra in project["optional-dependencies"].values() for line in extra)]
    return [Requirement(line) for line in lines]


def declared_range(distribution: str) -> SpecifierSet:
    """The version specifier pyproject.toml declares for ``distribution`` (name compared PEP 503-normalized).

    Raises LookupError when pyproject.toml does not name it, or names it without a version range: a library whose
    internals are used must have one.
    """
    wanted = canonicalize_name(distribution)
    for requirement in declared_requirements():
        if canonicalize_name(requirement.name) == wanted:
            if not requirement.specifier:
                raise LookupError(f"pyproject.toml requires {distribution} without a version range")
            return requirement.specifier
    raise LookupError(f"pyproject.toml does not require {distribution}")


def assert_installed_within_declared_range(distribution: str, *, internals: str, used_in: str) -> None:
    """Fail unless the installed ``distribution`` is inside the range pyproject.toml declares for it.

    ``internals`` names what is used that the library does not promise to keep, ``used_in`` the file that uses it;
    both go into the failure message, which says what to do.
    """
    installed = metadata.version(distribution)
    declared = declared_range(distribution)
    assert declared.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed, but pyproject.toml declares {distribution}{declared}: the range "
        f"is the tested one because {used_in} uses {internals}. Check those against {distribution} {installed} "
        f"(the tests beside this one name each), then widen the range in pyproject.toml."
    )
