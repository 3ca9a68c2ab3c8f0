"""What ``tests/helm/charts.py`` uses of helm-python-sdk that the library does not promise to keep: the private
``helm_python._native.call_string("helm_render", ...)`` and ``Chart._raw()``, needed because the public
``Chart.render`` cannot set the capabilities (``kube_version``, ``api_versions``) a real EKS cluster answers with.

An upgrade that changes them fails here, naming the internal, rather than as a ctypes error in the chart tests.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import helm_python
import helm_python._native as native

from tests.helm.charts import VendoredChart, render_chart
from tests.pins import assert_installed_within_declared_range

CHARTS = "tests/helm/charts.py"


def test_the_installed_helm_python_sdk_is_the_version_pyproject_declares():
    assert_installed_within_declared_range(
        "helm-python-sdk", internals="helm_python._native.call_string('helm_render', ...) and Chart._raw()",
        used_in=CHARTS,
    )  # fmt: skip


def test_call_string_takes_the_native_function_name_and_its_arguments():
    assert list(inspect.signature(native.call_string).parameters) == ["func_name", "args"], (
        f"helm_python._native.call_string is now {inspect.signature(native.call_string)}; {CHARTS} calls "
        "call_string('helm_render', handle, values_json, options_json)"
    )


def test_the_native_render_takes_a_chart_handle_values_and_options():
    _restype, argtypes = native.SIGNATURES["helm_render"]
    # handle, values JSON, options JSON in; rendered JSON and error out (the two out-parameters call_string adds)
    assert argtypes == [native.HANDLE, native._STR_IN, native._STR_IN, native._STR_OUT, native._STR_OUT], (
        f"helm_render's C signature changed to {argtypes}; {CHARTS} passes (handle, values, options)"
    )


def test_a_loaded_chart_still_hands_out_its_native_handle():
    assert list(inspect.signature(helm_python.Chart._raw).parameters) == ["self"], (
        f"helm_python.Chart._raw is now {inspect.signature(helm_python.Chart._raw)}; {CHARTS} passes chart._raw() "
        "to the native render"
    )


def test_the_native_render_applies_the_kube_version_and_api_versions_options(tmp_path: Path):
    # The reason for the private call: options the public Chart.render does not pass. If the native render
    # ignored them, the chart tests would render for Helm's default cluster and still pass.
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n"
        '  kubeVersion: "{{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}"\n'
        '  hasAggregator: {{ .Capabilities.APIVersions.Has "apiregistration.k8s.io/v1" | quote }}\n'
    )
    probe = VendoredChart(repository="file://probe", chart="probe", version="0.1.0", directory=str(chart))
    rendered = render_chart(probe, {}, release="probe", namespace="default", kube_version="1.27")
    assert rendered.objects[0]["data"] == {"kubeVersion": "1.27", "hasAggregator": "true"}
