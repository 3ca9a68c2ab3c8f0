"""Observability: what the engine receives for the PodMonitors, the PrometheusRule and the dashboard ConfigMap, and
that the rendered objects are valid against the upstream CRD schemas and Kubernetes' own."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
import pytest

from tests.observability.promql_checks import REMOVED_METRICS, bracket_problems, is_allowed_series, lexical_metric_names
from tests.offline.kube_schema import validate_object
from tests.plans import container, plan_config, single_model_config
from vllm_infra.components.observability import Observability, ObservabilityArgs, inference_pod_selector
from vllm_infra.config import ModelSpec
from vllm_infra.config.observability import ObservabilitySpec
from vllm_infra.kube.labels import selector_labels
from vllm_infra.observability import VLLM_CONTAINER, VLLM_PORT_NAME, ScrapeTarget, monitored_models, panel_queries
from vllm_infra.offline.render import manifests
from vllm_infra.offline.runner import Plan, run_program
from vllm_infra.offline.stackfile import StackFile
from vllm_infra.vllm_release import unknown_metrics_in_promql

COMPONENT = "vllm-infra:observability:Observability"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

MODELS = [
    ModelSpec(name="llama-8b", model="meta-llama/Llama-3.1-8B-Instruct", weights_gib=15),
    ModelSpec(name="qwen-7b", model="Qwen/Qwen2.5-7B-Instruct", served_model_name="qwen", weights_gib=15),
]
ROUTER = ScrapeTarget(selector_labels("router", "router"), port="metrics", path="/metrics")


def run(spec: ObservabilitySpec | None = None, *, balancer: ScrapeTarget | None = ROUTER, with_namespace=False) -> Plan:
    spec = spec or ObservabilitySpec()

    def program() -> None:
        opts = None
        if with_namespace:
            namespace = k8s.core.v1.Namespace("vllm", metadata={"name": "vllm"})
            opts = pulumi.ResourceOptions(depends_on=[namespace])
        component = Observability(
            "obs",
            ObservabilityArgs(namespace="vllm", models=monitored_models(MODELS, spec), spec=spec, balancer=balancer),
            opts=opts,
        )
        pulumi.export("rule", component.rule_name)
        pulumi.export("dashboard", component.dashboard_config_map_name)

    stack = StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[])
    return run_program(program, stack)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return run()


def objects(plan: Plan, kind: str) -> list[dict]:
    return [obj for obj in manifests(plan) if obj["kind"] == kind]


def by_name(plan: Plan, kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects(plan, kind)}


def dashboard_of(plan: Plan) -> dict:
    (config_map,) = objects(plan, "ConfigMap")
    (text,) = config_map["data"].values()
    return json.loads(text)


def test_children_have_explicit_names_and_are_parented_to_the_component(plan):
    component = plan.one(COMPONENT)
    children = [r for r in plan.resources if r.parent == component.urn]
    assert sorted((r.type, r.name) for r in children) == [
        (CONFIG_MAP, "obs-dashboard"),
        (POD_MONITOR, "obs-balancer"),
        (POD_MONITOR, "obs-vllm"),
        (PROMETHEUS_RULE, "obs-slo"),
    ]
    for child in children:
        assert child.inputs["metadata"]["name"], child.name
    assert plan.outputs == {"rule": "obs-slo", "dashboard": "vllm-obs-dashboard"}


def test_every_rendered_object_is_schema_valid(plan):
    rendered = manifests(plan)
    assert {obj["kind"] for obj in rendered} == {"PodMonitor", "PrometheusRule", "ConfigMap"}
    for obj in rendered:
        validate_object(obj)  # CRDs against the vendored CRD schemas, the ConfigMap with kubernetes-validate


def test_the_dashboard_config_map_is_schema_valid_without_crd_schemas(plan):
    (config_map,) = objects(plan, "ConfigMap")
    validate_object(config_map)


@pytest.mark.parametrize(
    ("kind", "break_it"),
    [
        ("PrometheusRule", lambda spec: spec["groups"][0]["rules"][0].update({"for_": "5m"})),
        ("PrometheusRule", lambda spec: spec["groups"][0]["rules"][0].update({"for": "5 minutes"})),
        ("PodMonitor", lambda spec: spec["podMetricsEndpoints"][0].update({"scheme": "tcp"})),
        ("PodMonitor", lambda spec: spec.update({"pod_metrics_endpoints": []})),
    ],
    ids=["snake-case-key", "bad-duration", "bad-enum", "unknown-field"],
)
def test_a_broken_custom_resource_fails_the_schema_check(plan, kind, break_it):
    broken = copy.deepcopy(objects(plan, kind)[0])
    break_it(broken["spec"])
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken)


def test_vllm_pods_of_every_model_are_scraped_on_http_metrics(plan):
    monitor = by_name(plan, "PodMonitor")["obs-vllm"]
    assert monitor["metadata"]["namespace"] == "vllm"
    assert monitor["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/component": "inference"}
    }
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["vllm"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "http", "path": "/metrics", "scheme": "http", "interval": "30s"}


def test_the_balancer_is_scraped_on_its_own_port_and_only_when_asked(plan):
    monitor = by_name(plan, "PodMonitor")["obs-balancer"]
    assert monitor["spec"]["selector"] == {"matchLabels": selector_labels("router", "router")}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    without = run(balancer=None)
    assert list(by_name(without, "PodMonitor")) == ["obs-vllm"]


def test_prometheus_finds_monitors_and_rules_by_the_release_label():
    plan = run(ObservabilitySpec(prometheusReleaseLabel="prom", scrapeInterval="15s"))
    for kind in ("PodMonitor", "PrometheusRule"):
        for obj in objects(plan, kind):
            assert obj["metadata"]["labels"]["release"] == "prom", obj["metadata"]
    assert by_name(plan, "PodMonitor")["obs-vllm"]["spec"]["podMetricsEndpoints"][0]["interval"] == "15s"


def test_dashboard_config_map_is_in_the_monitoring_namespace_labelled_for_the_sidecar():
    spec = ObservabilitySpec(monitoringNamespace="observability", grafanaDashboardLabel={"grafana_dashboard": "yes"})
    plan = run(spec)
    (config_map,) = objects(plan, "ConfigMap")
    assert config_map["metadata"]["namespace"] == "observability"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "yes"
    assert config_map["metadata"]["name"] == "vllm-obs-dashboard"
    (key,) = config_map["data"]
    assert key.endswith(".json")


def test_dashboard_queries_and_variables_come_from_the_models(plan):
    board = dashboard_of(plan)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert [o["value"] for o in variables["model_name"]["options"]][1:] == [
        "meta-llama/Llama-3.1-8B-Instruct",
        "qwen",
    ]
    assert variables["namespace"]["query"] == "vllm"
    for expr in panel_queries(board):
        assert unknown_metrics_in_promql(expr) == []
        assert all(is_allowed_series(name) for name in lexical_metric_names(expr))
        assert bracket_problems(expr) == []


def test_rendered_rules_carry_the_configured_slos():
    spec = ObservabilitySpec.model_validate(
        {
            "defaultSlo": {"ttftP95Seconds": 1.25, "maxQueueDepth": 9},
            "sloOverrides": {"qwen-7b": {"maxErrorRate": 0.05}},
        }
    )
    (rule,) = objects(run(spec), "PrometheusRule")
    groups = {g["name"]: {r["alert"]: r for r in g["rules"]} for g in rule["spec"]["groups"]}
    assert set(groups) == {"vllm-slo-llama-8b", "vllm-slo-qwen-7b"}
    for rules in groups.values():
        assert rules["VllmTimeToFirstTokenHigh"]["expr"].endswith("> 1.25")
        assert rules["VllmQueueDepthHigh"]["expr"].endswith("> 9")
    assert groups["vllm-slo-llama-8b"]["VllmErrorRateHigh"]["expr"].endswith("> 0.01")
    assert groups["vllm-slo-qwen-7b"]["VllmErrorRateHigh"]["expr"].endswith("> 0.05")
    assert 'model_name="qwen"' in groups["vllm-slo-qwen-7b"]["VllmErrorRateHigh"]["expr"]
    for rules in groups.values():
        for alert in rules.values():
            assert unknown_metrics_in_promql(alert["expr"]) == []


def test_the_guides_removed_metrics_appear_nowhere_in_the_rendered_objects(plan):
    text = json.dumps(manifests(plan))
    for removed in REMOVED_METRICS:
        assert removed not in text


def test_namespace_dependency_reaches_the_children():
    plan = run(with_namespace=True)
    namespace = plan.one("kubernetes:core/v1:Namespace")
    for monitor in plan.by_type(POD_MONITOR) + plan.by_type(PROMETHEUS_RULE):
        assert namespace.urn in monitor.depends_on, monitor.name


def test_a_component_without_models_is_refused():
    with pytest.raises(ValueError, match="at least one model"):
        run_program(
            lambda: Observability("obs", ObservabilityArgs(namespace="vllm", models=[])),
            StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[]),
        )


def test_monitor_and_alerts_match_what_vllm_deployment_creates(tmp_path):
    """The PodMonitor, the restart alert and the model_name matchers rely on facts of ``VllmDeployment``: its pod
    labels, container and port names, Deployment name and ``--served-model-name``. Check them on a real plan."""
    deployment_plan = plan_config(tmp_path, single_model_config(servedModelName="llama-chat"))
    deployment = deployment_plan.one("kubernetes:apps/v1:Deployment")
    pod_labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
    assert inference_pod_selector().items() <= pod_labels.items()
    vllm = container(deployment_plan, container_name=VLLM_CONTAINER)
    assert VLLM_PORT_NAME in {port["name"] for port in vllm["ports"]}
    args = vllm["args"]
    served = args[args.index("--served-model-name") + 1]
    model = ModelSpec(name="llama-8b", model="meta-llama/Llama-3.1-8B-Instruct", served_model_name="llama-chat",
                      weights_gib=15)  # fmt: skip
    (monitored,) = monitored_models([model], ObservabilitySpec())
    assert monitored.served_model_name == served
    # Pods are named after the Deployment, which the restart alert's pod regex starts with.
    assert deployment.inputs["metadata"]["name"] == monitored.name
