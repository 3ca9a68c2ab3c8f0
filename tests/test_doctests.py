"""The examples in the docstrings of the package, the tools and the benches run, and print what they say: an example
that drifted from the code fails here (a reader copies examples)."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import bench
import tools
import vllm_infra


def _modules(package) -> list[str]:
    # __main__ modules run a program when imported; their docstrings hold no examples.
    return [
        info.name
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if not info.name.endswith(".__main__")
    ]


MODULES = sorted(_modules(vllm_infra) + _modules(tools) + _modules(bench))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    return [test for test in doctest.DocTestFinder().find(module, module_name) if test.examples]


@pytest.mark.parametrize("module_name", MODULES)
def test_the_module_s_docstring_examples_print_what_they_say(module_name):
    output = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _examples(module_name):
        runner.run(test, out=output.write)
    assert runner.failures == 0, output.getvalue()


def test_the_examples_are_found():
    # Guards the test above against finding nothing (a wrong package walk passes every module vacuously).
    assert sum(len(test.examples) for name in MODULES for test in _examples(name)) > 100


def test_a_drifted_example_fails():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(">>> 1 + 1\n3\n", {}, "drifted", None, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=io.StringIO().write)
    assert runner.failures == 1
