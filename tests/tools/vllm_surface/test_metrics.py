"""tools.vllm_surface.metrics: every rule that finds a Prometheus metric and the name it is scraped under."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import PAD_METRICS, build_wheel, mini_release, open_wheel
from tools.vllm_surface.errors import ExtractionError
from tools.vllm_surface.metrics import MetricExtractor
from tools.vllm_surface.sources import Wheel

PADDING = {f"vllm:pad_{i}": "gauge" for i in range(PAD_METRICS)}


def scan(tmp_path: Path, source: str, extra: dict[str, str] | None = None) -> MetricExtractor:
    """Scan ``vllm/m.py`` alone (no whole-wheel checks)."""
    wheel = open_wheel(tmp_path, {"vllm/m.py": source, **(extra or {})})
    mx = MetricExtractor(wheel)
    mx.scan(wheel.module_at("vllm/m.py", record=False))
    return mx


def run(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    return MetricExtractor(Wheel(build_wheel(tmp_path, files))).run()


# --------------------------------------------------------------------------- the whole wheel


def test_mini_release_metrics(tmp_path: Path) -> None:
    assert run(tmp_path, mini_release()) == {
        "vllm:request_success_total": "counter",  # registered without _total
        "vllm:spec_decode_num_drafts_total": "counter",  # registered with _total: exposed once
        "vllm:time_to_first_token_seconds": "histogram",
        "vllm:kv_offload_bytes_total": "counter",  # an OffloadingCounterMetadata definition
        **PADDING,
        # the kvcr definitions' names are external constants: allowlisted, not listed
    }


def test_sources_are_the_files_that_registered_or_named_metrics(tmp_path: Path) -> None:
    wheel = Wheel(build_wheel(tmp_path, mini_release()))
    MetricExtractor(wheel).run()
    assert wheel.sources == {
        "vllm/v1/kv_offload/base.py",
        "vllm/v1/metrics/loggers.py",
        "vllm/v1/spec_decode/metrics.py",
        "vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py",
    }


def test_fewer_than_30_metrics_fail(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="only 29 metrics found"):
        run(tmp_path, mini_release(pad_metrics=PAD_METRICS - 5))  # the release itself registers 4


@pytest.mark.parametrize(
    ("path", "site"),
    [
        ("vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py", "_create_metric"),
        ("vllm/v1/kv_offload/tiering/kvcr/manager.py", "_kvcr_metric_definitions"),
    ],
)
def test_allowlisted_sites_that_disappear_fail(tmp_path: Path, path: str, site: str) -> None:
    files = mini_release(pad_metrics=PAD_METRICS + 1)
    if site == "_create_metric":  # keep the file's resolvable definitions, drop the pass-through helper
        files[path] = (
            files[path].split("class OffloadPromMetrics")[0]
            + "def definitions"
            + files[path].split("def definitions")[1]
        )
    else:
        files[path] = ""
    assert site not in files[path]
    with pytest.raises(ExtractionError, match=f"reviewed .* site \\('{path}', '{site}'\\) no longer exists"):
        run(tmp_path, files)


def test_each_expected_file_must_register(tmp_path: Path) -> None:
    files = mini_release(pad_metrics=PAD_METRICS + 1)
    files["vllm/v1/spec_decode/metrics.py"] = ""
    with pytest.raises(ExtractionError, match=re.escape("vllm/v1/spec_decode/metrics.py: registered no metric")):
        run(tmp_path, files)


@pytest.mark.parametrize(
    ("path", "replace", "message"),
    [
        (
            "vllm/v1/kv_offload/base.py",
            ("class OffloadingGaugeMetadata", "class OffloadingSummaryMetadata"),
            "metric metadata classes are",
        ),
        (
            "vllm/v1/metrics/loggers.py",
            ("class PrometheusStatLogger", "PrometheusStatLogger = None\n\n\nclass Logger"),
            "PrometheusStatLogger not found",
        ),
        ("vllm/v1/metrics/loggers.py", ("    _gauge_cls = Gauge\n", ""), "PrometheusStatLogger._gauge_cls not found"),
        (
            "vllm/v1/metrics/loggers.py",
            ("_gauge_cls = Gauge", "_gauge_cls = Counter"),
            "expected a prometheus_client gauge",
        ),
    ],
)
def test_convention_changes_fail(tmp_path: Path, path: str, replace: tuple[str, str], message: str) -> None:
    files = mini_release()
    assert replace[0] in files[path]
    files[path] = files[path].replace(*replace)
    with pytest.raises(ExtractionError, match=message):
        run(tmp_path, files)


def test_a_vllm_string_that_matches_no_metric_fails(tmp_path: Path) -> None:
    files = mini_release()
    files["vllm/elsewhere.py"] = 'QUERY = "rate(vllm:forgotten_total[5m])"\nNAME = "vllm:forgotten"\n'
    with pytest.raises(ExtractionError, match=r"vllm:forgotten  \(vllm/elsewhere.py\)"):
        run(tmp_path, files)


def test_strings_that_name_scraped_series_are_complete(tmp_path: Path) -> None:
    files = mini_release()
    files["vllm/elsewhere.py"] = (
        'SERIES = ["vllm:request_success", "vllm:request_success_total", "vllm:time_to_first_token_seconds_bucket",\n'
        '          "vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count",\n'
        '          "vllm:spec_decode", "vllm:diffusion"]  # the last two are reviewed non-metric prefixes\n'
        'SCOPE = "vllm::internal"  # a C++ op namespace, not a metric name\n'
    )
    assert "vllm:request_success_total" in run(tmp_path, files)


# --------------------------------------------------------------------------- constructors


def test_resolves_metric_names_and_munges_counters(tmp_path: Path) -> None:
    mx = scan(
        tmp_path,
        "import prometheus_client\n"
        "import prometheus_client as prom\n"
        "from prometheus_client import Counter, Gauge as G\n"
        "from vllm.names import Names\n"
        'PREFIX = "vllm:"\n'
        "class P:\n"
        "    _histogram_cls = prometheus_client.Histogram\n"
        "    def __init__(self, flag):\n"
        '        Counter(name="vllm:requests_total", documentation="")\n'
        "        Counter(Names.HITS, documentation='')\n"
        '        name = PREFIX + "running" if flag else "vllm:waiting"\n'
        "        G(name=name, documentation='')\n"
        "        prom.Gauge('vllm:module_attribute', '')\n"
        "        for n, doc in [('vllm:a_seconds', ''), ('vllm:b_total', '')]:\n"
        "            self._histogram_cls(name=n, documentation=doc)\n",
        {"vllm/names.py": 'class Names:\n    HITS = "vllm:hits"\n'},
    )
    assert mx.exposed() == {
        "vllm:requests_total": "counter",
        "vllm:hits_total": "counter",
        "vllm:running": "gauge",
        "vllm:waiting": "gauge",
        "vllm:module_attribute": "gauge",
        "vllm:a_seconds": "histogram",
        "vllm:b_total": "histogram",  # only counters are munged
    }
    assert mx.origin["vllm:hits"] == "vllm/m.py:10"
    assert mx.wheel.sources == {"vllm/m.py", "vllm/names.py"}


def test_offloading_metadata_as_dict_values_and_subscript_assignments(tmp_path: Path) -> None:
    mx = scan(
        tmp_path,
        "from vllm.v1.kv_offload.base import OffloadingGaugeMetadata, OffloadingHistogramMetadata\n"
        "DEFS = {'vllm:offload_queue': OffloadingGaugeMetadata(documentation='')}\n"
        "def more(defs):\n"
        "    defs['vllm:offload_seconds'] = OffloadingHistogramMetadata(documentation='')\n",
    )
    assert mx.metrics == {"vllm:offload_queue": "gauge", "vllm:offload_seconds": "histogram"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from prometheus_client import Gauge\ndef make(name):\n    return Gauge(name=name, documentation='')\n",
            "cannot resolve the metric name",
        ),
        (
            "from prometheus_client import Gauge\ndef make(**kw):\n    return Gauge(**kw)\n",
            r"cannot resolve the metric name \(name passed through \*\*kwargs\)",
        ),
        (
            "class P:\n    _gauge_cls = None\n"
            "    def f(self, kw):\n        cls = self._gauge_cls\n        cls(name='vllm:x')\n",
            "passed through",
        ),
        ("from prometheus_client import Gauge\nGauge('x', '', namespace='vllm')\n", "namespace/subsystem/unit"),
        ("from prometheus_client import Summary\nSummary('vllm:x', '')\n", "unsupported type summary"),
        (
            "from prometheus_client import Counter, Gauge\nCounter('vllm:x', '')\nGauge('vllm:x', '')\n",
            r"registered as counter \(vllm/m.py:2\) and gauge \(vllm/m.py:3\)",
        ),
        (
            "from vllm.v1.kv_offload.base import OffloadingGaugeMetadata\n"
            "meta = OffloadingGaugeMetadata(documentation='')\n",
            "outside a name -> definition mapping",
        ),
        (
            "from vllm.v1.kv_offload.base import OffloadingGaugeMetadata\n"
            "def f(n):\n    return {n: OffloadingGaugeMetadata()}\n",
            "cannot resolve the metric name",
        ),
    ],
)
def test_constructs_it_does_not_understand_fail(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(ExtractionError, match=message):
        scan(tmp_path, source)


def test_a_file_without_metrics_is_not_a_source(tmp_path: Path) -> None:
    mx = scan(tmp_path, "import prometheus_client\nprometheus_client.start_http_server(8000)\n")
    assert mx.metrics == {} and mx.wheel.sources == set()


# --------------------------------------------------------------------------- exposed names


def test_exposed_rejects_invalid_names_and_collisions() -> None:
    mx = MetricExtractor.__new__(MetricExtractor)
    mx.metrics, mx.origin = {"vllm:bad-name": "gauge"}, {"vllm:bad-name": "m.py:1"}
    with pytest.raises(ExtractionError, match=re.escape("m.py:1: invalid metric name 'vllm:bad-name'")):
        mx.exposed()
    mx.metrics = {"vllm:x": "counter", "vllm:x_total": "histogram"}
    mx.origin = {"vllm:x": "m.py:1", "vllm:x_total": "m.py:2"}
    with pytest.raises(ExtractionError, match="exposed name vllm:x_total is both counter and histogram"):
        mx.exposed()
    mx.metrics = {"vllm:y": "counter", "vllm:y_total": "counter"}
    mx.origin = {"vllm:y": "m.py:1", "vllm:y_total": "m.py:2"}
    assert mx.exposed() == {"vllm:y_total": "counter"}
