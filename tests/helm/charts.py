"""Render the Helm charts a plan installs, for real and offline, with exactly the values the plan passes.

The renderer is Helm itself: ``helm-python-sdk`` binds (ctypes) to ``libhelm_c``, a C ABI over Helm's official Go SDK
(``helm.sh/helm/v4`` v4.2.3, as the library's Go build info says), shipped inside the wheel. ``Chart.render`` is
Helm's template engine with ``helm template`` semantics: no cluster, ``lookup`` returns nothing. The capabilities are
set as a real EKS cluster would answer them (``kube_version``, ``api_versions``: the native render's options, which
the Python wrapper does not expose yet, hence the one call to ``helm_python._native``).

The charts are vendored as test data under ``tests/data/charts/<chart>-<version>/<chart>/`` (each with a ``SOURCE``
file naming repository, path, tag and commit). Adding a chart is vendoring it there and adding one row to
``VENDORED_CHARTS``.

What a ``kubernetes:helm.sh/v4:Chart`` applies is what ``helm template`` renders, minus hook resources (Chart v4 drops
objects annotated ``helm.sh/hook`` unless ``includeHooks`` is set with ``renderYamlToDirectory``, pulumi-kubernetes
4.33.0 release notes, #3284) plus the chart's ``crds/`` files (``skipCrds`` defaults to false).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import yaml

from tests.offline.kube_schema import KUBERNETES_VERSIONS, validate_object
from vllm_infra.offline.redact import redact, whole_numbers
from vllm_infra.offline.runner import Plan, PlannedResource

CHART_DIR = Path(__file__).resolve().parents[1] / "data" / "charts"
CHART_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release")
HOOK_ANNOTATION = "helm.sh/hook"
# Served by every cluster the library supports (kube-aggregator, GA since Kubernetes 1.10) but missing from Helm's
# offline default set (client-go's scheme): without it prometheus-adapter renders its APIServices as the removed
# apiregistration.k8s.io/v1beta1. Chart v4 asks the real cluster, which lists it.
CLUSTER_API_VERSIONS = ("apiregistration.k8s.io/v1",)


class _KubernetesYamlLoader(yaml.CSafeLoader):
    """PyYAML's safe loader, except that a bare ``=`` is the string it is to Kubernetes (Go's YAML 1.2 parser):
    PyYAML resolves it to YAML 1.1's ``value`` tag and fails (the prometheus-operator CRDs list ``- =`` as a label
    matcher operator)."""


_KubernetesYamlLoader.add_constructor("tag:yaml.org,2002:value", yaml.constructor.SafeConstructor.construct_yaml_str)


def load_all(text: str) -> list[Any]:
    """Every non-empty YAML document in ``text``."""
    return [doc for doc in yaml.load_all(text, Loader=_KubernetesYamlLoader) if doc]


@dataclass(frozen=True)
class VendoredChart:
    """One published chart version (repository URL, chart name, version as the plan names them) and where its
    source is vendored, relative to ``tests/data/charts``."""

    repository: str
    chart: str
    version: str
    directory: str

    @property
    def path(self) -> Path:
        """The chart's root directory (the one holding Chart.yaml)."""
        return CHART_DIR / self.directory

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.repository.rstrip("/"), self.chart, self.version)


VENDORED_CHARTS: tuple[VendoredChart, ...] = (
    VendoredChart(
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        "88.5.0",
        "kube-prometheus-stack-88.5.0/kube-prometheus-stack",
    ),
    VendoredChart(
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-adapter",
        "5.3.0",
        "prometheus-adapter-5.3.0/prometheus-adapter",
    ),
    VendoredChart(
        "https://nvidia.github.io/k8s-device-plugin",
        "nvidia-device-plugin",
        "0.17.4",
        "nvidia-device-plugin-0.17.4/nvidia-device-plugin",
    ),
    VendoredChart(
        "https://aws.github.io/eks-charts",
        "aws-load-balancer-controller",
        "3.5.0",
        "aws-load-balancer-controller-3.5.0/aws-load-balancer-controller",
    ),
    VendoredChart(
        "https://kubernetes.github.io/autoscaler",
        "cluster-autoscaler",
        "9.51.0",
        "cluster-autoscaler-9.51.0/cluster-autoscaler",
    ),
    VendoredChart(
        "https://kedacore.github.io/charts",
        "keda",
        "2.20.2",
        "keda-2.20.2/keda",
    ),
)

#: Charts a shipped plan installs whose source at the pinned version could not be had here, with why. Each one is
#: reported, never rendered against another version.
NOT_OBTAINABLE: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class PlannedChart:
    """A chart the plan installs: the resource, the chart reference and the release it renders as."""

    resource: PlannedResource
    repository: str
    chart: str
    version: str
    release: str
    namespace: str
    values: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.repository.rstrip("/"), self.chart, self.version)


def planned_charts(plan: Plan) -> list[PlannedChart]:
    """Every Helm chart of ``plan``, with its values as the engine receives them (secrets as ``"[secret]"``)."""
    charts = []
    for resource in plan.resources:
        if resource.type not in CHART_TYPES:
            continue
        inputs = whole_numbers(redact(resource.inputs))
        repository = (inputs.get("repositoryOpts") or {}).get("repo", "")
        charts.append(
            PlannedChart(
                resource=resource,
                repository=repository,
                chart=inputs["chart"],
                version=inputs["version"],
                # Chart v4's release name defaults to the resource name (pulumi-kubernetes Chart v4 `name` input).
                release=inputs.get("name") or resource.name,
                namespace=inputs.get("namespace") or "default",
                values=inputs.get("values") or {},
            )
        )
    return charts


def vendored(key: tuple[str, str, str]) -> VendoredChart:
    """The vendored chart for ``(repository, chart, version)``; raises LookupError naming what to vendor."""
    for chart in VENDORED_CHARTS:
        if chart.key == key:
            return chart
    raise LookupError(f"no vendored chart for {key}: vendor it under {CHART_DIR} and add a VENDORED_CHARTS row")


def flatten_lists(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` with every list object (``kind: List`` and the like: one whose ``items`` is a list) replaced, depth
    first, by its items — what Chart v4 registers: the provider's YAML parser traverses lists into "naked" resources
    (pulumi-kubernetes provider/pkg/provider/yaml/v2/yaml.go, ``parseUnstructured``: ``obj.IsList()`` →
    ``EachListItem``), as the API server does for ``kubectl apply`` of a list.

    >>> flatten_lists([{"kind": "List", "items": [{"kind": "IngressClass"}]}])
    [{'kind': 'IngressClass'}]
    """
    flat = []
    for obj in objects:
        if isinstance(obj.get("items"), list):
            flat.extend(flatten_lists(obj["items"]))
        else:
            flat.append(obj)
    return flat


@dataclass
class Rendered:
    """What Chart v4 would apply: the templates' objects (hooks dropped), the CRDs, and the hooks it drops."""

    objects: list[dict[str, Any]]
    crds: list[dict[str, Any]]
    dropped_hooks: list[dict[str, Any]]


def render_chart(
    chart: VendoredChart,
    values: dict[str, Any],
    *,
    release: str,
    namespace: str,
    kube_version: str = KUBERNETES_VERSIONS[0],
) -> Rendered:
    """Render ``chart`` with ``values`` as Helm would for an install of ``release`` into ``namespace`` on a cluster
    of ``kube_version`` (default: the oldest the library supports).

    Raises helm_python.HelmError (HelmValuesError, HelmRenderError) when the values break the chart or its
    values.schema.json.
    """
    with helm_python.Chart.load(chart.path) as loaded:
        loaded.validate_schema(values)
        options = {
            "name": release,
            "namespace": namespace,
            "is_install": True,
            "kube_version": f"v{kube_version.removeprefix('v')}",
            "api_versions": list(CLUSTER_API_VERSIONS),
        }
        files = json.loads(
            helm_python._native.call_string("helm_render", loaded._raw(), json.dumps(values), json.dumps(options))
        )
    objects, hooks = [], []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt and other text Helm prints, not applies
        for obj in flatten_lists(load_all(text)):
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            (hooks if HOOK_ANNOTATION in annotations else objects).append(obj)
    return Rendered(objects=objects, crds=crds_of(chart), dropped_hooks=hooks)


def openapi_to_json_schema(schema: dict[str, Any], *, top_level: bool = True) -> dict[str, Any]:
    """A CRD's ``openAPIV3Schema`` as a strict JSON schema: unknown fields are errors wherever the CRD declares the
    object's properties and does not preserve unknown fields (the API server would prune them silently — a value
    the chart meant to set that never takes effect), ``x-kubernetes-int-or-string`` accepts both, ``nullable``
    accepts null.
    """
    out = {key: value for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    for key in ("properties", "patternProperties"):
        if key in out:
            out[key] = {name: openapi_to_json_schema(sub, top_level=False) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = openapi_to_json_schema(out[key], top_level=False)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [openapi_to_json_schema(sub, top_level=False) for sub in out[key]]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if top_level:
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {"type": "object"}  # validated by the API server's ObjectMeta, not the CRD
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_validators(crds: list[dict[str, Any]]) -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """``(apiVersion, kind)`` → a validator, for every served version of every CRD in ``crds``."""
    validators = {}
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            schema = openapi_to_json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


@cache
def _crds_text(directory: Path) -> tuple[str, ...]:
    # CRDs do not depend on values: parsed once per run (the prometheus-operator ones are 4.6 MB of YAML).
    with helm_python.Chart.load(directory) as loaded:
        return tuple(json.dumps(obj) for crd in loaded.crds for obj in load_all(crd["data"]))


def crds_of(chart: VendoredChart) -> list[dict[str, Any]]:
    """The CRDs ``chart`` installs from its (and its subcharts') ``crds/`` directories."""
    return [json.loads(text) for text in _crds_text(chart.path)]


@cache
def all_crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """Validators for the CRDs of every vendored chart: a chart may render custom resources of another's CRDs."""
    return crd_validators([crd for chart in VENDORED_CHARTS for crd in crds_of(chart)])


def validate_rendered(
    obj: dict[str, Any],
    validators: dict[tuple[str, str], jsonschema.protocols.Validator],
    kube_version: str | None = None,
) -> None:
    """Raise if ``obj`` is invalid: custom resources against the (strict) schema of their CRD; built-in kinds with
    kubernetes-validate (strict) at ``kube_version``, or through ``tests.offline.kube_schema.validate_object`` (the
    oldest and newest supported versions) when None."""
    validator = validators.get((obj.get("apiVersion"), obj.get("kind")))
    if validator is not None:
        validator.validate(obj)
    elif kube_version is not None and not _is_custom(obj["apiVersion"]):
        kubernetes_validate.validate(obj, kube_version, strict=True)
    else:
        validate_object(obj)


def _is_custom(api_version: str) -> bool:
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return bool(group) and "." in group and not group.endswith(".k8s.io")
