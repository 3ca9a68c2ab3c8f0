"""``group_version_kind`` reads Pulumi's Kubernetes type tokens (``kubernetes:<group>/<version>:<Kind>``, the legacy
core group spelled ``core``) and a custom resource's own ``apiVersion``/``kind``."""

from __future__ import annotations

import pytest

from vllm_infra.kube.gvk import group_version_kind


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("kubernetes:apps/v1:Deployment", ("apps", "v1", "Deployment")),
        ("kubernetes:core/v1:Service", ("core", "v1", "Service")),
        ("kubernetes:policy/v1:PodDisruptionBudget", ("policy", "v1", "PodDisruptionBudget")),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", ("networking.k8s.io", "v1", "NetworkPolicy")),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", ("autoscaling", "v2", "HorizontalPodAutoscaler")),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", ("monitoring.coreos.com", "v1", "ServiceMonitor")),
    ],
)
def test_a_kubernetes_type_token_gives_its_group_version_and_kind(token, expected):
    assert group_version_kind(token) == expected


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject"}, ("keda.sh", "v1alpha1", "ScaledObject")),
        # "v1" alone is the legacy core group.
        ({"apiVersion": "v1", "kind": "ConfigMap"}, ("core", "v1", "ConfigMap")),
        ({"kind": "PodMonitor"}, ("monitoring.coreos.com", "v1", "PodMonitor")),
    ],
)
def test_a_custom_resources_own_api_version_and_kind_take_precedence(inputs, expected):
    assert group_version_kind("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", inputs) == expected


@pytest.mark.parametrize(
    "token",
    [
        "aws:eks/cluster:Cluster",
        "vllm-infra:vllm:VllmDeployment",
        "pulumi:providers:kubernetes",
        "kubernetes:",
        "kubernetes:apps/v1",
    ],
)
def test_anything_else_is_not_a_kubernetes_resource(token):
    assert group_version_kind(token) is None
