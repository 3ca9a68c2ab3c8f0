"""Reading Kubernetes objects as the engine receives them: kinds, pod templates, images, selectors, vLLM flags.

The rules only ever read; everything here tolerates missing fields, floats where Kubernetes has integers, and
preview-time unknowns (an unknown value is never judged — it is reported by nobody rather than wrongly).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from vllm_infra.kube.gvk import group_version_kind
from vllm_infra.policies.model import Resource
from vllm_infra.vllm_release import VLLM_IMAGE_REPOSITORY

DEFAULT_NAMESPACE = "default"

# Sentinels that stand for values not known until apply: the Python SDK's (rpc.UNKNOWN) and the CrossGuard SDK's
# typed ones (pulumi_policy/proxy.py), so the rules behave the same offline and inside the policy pack.
UNKNOWN_SENTINELS = frozenset(
    {
        rpc.UNKNOWN,
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)

# Where each workload kind keeps its pod template (path of keys from the object's root to the PodSpec).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    kind: (*path[:-1], "metadata", "labels") if kind != "Pod" else ("metadata", "labels")
    for kind, path in POD_SPEC_PATHS.items()
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
_SERVER_COMMAND = re.compile(r"\bvllm\s+serve\b|vllm\.entrypoints\.openai\.api_server")


def is_unknown(value: Any) -> bool:
    """True for a value only known after apply (preview), which no rule should judge: a sentinel string or the
    SDK's ``pulumi.output.Unknown`` placeholder."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def unwrap(value: Any) -> Any:
    """The value inside a Pulumi secret marker (or the value itself): for rules that read, not judge, secrecy."""
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def dig(value: Any, *path: str | int) -> Any:
    """``value[path[0]][path[1]]...`` or ``None`` when any step is missing, not a container, or unknown."""
    for step in path:
        value = unwrap(value)
        if isinstance(step, int):
            if not isinstance(value, Sequence) or isinstance(value, str) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return None
            value = value[step]
    value = unwrap(value)
    return None if is_unknown(value) else value


def as_int(value: Any) -> int | None:
    """An integer from the engine's number (``4.0``), a string (``"4"``), or ``None`` if it is not one."""
    value = unwrap(value)
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None


def kind_of(resource: Resource) -> str:
    """The Kubernetes kind (``inputs.kind`` for a ``CustomResource``, else the type token's); ``""`` for anything
    else."""
    gvk = group_version_kind(resource.type, resource.inputs)
    return gvk[2] if gvk else ""


def api_group_of(resource: Resource) -> str:
    """The API group (``apps``, ``keda.sh``; ``core`` for the legacy group); ``""`` for anything else."""
    gvk = group_version_kind(resource.type, resource.inputs)
    return gvk[0] if gvk else ""


def is_kubernetes(resource: Resource) -> bool:
    """True for resources of the Kubernetes provider (typed or ``CustomResource``)."""
    return resource.type.startswith("kubernetes:")


def namespace_of(resource: Resource) -> str | None:
    """``metadata.namespace`` (``default`` when unset); ``None`` when it is unknown at preview."""
    meta = dig(resource.inputs, "metadata")
    raw = unwrap(meta.get("namespace")) if isinstance(meta, Mapping) else None
    if is_unknown(raw):
        return None
    return raw if isinstance(raw, str) and raw else DEFAULT_NAMESPACE


def object_name(resource: Resource) -> str:
    """``metadata.name`` or, when it is not set (auto-named), the logical name."""
    name = dig(resource.inputs, "metadata", "name")
    return name if isinstance(name, str) and name else resource.name


def labels_of(resource: Resource) -> dict[str, str]:
    """``metadata.labels`` as a plain dict."""
    labels = dig(resource.inputs, "metadata", "labels")
    return dict(labels) if isinstance(labels, Mapping) else {}


def pod_spec(resource: Resource) -> Mapping[str, Any] | None:
    """The PodSpec of a workload (Deployment, StatefulSet, Job, CronJob, Pod, ...), or ``None``."""
    if not is_kubernetes(resource):
        return None
    path = POD_SPEC_PATHS.get(kind_of(resource))
    spec = dig(resource.inputs, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def pod_labels(resource: Resource) -> dict[str, str] | None:
    """The labels a workload's pods get (its template's labels), or ``None`` for non-workloads."""
    path = POD_LABEL_PATHS.get(kind_of(resource))
    if path is None or not is_kubernetes(resource):
        return None
    labels = dig(resource.inputs, *path)
    return dict(labels) if isinstance(labels, Mapping) else {}


@dataclass(frozen=True)
class Container:
    """A container of a pod spec with where it sits (``spec.template.spec.containers[0]``) for messages."""

    path: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The container's ``name`` (``?`` when missing or unknown)."""
        name = dig(self.spec, "name")
        return name if isinstance(name, str) else "?"

    @property
    def image(self) -> Any:
        """The ``image`` value (``None`` when missing or unknown)."""
        return dig(self.spec, "image")

    def strings(self, key: str) -> list[str]:
        """The ``command`` or ``args`` list as strings (unknown or non-string items are skipped)."""
        values = dig(self.spec, key)
        if not isinstance(values, Sequence) or isinstance(values, str):
            return []
        return [v for v in (unwrap(x) for x in values) if isinstance(v, str) and not is_unknown(v)]

    @property
    def argv(self) -> list[str]:
        """``command`` + ``args``; a shell script (``sh -c "..."``) is split into words so its flags can be read."""
        items = self.strings("command") + self.strings("args")
        for index, item in enumerate(items[:-1]):
            if item == "-c" and index > 0 and items[index - 1].rsplit("/", 1)[-1] in _SHELLS:
                try:
                    return items[: index + 1] + shlex.split(items[index + 1]) + items[index + 2 :]
                except ValueError:
                    return items
        return items

    @property
    def runs_vllm_server(self) -> bool:
        """True when the container runs the OpenAI server: the image's own entrypoint (``vllm serve``, i.e. no
        ``command`` override) or a command that starts it. A pre-warm Job that runs ``python3 -c`` in the vLLM
        image is not a server."""
        if not self.strings("command"):
            return True
        return _SERVER_COMMAND.search(" ".join(self.argv)) is not None

    def env(self) -> list[Mapping[str, Any]]:
        """The ``env`` entries that are mappings."""
        values = dig(self.spec, "env")
        if not isinstance(values, Sequence) or isinstance(values, str):
            return []
        return [entry for entry in (unwrap(e) for e in values) if isinstance(entry, Mapping)]


def containers(resource: Resource) -> Iterator[Container]:
    """Every container (init, regular, ephemeral) of a workload's pod spec, with its path for messages."""
    spec = pod_spec(resource)
    if spec is None:
        return
    prefix = ".".join(POD_SPEC_PATHS[kind_of(resource)])
    for list_name in CONTAINER_LISTS:
        items = dig(spec, list_name)
        if not isinstance(items, Sequence) or isinstance(items, str):
            continue
        for index, item in enumerate(items):
            item = unwrap(item)
            if isinstance(item, Mapping):
                yield Container(f"{prefix}.{list_name}[{index}]", item)


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way the container runtime reads it."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """A digest, or a tag other than ``latest``."""
        return bool(self.digest) or (bool(self.tag) and self.tag != "latest")


def parse_image(image: str) -> ImageRef:
    """Split ``[registry[:port]/]path[:tag][@digest]``; a ``:`` before the last ``/`` is a registry port, not a tag.

    >>> parse_image("localhost:5000/vllm/vllm-openai:v0.33.0")
    ImageRef(repository='localhost:5000/vllm/vllm-openai', tag='v0.33.0', digest=None)
    >>> parse_image("nginx").pinned
    False
    """
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
    else:
        repository, tag = rest, None
    return ImageRef(repository, tag or None, digest or None)


def is_vllm_image(image: Any) -> bool:
    """True for the vLLM OpenAI server image from any registry or mirror (``.../vllm/vllm-openai``)."""
    if not isinstance(image, str):
        return False
    repository = parse_image(image).repository
    return repository == VLLM_IMAGE_REPOSITORY or repository.endswith("/" + VLLM_IMAGE_REPOSITORY)


def vllm_containers(resource: Resource) -> Iterator[Container]:
    """The containers of a workload that run the vLLM OpenAI server (image ``vllm/vllm-openai``, serving)."""
    return (c for c in containers(resource) if is_vllm_image(c.image) and c.runs_vllm_server)


# vLLM's argument parser accepts these short aliases, and normalises underscores in long flags to dashes.
FLAG_ALIASES = {"-tp": "--tensor-parallel-size", "-pp": "--pipeline-parallel-size", "-dp": "--data-parallel-size"}


def parse_flags(argv: Sequence[str]) -> dict[str, str | None]:
    """The ``--flag value`` / ``--flag=value`` / ``--switch`` options of a command line; the last one wins.

    >>> parse_flags(["org/m", "--tensor_parallel_size=2", "-pp", "2", "--enforce-eager"])
    {'--tensor-parallel-size': '2', '--pipeline-parallel-size': '2', '--enforce-eager': None}
    """
    flags: dict[str, str | None] = {}
    index = 0
    while index < len(argv):
        item = argv[index]
        if item.startswith("-") and not _is_number(item):
            name, has_value, value = item.partition("=")
            name = FLAG_ALIASES.get(name, name)
            if name.startswith("--"):
                name = "--" + name[2:].replace("_", "-")
            if has_value:
                flags[name] = value
            elif index + 1 < len(argv) and not (argv[index + 1].startswith("-") and not _is_number(argv[index + 1])):
                flags[name] = argv[index + 1]
                index += 1
            else:
                flags[name] = None
        index += 1
    return flags


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool | None:
    """Does a LabelSelector (``matchLabels`` + ``matchExpressions``) select pods with ``labels``?

    An empty selector ``{}`` selects everything (NetworkPolicy ``podSelector`` semantics); ``None`` is returned when
    the selector is missing, malformed or unknown, so callers can tell "does not match" from "cannot tell".

    >>> selector_matches({"matchLabels": {"app": "vllm"}}, {"app": "vllm", "tier": "gpu"})
    True
    """
    selector = unwrap(selector)
    if not isinstance(selector, Mapping):
        return None
    match_labels = unwrap(selector.get("matchLabels")) or {}
    if not isinstance(match_labels, Mapping):
        return None
    for key, value in match_labels.items():
        value = unwrap(value)
        if is_unknown(value):
            return None
        if labels.get(key) != value:
            return False
    expressions = unwrap(selector.get("matchExpressions")) or []
    if not isinstance(expressions, Sequence) or isinstance(expressions, str):
        return None
    for expression in expressions:
        expression = unwrap(expression)
        if not isinstance(expression, Mapping):
            return None
        key, operator = unwrap(expression.get("key")), unwrap(expression.get("operator"))
        values = [unwrap(v) for v in (unwrap(expression.get("values")) or [])]
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            return None
        if not ok:
            return False
    return True


def same_namespace(a: Resource, b: Resource) -> bool:
    """True when both objects are in the same namespace, or either namespace is unknown at preview."""
    left, right = namespace_of(a), namespace_of(b)
    return left is None or right is None or left == right
