"""The pinned vLLM release and its recorded surface (flags and Prometheus metrics).

The fast tests read the shipped ``vllm_infra/data/vllm_surface_0.33.0.json``. The slow
test regenerates it from a fresh PyPI download of the release and compares byte for
byte: that is what proves the shipped file describes the real release.
"""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vllm_infra import vllm_release
from vllm_infra.config.engine_flags import ENGINE_FLAGS
from vllm_infra.vllm_release import (
    VLLM_IMAGE,
    VLLM_IMAGE_REPOSITORY,
    VLLM_PORT,
    VLLM_VERSION,
    is_known_flag,
    is_known_metric,
    known_flags,
    metric_types,
    unknown_metrics_in_promql,
)

ROOT = Path(__file__).resolve().parents[1]
SURFACE = ROOT / "vllm_infra" / "data" / f"vllm_surface_{VLLM_VERSION}.json"

# Flags the library writes on (or keeps off) the `vllm serve` command line: generated from the one flag table.
LIBRARY_FLAGS = sorted({s for row in ENGINE_FLAGS for s in [*row.owned_spellings(), *row.written_spellings()]})

# Gone since the production guide was written (V0 engine metrics).
REMOVED_METRICS = [
    "vllm:gpu_cache_usage_perc",
    "vllm:avg_generation_throughput_toks_per_s",
    "vllm:time_per_output_token_seconds",
]

# What dashboards and alerts use instead, with the type Prometheus scrapes.
CURRENT_METRICS = {
    "vllm:kv_cache_usage_perc": "gauge",
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:request_success_total": "counter",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:request_time_per_output_token_seconds": "histogram",
    "vllm:prompt_tokens_total": "counter",
    "vllm:generation_tokens_total": "counter",
    "vllm:prefix_cache_queries_total": "counter",
    "vllm:prefix_cache_hits_total": "counter",
    "vllm:num_preemptions_total": "counter",
    "vllm:request_queue_time_seconds": "histogram",
}


@pytest.fixture(scope="module")
def surface() -> dict:
    return json.loads(SURFACE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- release pin


def test_release_constants() -> None:
    assert VLLM_VERSION == "0.33.0"
    assert VLLM_IMAGE_REPOSITORY == "vllm/vllm-openai"
    assert VLLM_IMAGE == "vllm/vllm-openai:v0.33.0"
    assert VLLM_PORT == 8000


def test_surface_file_describes_the_pinned_release(surface: dict) -> None:
    assert surface["vllm_version"] == VLLM_VERSION
    assert surface["wheel"].startswith(f"vllm-{VLLM_VERSION}-") and surface["wheel"].endswith(".whl")
    assert len(surface["wheel_sha256"]) == 64 and int(surface["wheel_sha256"], 16) >= 0
    assert set(surface) == {"vllm_version", "wheel", "wheel_sha256", "flags", "metrics", "sources"}


def test_surface_file_is_canonical_json(surface: dict) -> None:
    """Sorted keys and lists, two-space indent, trailing newline: regenerations diff cleanly."""
    text = SURFACE.read_text(encoding="utf-8")
    assert text == json.dumps(surface, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert surface["flags"] == sorted(set(surface["flags"]))
    assert surface["sources"] == sorted(set(surface["sources"]))


def test_surface_records_where_it_comes_from(surface: dict) -> None:
    for path in (
        "vllm/engine/arg_utils.py",
        "vllm/entrypoints/common/cli_args.py",
        "vllm/entrypoints/cli/serve.py",
        "vllm/utils/argparse_utils.py",
        "vllm/v1/metrics/loggers.py",
        "vllm/v1/spec_decode/metrics.py",
    ):
        assert path in surface["sources"]


# --------------------------------------------------------------------------- flags


def test_flags_are_long_options(surface: dict) -> None:
    assert len(surface["flags"]) > 300
    assert all(f.startswith("--") and " " not in f and "=" not in f for f in surface["flags"])
    assert known_flags() == frozenset(surface["flags"])


@pytest.mark.parametrize("flag", LIBRARY_FLAGS)
def test_library_flags_exist(flag: str) -> None:
    assert is_known_flag(flag)


@pytest.mark.parametrize(
    "flag",
    [
        # BooleanOptionalAction gives --no-X ...
        "--no-enable-prefix-caching",
        "--no-trust-remote-code",
        "--no-enable-chunked-prefill",
        # ... and vLLM's EnableDisableAction pairs --enable-X with --disable-X
        "--disable-prefix-caching",
        "--disable-chunked-prefill",
        "--disable-log-requests",
        "--no-enable-log-requests",
        # --disable-X booleans get --enable-X (and --no-disable-X)
        "--enable-sliding-window",
        "--no-disable-sliding-window",
        # the serve sub-command's own options
        "--model",
        "--help",
        "--headless",
        "--api-server-count",
        "--config",
        "--api-key",
    ],
)
def test_accepted_forms(flag: str) -> None:
    assert is_known_flag(flag)


@pytest.mark.parametrize(
    "flag",
    [
        "--no-disable-log-stats",  # store_true: no negative form
        "--enable-log-stats",
        "--no-headless",
        "--no-hf-token",  # bool | str | None is an optional-valued flag, not a boolean
        "--disable-cascade-attention",  # the real flag is --disable-cascade-attn
        "--max_model_len",  # vLLM rewrites it, but the library emits the dashed form
        "--task",  # not a `vllm serve` option
        "--worker-use-ray",  # removed long ago
        "-tp",
        "max-model-len",
    ],
)
def test_rejected_forms(flag: str) -> None:
    assert not is_known_flag(flag)


def test_is_known_flag_accepts_values() -> None:
    assert is_known_flag("--max-model-len=32768")
    assert is_known_flag("--served-model-name=llama")
    assert is_known_flag("--otlp-traces-endpoint=http://collector:4317")
    assert not is_known_flag("--max-model-length=32768")


def test_known_flags_is_loaded_once() -> None:
    assert known_flags() is known_flags()
    assert metric_types() is metric_types()


# --------------------------------------------------------------------------- metrics


def test_metric_types_are_prometheus_types(surface: dict) -> None:
    assert len(surface["metrics"]) > 100
    assert set(surface["metrics"].values()) == {"counter", "gauge", "histogram"}
    assert all(name.startswith("vllm:") for name in surface["metrics"])
    assert all(name.endswith("_total") for name, kind in surface["metrics"].items() if kind == "counter")
    assert dict(metric_types()) == surface["metrics"]


def test_metric_types_is_read_only() -> None:
    with pytest.raises(TypeError):
        metric_types()["vllm:new"] = "gauge"  # type: ignore[index]


@pytest.mark.parametrize("name", REMOVED_METRICS)
def test_removed_metrics_are_absent(name: str) -> None:
    assert name not in metric_types()
    assert not is_known_metric(name)


@pytest.mark.parametrize(("name", "kind"), sorted(CURRENT_METRICS.items()))
def test_current_metrics_are_present(name: str, kind: str) -> None:
    assert metric_types()[name] == kind
    assert is_known_metric(name)


def test_histograms_expose_bucket_sum_count() -> None:
    for suffix in ("_bucket", "_sum", "_count"):
        assert is_known_metric("vllm:time_to_first_token_seconds" + suffix)
        assert is_known_metric("vllm:e2e_request_latency_seconds" + suffix)
    # a histogram whose own name ends in _total keeps it (only counters are munged)
    assert metric_types()["vllm:iteration_tokens_total"] == "histogram"
    assert is_known_metric("vllm:iteration_tokens_total_bucket")


def test_series_that_prometheus_does_not_scrape() -> None:
    assert not is_known_metric("vllm:request_success")  # counters are scraped as _total
    assert not is_known_metric("vllm:request_success_total_total")
    assert not is_known_metric("vllm:kv_cache_usage_perc_sum")  # gauges have no _sum
    assert not is_known_metric("vllm:num_requests_running_total")
    assert not is_known_metric("vllm:time_to_first_token_seconds_total")
    assert not is_known_metric("vllm:request_success_created")
    assert not is_known_metric("")


def test_counter_registered_with_total_suffix_is_exposed_once() -> None:
    # vllm registers "vllm:tool_call_parser_invocations_total"; prometheus_client strips
    # and re-adds _total, so the scraped series is not ..._total_total.
    assert is_known_metric("vllm:tool_call_parser_invocations_total")
    assert not is_known_metric("vllm:tool_call_parser_invocations_total_total")


# --------------------------------------------------------------------------- PromQL


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
        'sum(rate(vllm:request_success_total{finished_reason="stop"}[5m])) by (model_name)',
        "max_over_time(vllm:kv_cache_usage_perc[10m]) > 0.9",
        "vllm:num_requests_waiting > 10 and vllm:num_requests_running >= 1",
        "rate(vllm:e2e_request_latency_seconds_sum[5m]) / rate(vllm:e2e_request_latency_seconds_count[5m])",
        "rate(vllm:spec_decode_num_accepted_tokens_total[5m]) / rate(vllm:spec_decode_num_draft_tokens_total[5m])",
        'up{job="vllm"} == 0',  # no vllm: series at all
    ],
)
def test_promql_with_known_series(expr: str) -> None:
    assert unknown_metrics_in_promql(expr) == []


def test_promql_reports_unknown_series_once_in_order() -> None:
    expr = (
        "avg(vllm:gpu_cache_usage_perc) > 0.9"
        " or rate(vllm:avg_generation_throughput_toks_per_s[5m]) < 1"
        " or histogram_quantile(0.5, rate(vllm:time_per_output_token_seconds_bucket[5m])) > 0.2"
        " or avg(vllm:gpu_cache_usage_perc) > 0.95"
        " or vllm:num_requests_running > 0"
    )
    assert unknown_metrics_in_promql(expr) == [
        "vllm:gpu_cache_usage_perc",
        "vllm:avg_generation_throughput_toks_per_s",
        "vllm:time_per_output_token_seconds_bucket",
    ]


def test_promql_counter_without_total_is_unknown() -> None:
    assert unknown_metrics_in_promql("rate(vllm:request_success[5m])") == ["vllm:request_success"]


def test_promql_token_boundaries() -> None:
    # only tokens that start with vllm: count; a longer identifier ending in "vllm:" does not
    assert unknown_metrics_in_promql("rate(myvllm:foo_total[5m])") == []
    assert unknown_metrics_in_promql("rate(vllm:prompt_tokens_total[5m]) * on() group_left vllm:nope") == ["vllm:nope"]


def test_docstring_examples() -> None:
    result = doctest.testmod(vllm_release, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


# --------------------------------------------------------------------------- extractor
# The extraction rules have fast fixture tests in tests/tools/vllm_surface/; this one proves them on the release.


@pytest.mark.slow
def test_shipped_surface_is_regenerated_byte_for_byte_from_pypi(tmp_path: Path) -> None:
    """Download vllm==0.33.0 from PyPI (~340 MB), re-extract with ``tools.vllm_surface``, compare with the shipped
    file."""
    out = tmp_path / "surface.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.vllm_surface", "--version", VLLM_VERSION, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert out.read_bytes() == SURFACE.read_bytes()
