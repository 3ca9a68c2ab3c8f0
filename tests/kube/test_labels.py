"""Labels and metadata follow the Kubernetes recommended labels (``app.kubernetes.io/*``) and the label syntax of
the API reference (Labels and Selectors: "Syntax and character set")."""

from __future__ import annotations

import re

import pytest

from vllm_infra.kube.labels import (
    MODEL_LABEL,
    component_pods_selector,
    inference_pods_selector,
    label_selector,
    object_meta,
    part_of_labels,
    selector_labels,
    standard_labels,
)

# Labels and Selectors, "Syntax and character set": an optional DNS-subdomain prefix (≤ 253) and "/", a name of at
# most 63 characters, alphanumerics at both ends with "-", "_", "." between; a value is empty or the same as a name.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY = re.compile(rf"({_PREFIX}/)?{_NAME}")
LABEL_VALUE = re.compile(rf"({_NAME})?")


def test_inference_pods_are_selected_by_name_instance_and_component():
    assert selector_labels("inference", "llama-8b") == {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": "llama-8b",
        "app.kubernetes.io/component": "inference",
    }


def test_other_components_are_named_after_vllm_and_the_component():
    assert selector_labels("balancer", "vllm-gateway") == {
        "app.kubernetes.io/name": "vllm-balancer",
        "app.kubernetes.io/instance": "vllm-gateway",
        "app.kubernetes.io/component": "balancer",
    }


def test_a_components_pods_selector_leaves_the_instance_out():
    assert component_pods_selector("cache") == {
        "app.kubernetes.io/name": "vllm-cache",
        "app.kubernetes.io/component": "cache",
    }
    assert inference_pods_selector() == {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/component": "inference"}


@pytest.mark.parametrize("model", ["llama-8b", "qwen2-5-72b"])
def test_the_inference_pods_selector_selects_every_models_pods(model):
    pod_labels = standard_labels("inference", model, {MODEL_LABEL: model})
    assert inference_pods_selector().items() <= pod_labels.items()
    assert selector_labels("inference", model).items() <= pod_labels.items()


def test_standard_labels_add_part_of_managed_by_and_the_extras():
    assert standard_labels("cache", "llama-8b", {MODEL_LABEL: "llama-8b"}) == {
        "app.kubernetes.io/name": "vllm-cache",
        "app.kubernetes.io/instance": "llama-8b",
        "app.kubernetes.io/component": "cache",
        "app.kubernetes.io/part-of": "vllm-infra",
        "app.kubernetes.io/managed-by": "pulumi",
        "vllm-infra.io/model": "llama-8b",
    }
    assert part_of_labels() == {"app.kubernetes.io/part-of": "vllm-infra"}


@pytest.mark.parametrize("component", ["inference", "cache", "balancer", "network-policy", "autoscaler"])
def test_every_label_is_legal_kubernetes_syntax(component):
    labels = standard_labels(component, "llama-3-1-8b-instruct", {MODEL_LABEL: "llama-3-1-8b-instruct"})
    bad = {key: value for key, value in labels.items()
           if not (LABEL_KEY.fullmatch(key) and LABEL_VALUE.fullmatch(value))}  # fmt: skip
    assert not bad


def test_the_syntax_check_rejects_illegal_labels():
    assert not LABEL_KEY.fullmatch("vllm-infra.io/-model")
    assert not LABEL_VALUE.fullmatch("x" * 64)
    assert not LABEL_VALUE.fullmatch("llama_8b-")


def test_a_label_selector_matches_labels_and_owns_its_copy():
    labels = {"app.kubernetes.io/name": "vllm"}
    selector = label_selector(labels)
    labels["app.kubernetes.io/component"] = "inference"
    assert selector == {"matchLabels": {"app.kubernetes.io/name": "vllm"}}


def test_object_meta_names_the_object_in_its_namespace():
    labels = {"app.kubernetes.io/name": "vllm"}
    meta = object_meta("llama-8b", "vllm", labels, annotations={"a.example/b": "c"})
    assert meta == {
        "name": "llama-8b",
        "labels": {"app.kubernetes.io/name": "vllm"},
        "annotations": {"a.example/b": "c"},
        "namespace": "vllm",
    }
    assert meta["labels"] is not labels


def test_a_cluster_scoped_object_has_no_namespace():
    assert object_meta("gp3", None, {}) == {"name": "gp3", "labels": {}}
