"""tools.vllm_surface.flags: every rule that turns argparse code into accepted ``vllm serve`` flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import (
    ARGPARSE_UTILS,
    PAD_OPTIONS,
    build_wheel,
    mini_release,
    open_wheel,
)
from tools.vllm_surface.errors import ExtractionError
from tools.vllm_surface.flags import FlagExtractor, Option, ParserModel
from tools.vllm_surface.sources import Wheel

PADDING = [f"--pad-{i}" for i in range(PAD_OPTIONS)]


def release_flags(tmp_path: Path, replace: dict[str, str] | None = None) -> list[str]:
    """Flags of the mini release, with the files in ``replace`` (wheel path -> source) replaced."""
    files = {**mini_release(), **(replace or {})}
    return FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


def walk(tmp_path: Path, source: str, extra: dict[str, str] | None = None) -> FlagExtractor:
    """Walk ``def add(parser)`` of ``vllm/m.py`` with the release's FlexibleArgumentParser model."""
    wheel = open_wheel(tmp_path, {**mini_release(), "vllm/m.py": source, **(extra or {})})
    fx = FlagExtractor(wheel)
    fx.read_parser_model()
    fx.walk_parser_function(wheel.module("vllm.m").resolve("add"), parser_names={"parser"})
    return fx


# --------------------------------------------------------------------------- the whole serve parser


def test_mini_release_flags(tmp_path: Path) -> None:
    assert release_flags(tmp_path) == sorted(
        [
            "--help",
            "--headless",
            # FrontendArgs fields: --field-name; bool -> BooleanOptionalAction + EnableDisableAction
            "--host",
            "--enable-log-requests",
            "--no-enable-log-requests",
            "--disable-log-requests",
            "--hf-token",  # bool | str | None: a value, no --no-hf-token
            "--api-key",  # its extra "-k" is a short option: not listed
            # removed_field is deleted by _customize_cli_kwargs
            # EngineArgs / AsyncEngineArgs
            "--model",
            "--enable-prefix-caching",
            "--no-enable-prefix-caching",
            "--disable-prefix-caching",
            "--disable-sliding-window",
            "--no-disable-sliding-window",
            "--enable-sliding-window",
            "--max-model-len",
            "--disable-log-stats",  # store_true: no negative form
            "--trust-remote-code",
            "--no-trust-remote-code",  # no enable/disable prefix: only --no-
            *PADDING,
        ]
    )


def test_plain_argparse_without_enable_disable_action_gives_only_no_forms(tmp_path: Path) -> None:
    plain = "from argparse import ArgumentParser\n\nclass FlexibleArgumentParser(ArgumentParser):\n    pass\n"
    flags = release_flags(tmp_path, {"vllm/utils/argparse_utils.py": plain})
    assert "--no-enable-prefix-caching" in flags
    assert "--disable-prefix-caching" not in flags
    assert "--enable-sliding-window" not in flags


def test_fewer_than_100_serve_options_fail(tmp_path: Path) -> None:
    files = mini_release(pad_options=PAD_OPTIONS - 13)  # the release itself contributes 12 options
    with pytest.raises(ExtractionError, match="only 99 options found for `vllm serve`"):
        FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


@pytest.mark.parametrize(
    ("path", "replace", "message"),
    [
        ("vllm/entrypoints/cli/serve.py", ('name = "serve"', 'name = "run"'), "ServeSubcommand.name is not 'serve'"),
        (
            "vllm/entrypoints/cli/serve.py",
            ("def cmd_init", "ServeSubcommand = None\n\n\ndef cmd_init"),
            "ServeSubcommand not found",
        ),
        ("vllm/entrypoints/cli/serve.py", ('help="Launch the server."', "add_help=False"), "add_help changed"),
        ("vllm/entrypoints/cli/serve.py", ('help="Launch the server."', "parser_class=P"), "no longer inherits"),
        (
            "vllm/entrypoints/cli/serve.py",
            (
                "        serve_parser = make_arg_parser",
                "        subparsers.add_parser('x')\n        serve_parser = make_arg_parser",
            ),
            "expected one subparsers.add_parser",
        ),
        (
            "vllm/entrypoints/cli/main.py",
            ("FlexibleArgumentParser(description", "ArgumentParser(description"),
            "no longer a FlexibleArgumentParser",
        ),
        (
            "vllm/entrypoints/cli/main.py",
            ('dest="subparser"', 'dest="subparser", parser_class=P'),
            "custom parser_class",
        ),
        (
            "vllm/entrypoints/cli/main.py",
            ("vllm.entrypoints.cli.serve", "vllm.entrypoints.cli.other"),
            "serve sub-command module",
        ),
        (
            "vllm/platforms/interface.py",
            ("        pass", "        parser.add_argument('--x')"),
            "pre_register_and_update adds CLI arguments",
        ),
        ("vllm/platforms/interface.py", ("pre_register_and_update", "other_hook"), "no pre_register_and_update"),
        (
            "vllm/utils/argparse_utils.py",
            ("self.register(", "self.other("),
            "does not register it for BooleanOptionalAction",
        ),
        ("vllm/utils/argparse_utils.py", ("_inverse_prefixes = {", "_other = {"), "_inverse_prefixes not found"),
        (
            "vllm/utils/argparse_utils.py",
            ("self.option_strings = [*self.option_strings, *inverses]", "pass"),
            "no longer appends the inverse options",
        ),
        (
            "vllm/utils/argparse_utils.py",
            ("class FlexibleArgumentParser", "class OtherParser"),
            "FlexibleArgumentParser not found",
        ),
    ],
)
def test_release_shape_changes_fail(tmp_path: Path, path: str, replace: tuple[str, str], message: str) -> None:
    files = mini_release()
    assert replace[0] in files[path]
    files[path] = files[path].replace(*replace)
    with pytest.raises(ExtractionError, match=message):
        FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


def test_registration_without_enable_disable_action_fails(tmp_path: Path) -> None:
    files = mini_release()
    files["vllm/utils/argparse_utils.py"] = ARGPARSE_UTILS.replace("class EnableDisableAction", "class OtherAction")
    with pytest.raises(ExtractionError, match="unexpected action registration"):
        FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


@pytest.mark.parametrize("path", ["vllm/entrypoints/common/cli_args.py", "vllm/engine/arg_utils.py"])
def test_each_expected_file_must_contribute(tmp_path: Path, path: str) -> None:
    # extra padding keeps the option count healthy once one file's own options are gone
    files = mini_release(pad_options=PAD_OPTIONS + 20)
    if path.endswith("arg_utils.py"):
        files["vllm/entrypoints/common/cli_args.py"] = files["vllm/entrypoints/common/cli_args.py"].replace(
            "    parser = AsyncEngineArgs.add_cli_args(parser)\n", ""
        )
    else:  # move the padding out of cli_args.py, drop its own options
        src = files["vllm/entrypoints/common/cli_args.py"]
        files["vllm/entrypoints/common/cli_args.py"] = (
            "from vllm.engine.arg_utils import AsyncEngineArgs\n\n"
            "def make_arg_parser(parser):\n    parser = AsyncEngineArgs.add_cli_args(parser)\n    return parser\n"
        )
        pad = "".join(line + "\n" for line in src.splitlines() if "--pad-" in line)
        files["vllm/engine/arg_utils.py"] = files["vllm/engine/arg_utils.py"].replace(
            '        parser.add_argument("--model", type=str)\n',
            '        parser.add_argument("--model", type=str)\n' + pad.replace("    parser", "        parser"),
        )
    with pytest.raises(ExtractionError, match=f"{path}: contributed no option"):
        FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


def test_sources_are_recorded(tmp_path: Path) -> None:
    wheel = Wheel(build_wheel(tmp_path, mini_release()))
    FlagExtractor(wheel).run()
    assert wheel.sources == {
        "vllm/utils/argparse_utils.py",
        "vllm/entrypoints/cli/main.py",
        "vllm/entrypoints/cli/serve.py",
        "vllm/entrypoints/common/cli_args.py",
        "vllm/engine/arg_utils.py",
        "vllm/config/cache.py",
        "vllm/platforms/interface.py",
    }
    assert not wheel.recording


# --------------------------------------------------------------------------- add_argument rules


def test_actions_from_keywords_and_double_star_dicts(tmp_path: Path) -> None:
    fx = walk(
        tmp_path,
        "import argparse\n"
        "from vllm.utils.argparse_utils import EnableDisableAction\n"
        "def add(parser):\n"
        "    group = parser.add_argument_group('g')\n"
        "    exclusive = group.add_mutually_exclusive_group()\n"
        "    parser.add_argument('--a', action='store_true')\n"
        "    group.add_argument('--enable-b', action=argparse.BooleanOptionalAction)\n"
        "    exclusive.add_argument('--c', **{'action': EnableDisableAction})\n"
        "    parser.add_argument('--d', **{**{'action': 'count'}})\n"
        "    parser.add_argument('--e', '-e', type=int)\n",
    )
    assert [(o.strings, o.action) for o in fx.options] == [
        (["--a"], "store_true"),
        (["--enable-b"], "BooleanOptionalAction"),
        (["--c"], "BooleanOptionalAction"),
        (["--d"], "count"),
        (["--e", "-e"], "store"),
    ]
    assert fx.options[0].origin == "vllm/m.py:6"
    assert fx.expand() == ["--a", "--c", "--d", "--disable-b", "--e", "--enable-b", "--no-c", "--no-enable-b"]


def test_field_kwargs_take_the_field_type_unless_overridden(tmp_path: Path) -> None:
    fx = walk(
        tmp_path,
        "from vllm.config.cache import CacheConfig\n"
        "from vllm.engine.arg_utils import get_kwargs\n"
        "def add(parser):\n"
        "    kwargs = get_kwargs(CacheConfig)\n"
        "    sliding = kwargs['disable_sliding_window']\n"
        "    sliding['action'] = 'store_true'\n"
        "    parser.add_argument('--enable-prefix-caching', **kwargs['enable_prefix_caching'])\n"
        "    parser.add_argument('--disable-sliding-window', **sliding)\n"
        "    parser.add_argument('--max-model-len', **kwargs['max_model_len'])\n"
        "    parser.add_argument('--forced', **kwargs['max_model_len'], action='store_true')\n",
    )
    assert [o.action for o in fx.options] == ["BooleanOptionalAction", "store_true", "value", "store_true"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    parser.add_argument(NAME)\n", "computed option string NAME"),
        ("    parser.add_argument(type=int)\n", "add_argument without option strings"),
        ("    other.add_argument('--x')\n", "add_argument on unknown receiver other"),
        ("    parser.add_argument('--x', **unknown)\n", r"cannot resolve \*\*unknown"),
        ("    parser.add_argument('--x', action=Unknown)\n", "cannot resolve action Unknown"),
        ("    parser.add_argument('--x', action=MyBool)\n", "custom subclass of BooleanOptionalAction"),
        ("    parser.add_argument('--x', action=helper)\n", "unexpected action helper"),
        ("    parser.add_argument('--x', action=lambda: 0)\n", "cannot resolve action lambda"),
        ("    configure(parser)\n", r"the parser is passed to configure\(\)"),
        (
            "    kwargs = get_kwargs(CacheConfig)\n    parser.add_argument('--x', **kwargs['nope'])\n",
            "has no field 'nope'",
        ),
        (
            "    kwargs = get_kwargs(CacheConfig)\n    kwargs['max_model_len']['flags'] = ['-x']\n",
            "unsupported change of flags",
        ),
        ("    kwargs = {}\n    kwargs['x']['action'] = 'store_true'\n", "cannot tell which argument"),
        ("    kwargs = get_kwargs(helper)\n", "get_kwargs of non-class helper"),
        ("    helper.add_cli_args(parser)\n", "add_cli_args on helper"),
    ],
)
def test_constructs_it_does_not_understand_fail(tmp_path: Path, body: str, message: str) -> None:
    header = (
        "import argparse\n"
        "from vllm.config.cache import CacheConfig\n"
        "from vllm.engine.arg_utils import get_kwargs\n"
        "NAME = '--x'\n"
        "class MyBool(argparse.BooleanOptionalAction):\n    pass\n"
        "def helper():\n    pass\n"
        "def add(parser):\n"
    )
    with pytest.raises(ExtractionError, match=message):
        walk(tmp_path, header + body)


def test_known_hook_and_custom_actions_are_accepted(tmp_path: Path) -> None:
    fx = walk(
        tmp_path,
        "import argparse\n"
        "class Store(argparse.Action):\n    pass\n"
        "def add(parser):\n"
        "    current_platform.pre_register_and_update(parser)\n"
        "    parser.add_argument('--x', action=Store)\n",
    )
    assert [(o.strings, o.action) for o in fx.options] == [(["--x"], "custom:vllm.m.Store")]


def test_add_cli_args_without_get_kwargs_is_walked_like_a_function(tmp_path: Path) -> None:
    fx = walk(
        tmp_path,
        "class Extra:\n"
        "    @staticmethod\n"
        "    def add_cli_args(p):\n"
        "        p.add_argument('--extra')\n"
        "        return p\n"
        "def add(parser):\n"
        "    parser = Extra.add_cli_args(parser)\n",
    )
    assert [o.strings for o in fx.options] == [["--extra"]]


# --------------------------------------------------------------------------- dataclass fields as options


def test_customize_cli_kwargs_of_the_class_and_its_bases(tmp_path: Path) -> None:
    fx = walk(
        tmp_path,
        "from dataclasses import dataclass\n"
        "from vllm.entrypoints.common.cli_args import FrontendArgs\n"
        "@dataclass\n"
        "class Args(FrontendArgs):\n"
        "    popped: int = 0\n"
        "    stored: bool = False\n"
        "    @staticmethod\n"
        "    def _customize_cli_kwargs(kw):\n"
        "        kw.pop('popped')\n"
        "        kw['stored']['action'] = 'store_true'\n"
        "        kw['host']['flags'] = ['-H']\n"
        "        return kw\n"
        "def add(parser):\n"
        "    parser = Args.add_cli_args(parser)\n",
    )
    # base fields first, in definition order; the base's customization applies too (-k, removed_field)
    assert [(o.strings, o.action) for o in fx.options] == [
        (["-H", "--host"], "value"),
        (["--enable-log-requests"], "BooleanOptionalAction"),
        (["--hf-token"], "value"),
        (["-k", "--api-key"], "value"),
        (["--stored"], "store_true"),
    ]
    assert {o.origin for o in fx.options} == {"vllm/entrypoints/common/cli_args.py: vllm.m.Args fields"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("        kw['nope']['action'] = 'store_true'\n", "customizes unknown field nope"),
        ("        kw['nope'] = {}\n", "adds an entry 'nope' that is not a field"),
        ("        del kw[NAME]\n", "unsupported del"),
    ],
)
def test_customizations_it_does_not_understand_fail(tmp_path: Path, body: str, message: str) -> None:
    source = (
        "from dataclasses import dataclass\n"
        "from vllm.entrypoints.common.cli_args import FrontendArgs\n"
        "@dataclass\n"
        "class Args(FrontendArgs):\n"
        "    @staticmethod\n"
        "    def _customize_cli_kwargs(kw):\n" + body + "        return kw\n"
        "def add(parser):\n"
        "    parser = Args.add_cli_args(parser)\n"
    )
    with pytest.raises(ExtractionError, match=message):
        walk(tmp_path, source)


def test_field_loop_must_build_dashed_names(tmp_path: Path) -> None:
    files = mini_release()
    path = "vllm/entrypoints/common/cli_args.py"
    files[path] = files[path].replace("key.replace('_', '-')", "key")
    with pytest.raises(ExtractionError, match="field loop no longer builds"):
        FlagExtractor(Wheel(build_wheel(tmp_path, files))).run()


def test_a_dataclass_without_fields_fails(tmp_path: Path) -> None:
    source = (
        "from dataclasses import dataclass\n"
        "@dataclass\n"
        "class Empty:\n"
        "    @classmethod\n"
        "    def add_cli_args(cls, parser):\n"
        "        for key, value in get_kwargs(cls).items():\n"
        "            parser.add_argument(f\"--{key.replace('_', '-')}\", **value)\n"
        "def add(parser):\n"
        "    parser = Empty.add_cli_args(parser)\n"
    )
    with pytest.raises(ExtractionError, match=re.escape("vllm.m.Empty: no dataclass fields found")):
        walk(tmp_path, source)


# --------------------------------------------------------------------------- expansion


def test_expand_negations_and_short_options() -> None:
    fx = FlagExtractor.__new__(FlagExtractor)
    fx.parser_model = ParserModel({"--enable-": "--disable-", "--disable-": "--enable-"})
    fx.options = [
        Option(["-h", "--help"], "help", "argparse"),
        Option(["--enable-x", "-x"], "BooleanOptionalAction", "a:1"),
        Option(["--disable-y"], "BooleanOptionalAction", "a:2"),
        Option(["--z"], "BooleanOptionalAction", "a:3"),
        Option(["--w"], "store_true", "a:4"),
        Option(["model_tag"], "store", "a:5"),
    ]
    assert fx.expand() == [
        "--disable-x",
        "--disable-y",
        "--enable-x",
        "--enable-y",
        "--help",
        "--no-disable-y",
        "--no-enable-x",
        "--no-z",
        "--w",
        "--z",
    ]


def test_an_option_accepted_twice_fails() -> None:
    fx = FlagExtractor.__new__(FlagExtractor)
    fx.parser_model = ParserModel({"--enable-": "--disable-"})
    fx.options = [Option(["--enable-x"], "BooleanOptionalAction", "a:1"), Option(["--disable-x"], "store", "b:2")]
    with pytest.raises(ExtractionError, match=r"option --disable-x registered twice \(a:1 and b:2\)"):
        fx.expand()
