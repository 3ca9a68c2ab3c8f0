"""Every Helm chart a shipped stack installs renders, for real, with the values the plan passes, and every object it
renders is valid — and the harness bites on values that break a chart or objects that break a schema."""

from __future__ import annotations

import copy
import itertools
import json

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.conftest import SHIPPED_STACKS
from tests.helm.charts import (
    NOT_OBTAINABLE,
    VENDORED_CHARTS,
    all_crd_validators,
    crd_validators,
    crds_of,
    planned_charts,
    render_chart,
    validate_rendered,
    vendored,
)
from tests.offline.kube_schema import KUBERNETES_VERSIONS


def test_the_renderer_is_helm_v4():
    # What the tests below prove rests on this being Helm's own engine, not a look-alike.
    assert helm_python.helm_sdk_version().startswith("v4.")


@pytest.mark.parametrize("chart", VENDORED_CHARTS, ids=lambda c: f"{c.chart}-{c.version}")
def test_each_vendored_chart_is_the_version_its_row_names(chart):
    metadata = yaml.safe_load((chart.path / "Chart.yaml").read_text())
    assert (metadata["name"], str(metadata["version"])) == (chart.chart, chart.version)
    source = (chart.path.parent / "SOURCE").read_text()
    for field in ("repo:", "path:", "tag:", "commit:"):
        assert field in source, f"{chart.path.parent}/SOURCE does not name its {field[:-1]}"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_planned_chart_is_vendored_or_known_unobtainable(shipped_plans, stack):
    unknown = [
        chart.key
        for chart in planned_charts(shipped_plans[stack])
        if chart.key not in NOT_OBTAINABLE and chart.key not in {c.key for c in VENDORED_CHARTS}
    ]
    assert not unknown, f"vendor these charts under tests/data/charts and add a VENDORED_CHARTS row: {unknown}"


@pytest.mark.parametrize("chart", VENDORED_CHARTS, ids=lambda c: f"{c.chart}-{c.version}")
def test_each_vendored_charts_crds_are_valid(chart):
    for crd in crds_of(chart):
        validate_rendered(crd, {})


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_planned_charts_render_and_every_object_is_valid(shipped_plans, stack):
    validators = all_crd_validators()
    charts = [c for c in planned_charts(shipped_plans[stack]) if c.key not in NOT_OBTAINABLE]
    assert charts, f"stack {stack} plans no renderable chart"
    # Regions of one stack often pass identical values: render each distinct release once.
    charts = list({(c.key, c.release, c.namespace, json.dumps(c.values, sort_keys=True)): c for c in charts}.values())
    for planned, kube_version in itertools.product(charts, KUBERNETES_VERSIONS):
        rendered = render_chart(
            vendored(planned.key),
            planned.values,
            release=planned.release,
            namespace=planned.namespace,
            kube_version=kube_version,
        )
        assert rendered.objects, f"{planned.resource.name} rendered nothing"
        for obj in rendered.objects:
            try:
                validate_rendered(obj, validators, kube_version)
            except (jsonschema.ValidationError, kubernetes_validate.utils.ValidationError, LookupError) as error:
                name = (obj.get("metadata") or {}).get("name")
                pytest.fail(f"{planned.resource.name} (Kubernetes {kube_version}): {obj['kind']} {name}: {error}")


def _adapter(shipped_plans):
    return next(c for c in planned_charts(shipped_plans["load-balanced"]) if c.chart == "prometheus-adapter")


def test_values_a_chart_rejects_fail_the_render(shipped_plans):
    planned = next(c for c in planned_charts(shipped_plans["single"]) if c.chart == "nvidia-device-plugin")
    render_chart(vendored(planned.key), planned.values, release=planned.release, namespace=planned.namespace)
    values = {**planned.values, "namespace": "kube-system"}  # the chart `fail`s: use the release namespace
    with pytest.raises(helm_python.HelmRenderError):
        render_chart(vendored(planned.key), values, release=planned.release, namespace=planned.namespace)


def test_the_cluster_api_versions_reach_the_templates(shipped_plans):
    planned = _adapter(shipped_plans)
    rendered = render_chart(vendored(planned.key), planned.values, release=planned.release, namespace=planned.namespace)
    assert {o["apiVersion"] for o in rendered.objects if o["kind"] == "APIService"} == {"apiregistration.k8s.io/v1"}


def test_values_that_render_an_invalid_object_fail_validation(shipped_plans):
    planned = _adapter(shipped_plans)
    values = copy.deepcopy(planned.values)
    values["replicas"] = "two"  # renders `replicas: two` into the Deployment
    rendered = render_chart(vendored(planned.key), values, release=planned.release, namespace=planned.namespace)
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_rendered(deployment, {})


def test_a_custom_resource_with_an_unknown_field_fails_its_crds_schema(shipped_plans):
    planned = next(c for c in planned_charts(shipped_plans["load-balanced"]) if c.chart == "kube-prometheus-stack")
    rendered = render_chart(vendored(planned.key), planned.values, release=planned.release, namespace=planned.namespace)
    validators = crd_validators(rendered.crds)
    prometheus = next(o for o in rendered.objects if o["kind"] == "Prometheus")
    validate_rendered(prometheus, validators)
    broken = copy.deepcopy(prometheus)
    broken["spec"]["retentionn"] = "15d"
    with pytest.raises(jsonschema.ValidationError):
        validate_rendered(broken, validators)


def test_hooks_are_dropped_as_chart_v4_drops_them(shipped_plans):
    planned = next(c for c in planned_charts(shipped_plans["load-balanced"]) if c.chart == "kube-prometheus-stack")
    values = copy.deepcopy(planned.values)
    values["prometheusOperator"]["admissionWebhooks"]["enabled"] = True  # its certificate comes from hook Jobs
    rendered = render_chart(vendored(planned.key), values, release=planned.release, namespace=planned.namespace)
    assert any(o["kind"] == "Job" for o in rendered.dropped_hooks)
    assert not any("helm.sh/hook" in (o["metadata"].get("annotations") or {}) for o in rendered.objects)


def test_a_list_renders_as_the_objects_it_holds(shipped_plans):
    # The controller's chart wraps its IngressClass in a `kind: List`; Chart v4 registers the items, not the list.
    planned = next(
        c for c in planned_charts(shipped_plans["load-balanced"]) if c.chart == "aws-load-balancer-controller"
    )
    rendered = render_chart(vendored(planned.key), planned.values, release=planned.release, namespace=planned.namespace)
    assert not [o for o in rendered.objects if o["kind"] == "List"]
    ingress_classes = [o for o in rendered.objects if o["kind"] == "IngressClass"]
    assert [o["spec"]["controller"] for o in ingress_classes] == ["ingress.k8s.aws/alb"]
