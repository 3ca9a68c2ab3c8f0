"""Tiny hand-made vLLM source trees, zipped into wheels in ``tmp_path``: the fixtures of the vllm_surface tests.

:func:`mini_release` is the smallest tree the whole extraction accepts: the real release's layout (``serve.py`` ->
``make_arg_parser`` -> ``FrontendArgs`` / ``AsyncEngineArgs``, ``FlexibleArgumentParser`` with
``EnableDisableAction``, ``PrometheusStatLogger`` and the KV-offload metadata), one instance of each construct,
padded with plain options and gauges to the health thresholds (100 options, 30 metrics). Tests replace or drop
single files to break one rule at a time; :func:`build_wheel` writes any tree as a source directory and zips it.
"""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

from tools.vllm_surface.sources import Wheel

PAD_OPTIONS = 100  # FlagExtractor.run: fewer than 100 `vllm serve` options is an error
PAD_METRICS = 30  # MetricExtractor.run: fewer than 30 metrics is an error


def build_wheel(tmp_path: Path, files: dict[str, str], version: str = "0.0.1") -> Path:
    """Write ``files`` (wheel path -> source, dedented) under ``tmp_path/tree`` and zip them as a wheel.

    A ``vllm-<version>.dist-info/METADATA`` is added unless ``files`` has one (or ``version`` is None).
    """
    tree = tmp_path / "tree"
    files = {name: textwrap.dedent(text) for name, text in files.items()}
    if version is not None and not any(n.endswith(".dist-info/METADATA") for n in files):
        files[f"vllm-{version}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n"
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text, encoding="utf-8")
    wheel = tmp_path / f"vllm-{version or '0'}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())
    return wheel


def open_wheel(tmp_path: Path, files: dict[str, str]) -> Wheel:
    """:class:`Wheel` of ``files`` with the ``vllm/__init__.py`` package marker added."""
    return Wheel(build_wheel(tmp_path, {"vllm/__init__.py": "", **files}))


def packages(*paths: str) -> dict[str, str]:
    """Empty ``__init__.py`` files for every package directory above ``paths``."""
    out: dict[str, str] = {}
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out["/".join(parts[:i]) + "/__init__.py"] = ""
    return out


ARGPARSE_UTILS = """\
from argparse import ArgumentParser, BooleanOptionalAction


class EnableDisableAction(BooleanOptionalAction):
    _inverse_prefixes = {"--enable-": "--disable-", "--disable-": "--enable-"}

    def __init__(self, option_strings, dest, *args, **kwargs):
        super().__init__(option_strings, dest, *args, **kwargs)
        inverses = [
            inverse + opt.removeprefix(prefix)
            for opt in option_strings
            for prefix, inverse in self._inverse_prefixes.items()
            if opt.startswith(prefix)
        ]
        self.option_strings = [*self.option_strings, *inverses]


class FlexibleArgumentParser(ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", BooleanOptionalAction, EnableDisableAction)
"""

CLI_MAIN = """\
import vllm.entrypoints.cli.serve
from vllm.utils.argparse_utils import FlexibleArgumentParser


def main():
    parser = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    for cmd in vllm.entrypoints.cli.serve.cmd_init():
        cmd.subparser_init(subparsers)
"""

SERVE = """\
from vllm.entrypoints.common.cli_args import make_arg_parser


class ServeSubcommand:
    name = "serve"

    def subparser_init(self, subparsers):
        serve_parser = subparsers.add_parser(self.name, help="Launch the server.")
        serve_parser = make_arg_parser(serve_parser)
        return serve_parser


def cmd_init():
    return [ServeSubcommand()]
"""


def cli_args(pad: int = PAD_OPTIONS) -> str:
    """``vllm/entrypoints/common/cli_args.py`` with ``pad`` plain ``--pad-N`` options in ``make_arg_parser``."""
    padding = "".join(f'    parser.add_argument("--pad-{i}", type=int)\n' for i in range(pad))
    return f"""\
from dataclasses import dataclass

from vllm.engine.arg_utils import AsyncEngineArgs


@dataclass
class FrontendArgs:
    host: str | None = None
    enable_log_requests: bool = False
    hf_token: bool | str | None = None
    api_key: list[str] | None = None
    removed_field: int = 0

    @staticmethod
    def _customize_cli_kwargs(frontend_kwargs):
        frontend_kwargs["api_key"]["flags"] = ["-k"]
        del frontend_kwargs["removed_field"]
        return frontend_kwargs

    @classmethod
    def add_cli_args(cls, parser):
        from vllm.engine.arg_utils import get_kwargs

        frontend_kwargs = get_kwargs(cls)
        frontend_kwargs = cls._customize_cli_kwargs(frontend_kwargs)
        frontend_group = parser.add_argument_group(title="Frontend")
        for key, value in frontend_kwargs.items():
            extra_flags = value.pop("flags", [])
            frontend_group.add_argument(*extra_flags, f"--{{key.replace('_', '-')}}", **value)
        return parser


def make_arg_parser(parser):
    parser.add_argument("model_tag", nargs="?")
    parser.add_argument("--headless", action="store_true")
{padding}    parser = FrontendArgs.add_cli_args(parser)
    parser = AsyncEngineArgs.add_cli_args(parser)
    return parser
"""


ARG_UTILS = """\
import argparse
from dataclasses import dataclass

from vllm.config.cache import CacheConfig


def get_kwargs(cls):
    return {}


@dataclass
class EngineArgs:
    model: str = "facebook/opt-125m"

    @staticmethod
    def add_cli_args(parser):
        parser.add_argument("--model", type=str)
        cache_kwargs = get_kwargs(CacheConfig)
        cache_group = parser.add_argument_group(title="CacheConfig")
        cache_group.add_argument("--enable-prefix-caching", **cache_kwargs["enable_prefix_caching"])
        cache_group.add_argument("--disable-sliding-window", **cache_kwargs["disable_sliding_window"])
        cache_group.add_argument("--max-model-len", "-m", **cache_kwargs["max_model_len"])
        parser.add_argument("--disable-log-stats", action="store_true")
        return parser


@dataclass
class AsyncEngineArgs(EngineArgs):
    @staticmethod
    def add_cli_args(parser):
        parser = EngineArgs.add_cli_args(parser)
        parser.add_argument("--trust-remote-code", action=argparse.BooleanOptionalAction)
        return parser
"""

CONFIG_UTILS = """\
def config(cls):
    return cls
"""

CACHE_CONFIG = """\
from typing import Optional

from vllm.config.utils import config


@config
class CacheConfig:
    enable_prefix_caching: Optional[bool] = None
    disable_sliding_window: bool = False
    max_model_len: int | None = None
"""

PLATFORM = """\
class Platform:
    @classmethod
    def pre_register_and_update(cls, parser=None):
        pass
"""

KV_OFFLOAD_BASE = """\
from dataclasses import dataclass


@dataclass
class OffloadingMetricMetadata:
    documentation: str


class OffloadingCounterMetadata(OffloadingMetricMetadata):
    pass


class OffloadingGaugeMetadata(OffloadingMetricMetadata):
    pass


class OffloadingHistogramMetadata(OffloadingMetricMetadata):
    pass
"""


def loggers(pad: int = PAD_METRICS) -> str:
    """``vllm/v1/metrics/loggers.py`` registering a counter, a histogram and ``pad`` gauges ``vllm:pad_N``."""
    names = ", ".join(f'"vllm:pad_{i}"' for i in range(pad))
    return f"""\
from prometheus_client import Counter, Gauge, Histogram


class PrometheusStatLogger:
    _gauge_cls = Gauge
    _counter_cls = Counter
    _histogram_cls = Histogram

    def __init__(self):
        self._counter_cls(name="vllm:request_success", documentation="")
        self._histogram_cls(name="vllm:time_to_first_token_seconds", documentation="")
        for name in [{names}]:
            self._gauge_cls(name=name, documentation="")
"""


SPEC_DECODE_METRICS = """\
import prometheus_client


class SpecDecodingProm:
    _counter_cls = prometheus_client.Counter

    def __init__(self):
        self._counter_cls(name="vllm:spec_decode_num_drafts_total", documentation="")
"""

OFFLOADING_METRICS = """\
from vllm.v1.kv_offload.base import OffloadingCounterMetadata


class OffloadPromMetrics:
    _counter_cls = None

    def _create_metric(self, metric_name, metadata):
        kwargs = {"name": metric_name, "documentation": metadata.documentation}
        metric_cls = self._counter_cls
        return metric_cls(**kwargs)


def definitions():
    return {"vllm:kv_offload_bytes": OffloadingCounterMetadata(documentation="")}
"""

KVCR_MANAGER = """\
from kvcr import DURATION_METRIC

from vllm.v1.kv_offload.base import OffloadingHistogramMetadata


def _vllm_metric_name(name):
    return "vllm:" + name


def _kvcr_metric_definitions():
    return {_vllm_metric_name(DURATION_METRIC): OffloadingHistogramMetadata(documentation="")}
"""

BENCHMARK = """\
def is_spec_decode_line(line):
    return line.startswith("vllm:spec_decode")
"""


def mini_release(pad_options: int = PAD_OPTIONS, pad_metrics: int = PAD_METRICS) -> dict[str, str]:
    """The smallest vLLM source tree the whole extraction accepts (wheel path -> source)."""
    files = {
        "vllm/utils/argparse_utils.py": ARGPARSE_UTILS,
        "vllm/entrypoints/cli/main.py": CLI_MAIN,
        "vllm/entrypoints/cli/serve.py": SERVE,
        "vllm/entrypoints/common/cli_args.py": cli_args(pad_options),
        "vllm/engine/arg_utils.py": ARG_UTILS,
        "vllm/config/utils.py": CONFIG_UTILS,
        "vllm/config/cache.py": CACHE_CONFIG,
        "vllm/platforms/interface.py": PLATFORM,
        "vllm/v1/kv_offload/base.py": KV_OFFLOAD_BASE,
        "vllm/v1/metrics/loggers.py": loggers(pad_metrics),
        "vllm/v1/spec_decode/metrics.py": SPEC_DECODE_METRICS,
        "vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py": OFFLOADING_METRICS,
        "vllm/v1/kv_offload/tiering/kvcr/manager.py": KVCR_MANAGER,
        "vllm/benchmarks/serve.py": BENCHMARK,
    }
    return {**packages(*files), **files}
