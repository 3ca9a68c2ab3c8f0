"""What changes between two offline plans: resources added, removed, updated or replaced, property by property.

``diff_plans(old, new)`` compares two ``plan_json`` documents (``vllm-infra plan STACK --json``), so the old side can
come from another git ref::

    git worktree add /tmp/base origin/main
    (cd /tmp/base && python -m vllm_infra.cli plan single --json) > base.json
    git worktree remove /tmp/base

    diff = diff_plans(json.load(open("base.json")), plan_json(plan_stack("single")))
    print(render_markdown(diff))   # a PR comment

Resources are matched by URN. A changed URN (a renamed model, a new parent) is a delete plus a create, exactly as
Pulumi sees it without aliases. Within a resource, changes are listed per property path in Pulumi's property-path
syntax (``spec.template.spec.containers[0].args[5]``, ``metadata.labels["app.kubernetes.io/name"]``) — the syntax
``ignoreChanges`` uses, so paths a resource lists in ``ignoreChanges`` are dropped as the engine would drop them.

Replacements are predicted from the providers' own force-new rules (tables below, each with its source): a change to
an immutable Kubernetes field, or to an AWS property the Terraform AWS provider marks ``ForceNew``. They are what a
reviewer must see first: a replaced Deployment with a fixed name is deleted before its successor exists, and a
replaced or deleted protected model cache makes ``pulumi up`` fail.

Why a hand-written walk rather than ``deepdiff``: the inputs are plain JSON (dicts, lists, strings, numbers), and
every interesting decision is domain-specific — pairing Kubernetes list items by their merge key (``name``,
``mountPath``), reading container ``args`` as ``--flag value`` pairs, comparing set-typed AWS properties without
order, numbers as numbers (``1`` = ``1.0``), secrets by their marker only, and emitting paths in the engine's own
syntax. deepdiff would give index-level list changes and ``root['spec']['template']`` paths that would all have to be
post-processed; the walk below is shorter than that adaptation and adds no runtime dependency to every Pulumi
program that imports the library.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from vllm_infra.components.kube import group_version_kind
from vllm_infra.offline.redact import redact
from vllm_infra.quantity import QuantityError, parse_quantity

if TYPE_CHECKING:
    from vllm_infra.offline.runner import Plan

#: How a value only known after apply is shown (matches the plan document's own marker).
UNKNOWN_TEXT = "[unknown]"
#: The plan document key holding the stack's estimated GPU cost per hour (``None``/absent = unknown).
COST_KEY = "estimated_gpu_cost_per_hour"
#: Between what a replacement reason claims and where the rule comes from: ``"spec.selector is immutable: <source>"``.
#: The text and markdown renderers print the source once, as a numbered note, not on every line.
REASON_SOURCE_SEPARATOR = ": "
#: A string property is diffed line by line when either side has a line break or is a JSON document this long.
LINE_DIFF_JSON_CHARS = 200
#: Lines of context around each changed line of a line diff.
LINE_DIFF_CONTEXT = 2


class _Missing:
    """The absence of a value (distinct from ``None``, which JSON ``null`` maps to)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
WILDCARD = "*"

Segment = str | int

# --------------------------------------------------------------------------------------------------------------------
# Property paths (Pulumi syntax: a.b[0]["c.d"][*])
# --------------------------------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def format_path(segments: Sequence[Segment]) -> str:
    """Render path segments in Pulumi's property-path syntax.

    >>> format_path(["metadata", "labels", "app.kubernetes.io/name"])
    'metadata.labels["app.kubernetes.io/name"]'
    >>> format_path(["spec", "containers", 0, "args", 5])
    'spec.containers[0].args[5]'
    """
    text = ""
    for segment in segments:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif segment == WILDCARD:
            text += "[*]"
        elif _IDENTIFIER.fullmatch(segment):
            text += ("." if text else "") + segment
        else:
            text += "[" + json.dumps(segment) + "]"
    return text


def parse_path(text: str) -> list[Segment]:
    """Parse a Pulumi property path (as written in ``ignoreChanges``) into segments; ``[*]`` is ``WILDCARD``.

    >>> parse_path('spec.template.spec.containers[*].env["A.B"]')
    ['spec', 'template', 'spec', 'containers', '*', 'env', 'A.B']
    """
    segments: list[Segment] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == ".":
            index += 1
        elif char == "[":
            end = text.index("]", index) if text[index + 1 : index + 2] != '"' else _closing_quote(text, index + 1) + 1
            inner = text[index + 1 : end]
            if inner == "*":
                segments.append(WILDCARD)
            elif inner.startswith('"'):
                segments.append(json.loads(inner))
            else:
                segments.append(int(inner))
            index = end + 1
        else:
            match = re.compile(r"[^.\[]+").match(text, index)
            assert match is not None
            segments.append(WILDCARD if match.group() == "*" else match.group())
            index = match.end()
    return segments


def _closing_quote(text: str, start: int) -> int:
    index = start + 1
    while text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index


def _segment_matches(pattern: Segment, segment: Segment) -> bool:
    return pattern == segment or (pattern == WILDCARD and isinstance(segment, int))


def _is_prefix(pattern: Sequence[Segment], path: Sequence[Segment]) -> bool:
    return len(pattern) <= len(path) and all(_segment_matches(p, s) for p, s in zip(pattern, path, strict=False))


def _values_at(value: Any, pattern: Sequence[Segment]) -> list[Any]:
    """Every value at ``pattern`` inside ``value`` (wildcards fan out over list items)."""
    if not pattern:
        return [value]
    head, rest = pattern[0], pattern[1:]
    if head == WILDCARD and isinstance(value, list):
        return [found for item in value for found in _values_at(item, rest)]
    if isinstance(head, int) and isinstance(value, list) and head < len(value):
        return _values_at(value[head], rest)
    if isinstance(head, str) and isinstance(value, dict) and head in value:
        return _values_at(value[head], rest)
    return []


# --------------------------------------------------------------------------------------------------------------------
# Force-new tables
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForceNew:
    """A property whose change makes the provider replace the resource.

    ``when``: ``"changed"`` (any change), ``"removed"`` (set before, absent or empty now), ``"changed_from_set"``
    (changed away from a non-empty value; setting it for the first time is in place). ``source`` cites where the
    rule comes from.
    """

    path: str
    source: str
    when: str = "changed"

    @property
    def segments(self) -> list[Segment]:
        """``path`` parsed into segments."""
        return parse_path(self.path)


_K8S_SOURCE = "pulumi-kubernetes v4 forceNew table, provider/pkg/provider/diff.go"
_TF_NODE_GROUP = "ForceNew in terraform-provider-aws internal/service/eks/node_group.go"
_TF_CLUSTER = "ForceNew in terraform-provider-aws internal/service/eks/cluster.go"
_TF_CLUSTER_DIFF = "CustomizeDiff in terraform-provider-aws internal/service/eks/cluster.go"
_TF_ADDON = "ForceNew in terraform-provider-aws internal/service/eks/addon.go"
# Terraform AWS provider v6 (which pulumi-aws v7 bridges) injects a top-level `region` argument into every regional
# resource and replaces the resource when it changes (internal/provider/sdkv2 forceNewIfRegionChanges).
_TF_REGION = ForceNew("region", "forceNewIfRegionChanges in terraform-provider-aws v6 (enhanced region support)")


def _k8s(*paths: str, source: str = _K8S_SOURCE) -> tuple[ForceNew, ...]:
    return tuple(ForceNew(path, source) for path in paths)


_LABEL_SELECTOR = ("spec.selector",)  # the table lists matchLabels/matchExpressions too: all under spec.selector
_CONTAINER_FIELDS = (
    "args", "command", "env", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "ports", "readinessProbe",
    "resources", "securityContext", "stdin", "stdinOnce", "terminationMessagePath", "terminationMessagePolicy", "tty",
    "volumeDevices", "volumeMounts", "workingDir",
)  # fmt: skip
_POD_FIELDS = (
    "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostname", "imagePullSecrets", "nodeName", "nodeSelector", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "restartPolicy", "runtimeClassName",
    "schedulerName", "securityContext", "serviceAccount", "serviceAccountName", "shareProcessNamespace", "subdomain",
    "terminationGracePeriodSeconds", "volumes",
)  # fmt: skip
_PV_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flexVolume", "flocker",
    "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs", "photonPersistentDisk", "portworxVolume",
    "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)  # fmt: skip

#: Every Kubernetes object is replaced when its name or namespace changes.
KUBERNETES_METADATA_FORCE_NEW = _k8s("metadata.name", "metadata.namespace")

#: Immutable fields by (API group, version, kind), as pulumi-kubernetes v4 decides replacements. policy/v1
#: PodDisruptionBudget is absent on purpose: PDBs are mutable since Kubernetes 1.15 (kubernetes/kubernetes#69867),
#: and the provider only replaces policy/v1beta1 ones. Services are replaced only for spec.clusterIP (spec.type
#: changes are in-place updates).
#: PVC storage requests are updated in place (volume expansion); shrinking one is rejected by the API server
#: ("field can not be less than previous value"), which ``diff_plans`` reports as an error rather than a replacement.
#: Secret and ConfigMap data follow the provider's defaults (enableSecretMutable / enableConfigMapMutable off).
KUBERNETES_FORCE_NEW: dict[tuple[str, str, str], tuple[ForceNew, ...]] = {
    **{("apps", version, kind): _k8s(*_LABEL_SELECTOR)
       for version in ("v1", "v1beta2") for kind in ("Deployment", "DaemonSet")},
    **{("apps", version, "StatefulSet"): _k8s(
        "spec.podManagementPolicy", "spec.revisionHistoryLimit", *_LABEL_SELECTOR, "spec.serviceName",
        "spec.volumeClaimTemplates") for version in ("v1", "v1beta1", "v1beta2")},
    **{("batch", version, "Job"): _k8s("spec.completions", "spec.parallelism", *_LABEL_SELECTOR, "spec.template")
       for version in ("v1", "v1beta1", "v2alpha1")},
    ("policy", "v1beta1", "PodDisruptionBudget"): _k8s("spec"),
    ("core", "v1", "PersistentVolumeClaim"): _k8s(
        "spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    ("core", "v1", "PersistentVolume"): _k8s(*(f"spec.{source}" for source in _PV_SOURCES)),
    ("core", "v1", "Pod"): _k8s(
        *(f"spec.{name}" for name in _POD_FIELDS),
        *(f"spec.{kind}[*].{name}" for kind in ("containers", "initContainers") for name in _CONTAINER_FIELDS)),
    ("core", "v1", "ResourceQuota"): _k8s("spec.scopes"),
    ("core", "v1", "Secret"): _k8s("type", "stringData", "data"),
    ("core", "v1", "ConfigMap"): _k8s("data", "binaryData"),
    ("core", "v1", "Service"): _k8s("spec.clusterIP"),
    ("storage.k8s.io", "v1", "StorageClass"): _k8s("parameters", "provisioner"),
    **{("rbac.authorization.k8s.io", version, kind): _k8s("roleRef")
       for version in ("v1", "v1beta1", "v1alpha1") for kind in ("RoleBinding", "ClusterRoleBinding")},
}  # fmt: skip

#: AWS properties (pulumi-aws v7 input names) whose change replaces the resource, per the Terraform AWS provider it
#: bridges. Not listed, hence in place: NodeGroup scalingConfig.*, labels, taints, version, releaseVersion,
#: launchTemplate.version, updateConfig; Cluster version, vpcConfig.* (subnetIds and securityGroupIds are updatable
#: in place since terraform-provider-aws 5.25.0, PR #34209), enabledClusterLogTypes, accessConfig.authenticationMode.
AWS_FORCE_NEW: dict[str, tuple[ForceNew, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": (
        *(ForceNew(path, _TF_NODE_GROUP) for path in (
            "amiType", "capacityType", "clusterName", "diskSize", "instanceTypes", "launchTemplate.id",
            "launchTemplate.name", "nodeGroupName", "nodeGroupNamePrefix", "nodeRoleArn", "remoteAccess",
            "subnetIds")),
        _TF_REGION,
    ),
    "aws:eks/cluster:Cluster": (
        *(ForceNew(path, _TF_CLUSTER) for path in (
            "name", "roleArn", "bootstrapSelfManagedAddons", "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "kubernetesNetworkConfig.ipFamily", "kubernetesNetworkConfig.serviceIpv4Cidr",
            "outpostConfig.controlPlaneInstanceType", "outpostConfig.controlPlanePlacement.groupName",
            "remoteNetworkConfig")),
        # CustomizeDiff: envelope encryption cannot be disabled once enabled; an Auto Mode node role can be added in
        # place but not swapped.
        ForceNew("encryptionConfig", _TF_CLUSTER_DIFF, when="removed"),
        ForceNew("computeConfig.nodeRoleArn", _TF_CLUSTER_DIFF, when="changed_from_set"),
        _TF_REGION,
    ),
    "aws:eks/addon:Addon": (ForceNew("addonName", _TF_ADDON), ForceNew("clusterName", _TF_ADDON), _TF_REGION),
}  # fmt: skip

#: Set-typed AWS properties (Terraform TypeSet): order is not a change.
AWS_UNORDERED: dict[str, tuple[str, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": ("subnetIds", "remoteAccess.sourceSecurityGroupIds", "taints"),
    "aws:eks/cluster:Cluster": (
        "vpcConfig.subnetIds", "vpcConfig.securityGroupIds", "vpcConfig.publicAccessCidrs", "enabledClusterLogTypes"),
}  # fmt: skip


def force_new_rules(type_token: str, inputs: Mapping[str, Any] | None = None) -> tuple[ForceNew, ...]:
    """The force-new properties of a resource type (Kubernetes: from its group/version/kind; AWS: by token).

    >>> [rule.path for rule in force_new_rules("kubernetes:core/v1:Service")]
    ['metadata.name', 'metadata.namespace', 'spec.clusterIP']
    """
    gvk = group_version_kind(type_token, inputs)
    if gvk is not None:
        return KUBERNETES_METADATA_FORCE_NEW + KUBERNETES_FORCE_NEW.get(gvk, ())
    return AWS_FORCE_NEW.get(type_token, ())


# --------------------------------------------------------------------------------------------------------------------
# The diff model
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyChange:
    """One changed property: its path, ``kind`` (``update``/``add``/``delete``), old and new values (``MISSING``
    when absent; secrets are ``"[secret]"``), and for container flags the flag name (``--max-model-len``).

    ``replaces`` holds the force-new rule it triggers (a reason string) when it forces a replacement.

    Example::

        PropertyChange("spec.template.spec.containers[0].args[27]", "update", "8192", "16384", flag="--max-model-len")
        # describe() -> '--max-model-len 8192 → 16384'
    """

    path: str
    kind: str
    old: Any = MISSING
    new: Any = MISSING
    flag: str | None = None
    note: str | None = None
    replaces: str | None = None

    def line_diff(self) -> list[str] | None:
        """A unified diff (``@@`` hunks, ``+``/``-``/space lines, no file headers) when the property is text: a
        multi-line string (an nginx.conf), a long JSON document in a string (a Grafana dashboard) or a long
        structured value added or removed whole (an alert group) — JSON pretty-printed first. None otherwise.

        >>> PropertyChange("data.conf", "update", "a\\nb\\n", "a\\nc\\n").line_diff()
        ['@@ -1,2 +1,2 @@', ' a', '-b', '+c']
        """
        sides = [value for value in (self.old, self.new) if value is not MISSING]
        if self.flag is not None or not sides:
            return None
        if all(isinstance(value, str) for value in sides):
            if not any("\n" in value or _json_document(value) is not None for value in sides):
                return None
        elif not all(isinstance(value, (dict, list)) for value in sides):
            return None
        elif max(len(_canonical(value)) for value in sides) < LINE_DIFF_JSON_CHARS:
            return None
        old_lines, new_lines = _text_lines(self.old), _text_lines(self.new)
        if old_lines == new_lines:  # differs in formatting only: compare the text as it is
            old_lines, new_lines = _raw_lines(self.old), _raw_lines(self.new)
        hunks = difflib.unified_diff(old_lines, new_lines, lineterm="", n=LINE_DIFF_CONTEXT)
        return [line for line in hunks if not line.startswith(("---", "+++"))]

    def line_counts(self) -> tuple[int, int] | None:
        """``(added, removed)`` lines of ``line_diff``, or None when the property is not diffed by line."""
        lines = self.line_diff()
        if lines is None:
            return None
        return (sum(1 for line in lines if line.startswith("+")), sum(1 for line in lines if line.startswith("-")))

    def describe(self) -> str:
        """A one-line human description: ``--max-model-len 8192 → 16384``, ``spec.replicas: 1 → 2``,
        ``data["nginx.conf"]: +12 −2 lines`` for text diffed by line."""
        if self.flag is not None:
            return _describe_flag(self)
        counts = self.line_counts()
        if counts is not None:
            verb = {"add": "added, ", "delete": "removed, "}.get(self.kind, "")
            return f"{self.path}: {verb}+{counts[0]} −{counts[1]} lines"
        if self.note:
            return f"{self.path}: {self.note}"
        if self.kind == "add":
            return f"{self.path}: + {display(self.new)}"
        if self.kind == "delete":
            return f"{self.path}: - {display(self.old)}"
        return f"{self.path}: {display(self.old)} → {display(self.new)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (absent values as ``null`` with ``kind`` telling which side is absent)."""
        out: dict[str, Any] = {"path": self.path, "kind": self.kind}
        out.update(old=_jsonable(self.old), new=_jsonable(self.new))
        for key in ("flag", "note", "replaces"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        lines = self.line_diff()
        if lines is not None:
            out["lineDiff"] = lines
        return out


def _json_document(text: str) -> Any:
    if len(text) < LINE_DIFF_JSON_CHARS or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def _raw_lines(value: Any) -> list[str]:
    return [] if value is MISSING else str(value).splitlines()


def _text_lines(value: Any) -> list[str]:
    if value is MISSING:
        return []
    parsed = value if isinstance(value, (dict, list)) else _json_document(value)
    if parsed is not None:
        return json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return value.splitlines()


def _describe_flag(change: PropertyChange) -> str:
    def flag_text(value: Any, flag: str) -> str:
        return flag if value is None or value is True else f"{flag} {display(value)}"

    if change.kind == "add":
        return f"+ {flag_text(change.new, change.flag or '')}"
    if change.kind == "delete":
        return f"- {flag_text(change.old, change.flag or '')}"
    if change.note:
        return f"{change.flag}: {change.note}"
    if "→" in (change.flag or ""):  # a switch flipped: --enable-x → --no-enable-x
        return change.flag or ""
    return f"{change.flag} {display(change.old)} → {display(change.new)}"


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource: ``action`` is ``create``, ``delete``, ``update`` or ``replace``.

    ``changes`` lists property changes (updates and replacements), ``replace_reasons`` why a replacement is forced,
    ``warnings`` what will go wrong or hurt (a protected resource that must be deleted, a PVC shrink the API server
    rejects, downtime of delete-before-replace), ``ignored`` the changed paths dropped by ``ignoreChanges``.
    """

    urn: str
    type: str
    name: str
    action: str
    changes: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    protect: bool = False
    #: The parent's URN (creates and deletes only): the summaries fold a component's new children into its line.
    parent: str | None = None

    @property
    def blocking(self) -> bool:
        """True when ``pulumi up`` will fail on this resource as planned (see ``warnings``)."""
        return any(w.startswith("⛔") for w in self.warnings)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "changes": [c.to_json() for c in self.changes],
            "replaceReasons": list(self.replace_reasons),
            "warnings": list(self.warnings),
            "ignored": list(self.ignored),
            "protect": self.protect,
        }


@dataclass(frozen=True)
class CostDelta:
    """Estimated GPU cost per hour of each plan (``None`` = the plan has no estimate)."""

    old: float | None
    new: float | None

    @property
    def known(self) -> bool:
        """Both sides have an estimate."""
        return self.old is not None and self.new is not None

    @property
    def delta(self) -> float | None:
        """``new - old`` in $/h, or ``None`` when either side is unknown."""
        return round(self.new - self.old, 4) if self.old is not None and self.new is not None else None

    def describe(self) -> str:
        """``GPU ≈ $0.80/h → $1.60/h (+$0.80/h)``, ``GPU ≈ $0.80/h (unchanged)``; unknown sides print as
        ``unknown``."""
        def money(value: float | None) -> str:
            return "unknown" if value is None else f"${value:,.2f}/h"

        if self.old is not None and self.old == self.new:
            return f"GPU ≈ {money(self.new)} (unchanged)"
        text = f"GPU ≈ {money(self.old)} → {money(self.new)}"
        if self.delta is not None:
            sign = "+" if self.delta >= 0 else "−"
            text += f" ({sign}${abs(self.delta):,.2f}/h)"
        return text


@dataclass(frozen=True)
class PlanDiff:
    """The difference between two plans. ``added``/``removed``/``changed`` are sorted by URN; ``changed`` holds
    updates and replacements. ``empty`` is true when nothing at all differs.

    Example::

        diff = diff_plans(old_document, new_document)
        [r.name for r in diff.replacements]
    """

    stack: str
    added: tuple[ResourceChange, ...] = ()
    removed: tuple[ResourceChange, ...] = ()
    changed: tuple[ResourceChange, ...] = ()
    outputs: tuple[PropertyChange, ...] = ()
    cost: CostDelta = field(default_factory=lambda: CostDelta(None, None))

    @property
    def replacements(self) -> tuple[ResourceChange, ...]:
        """Resources that will be replaced (deleted and created again)."""
        return tuple(r for r in self.changed if r.action == "replace")

    @property
    def updates(self) -> tuple[ResourceChange, ...]:
        """Resources updated in place."""
        return tuple(r for r in self.changed if r.action == "update")

    @property
    def blocking(self) -> tuple[ResourceChange, ...]:
        """Resources on which ``pulumi up`` will fail as planned (protected deletions, rejected updates)."""
        return tuple(r for r in (*self.changed, *self.removed) if r.blocking)

    @property
    def empty(self) -> bool:
        """Nothing differs: no resource, output or cost change."""
        cost_changed = self.cost.old != self.cost.new
        return not (self.added or self.removed or self.changed or self.outputs or cost_changed)

    def counts(self) -> dict[str, int]:
        """``{"replace": n, "update": n, "create": n, "delete": n}``."""
        return {
            "replace": len(self.replacements),
            "update": len(self.updates),
            "create": len(self.added),
            "delete": len(self.removed),
        }


# --------------------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """Secrets become ``"[secret]"`` (compared by marker only), unknowns ``"[unknown]"``, integral floats ints."""
    value = redact(value) if rpc.is_rpc_secret(value) else value
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN_TEXT
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _normalize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(item) for item in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _jsonable(value: Any) -> Any:
    return None if value is MISSING else value


def display(value: Any, limit: int | None = None) -> str:
    """A compact rendering: strings bare, everything else as JSON; ``MISSING`` as ``(absent)``."""
    if value is MISSING:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": "))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# --------------------------------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------------------------------

_MERGE_KEYS = ("name", "mountPath", "containerPort", "devicePath")
_ARGV_KEYS = ("args", "command")


@dataclass
class _Walk:
    unordered: tuple[list[Segment], ...] = ()

    def diff(self, old: Any, new: Any, path: list[Segment]) -> list[PropertyChange]:
        if old is not MISSING and new is not MISSING and _canonical(old) == _canonical(new):
            return []
        if isinstance(old, dict) and isinstance(new, dict):
            changes: list[PropertyChange] = []
            for key in sorted(set(old) | set(new)):
                changes += self.diff(old.get(key, MISSING), new.get(key, MISSING), [*path, key])
            return changes
        if isinstance(old, list) and isinstance(new, list):
            return self._diff_list(old, new, path)
        return [_leaf(old, new, path)]

    def _diff_list(self, old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
        if any(_is_prefix(pattern, path) and len(pattern) == len(path) for pattern in self.unordered):
            return _diff_unordered(old, new, path)
        if path and path[-1] in _ARGV_KEYS and _all_strings(old) and _all_strings(new):
            flag_changes = _diff_argv(old, new, path)
            if flag_changes is not None:
                return flag_changes
        key = _merge_key(old, new)
        if key is not None:
            return self._diff_keyed(old, new, path, key)
        return self._diff_sequence(old, new, path)

    def _diff_keyed(self, old: list, new: list, path: list[Segment], key: str) -> list[PropertyChange]:
        old_by_key = {item[key]: (index, item) for index, item in enumerate(old)}
        new_keys = {item[key] for item in new}
        changes: list[PropertyChange] = []
        for index, item in enumerate(new):
            if item[key] in old_by_key:
                changes += self.diff(old_by_key[item[key]][1], item, [*path, index])
            else:
                changes.append(_leaf(MISSING, item, [*path, index]))
        for index, item in enumerate(old):
            if item[key] not in new_keys:
                changes.append(_leaf(item, MISSING, [*path, index]))
        if not changes:
            # Same items, new order: Pulumi still sees a different list (and Kubernetes rolls the pods).
            order = [item[key] for item in new]
            changes.append(PropertyChange(format_path(path), "update", [i[key] for i in old], order,
                                          note=f"order changed ({key}: {', '.join(map(str, order))})"))
        return changes

    def _diff_sequence(self, old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
        matcher = difflib.SequenceMatcher(None, [_canonical(v) for v in old], [_canonical(v) for v in new], False)
        changes: list[PropertyChange] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for offset in range(paired):
                changes += self.diff(old[i1 + offset], new[j1 + offset], [*path, j1 + offset])
            for index in range(i1 + paired, i2):
                changes.append(_leaf(old[index], MISSING, [*path, index]))
            for index in range(j1 + paired, j2):
                changes.append(_leaf(MISSING, new[index], [*path, index]))
        return changes


def _leaf(old: Any, new: Any, path: list[Segment]) -> PropertyChange:
    kind = "add" if old is MISSING else "delete" if new is MISSING else "update"
    return PropertyChange(format_path(path), kind, old, new)


def _all_strings(values: list) -> bool:
    return all(isinstance(v, str) for v in values)


def _merge_key(old: list, new: list) -> str | None:
    items = [*old, *new]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _MERGE_KEYS:
        if all(isinstance(item.get(key), (str, int)) and not isinstance(item.get(key), bool) for item in items):
            if len({item[key] for item in old}) == len(old) and len({item[key] for item in new}) == len(new):
                return key
    return None


def _diff_unordered(old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
    old_counts: dict[str, list[Any]] = {}
    for item in old:
        old_counts.setdefault(_canonical(item), []).append(item)
    changes: list[PropertyChange] = []
    for index, item in enumerate(new):
        bucket = old_counts.get(_canonical(item))
        if bucket:
            bucket.pop()
        else:
            changes.append(_leaf(MISSING, item, [*path, index]))
    remaining = {key for key, bucket in old_counts.items() if bucket}
    for index, item in enumerate(old):
        key = _canonical(item)
        if key in remaining and old_counts[key]:
            old_counts[key].pop()
            changes.append(_leaf(item, MISSING, [*path, index]))
    return changes


# --- container argv -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    key: tuple[str, int]  # (flag or "#positional", occurrence)
    flag: str | None
    value: str | None  # None for a switch without a value
    flag_index: int
    value_index: int | None


def _looks_like_flag(item: str) -> bool:
    return item.startswith("-") and len(item) > 1 and not re.fullmatch(r"-\d+(\.\d+)?", item)


def _tokens(argv: list[str]) -> list[_Token]:
    tokens: list[_Token] = []
    seen: dict[str, int] = {}
    positional = 0
    index = 0
    while index < len(argv):
        item = argv[index]
        if _looks_like_flag(item):
            name, has_value, value = item.partition("=")
            occurrence = seen.get(name, 0)
            seen[name] = occurrence + 1
            if has_value:
                tokens.append(_Token((name, occurrence), name, value, index, index))
            elif index + 1 < len(argv) and not _looks_like_flag(argv[index + 1]):
                tokens.append(_Token((name, occurrence), name, argv[index + 1], index, index + 1))
                index += 1
            else:
                tokens.append(_Token((name, occurrence), name, None, index, None))
        else:
            tokens.append(_Token(("#positional", positional), None, item, index, index))
            positional += 1
        index += 1
    return tokens


def _negation(flag: str) -> set[str]:
    """The spellings that switch ``flag`` the other way: ``--x``/``--no-x``, ``--enable-x``/``--disable-x``."""
    body = flag[2:] if flag.startswith("--") else ""
    if not body:
        return set()
    names = {f"--{body.removeprefix('no-')}" if body.startswith("no-") else f"--no-{body}"}
    for this, that in (("enable-", "disable-"), ("disable-", "enable-")):
        if body.startswith(this):
            names.add(f"--{that}{body.removeprefix(this)}")
    return names


def _diff_argv(old: list[str], new: list[str], path: list[Segment]) -> list[PropertyChange] | None:
    """Flag-aware diff of a command line; ``None`` when it has no flags (then it is diffed as a plain list)."""
    old_tokens, new_tokens = _tokens(old), _tokens(new)
    if not any(t.flag for t in (*old_tokens, *new_tokens)):
        return None
    old_by_key = {t.key: t for t in old_tokens}
    new_keys = {t.key for t in new_tokens}
    changes: list[PropertyChange] = []
    added: list[_Token] = []
    for token in new_tokens:
        before = old_by_key.get(token.key)
        if before is None:
            added.append(token)
        elif before.value != token.value:
            index = token.value_index if token.value_index is not None else token.flag_index
            if token.flag is None:
                changes.append(PropertyChange(format_path([*path, index]), "update", before.value, token.value))
            else:
                changes.append(PropertyChange(format_path([*path, index]), "update", before.value, token.value,
                                              flag=token.flag))
    removed = [t for t in old_tokens if t.key not in new_keys]
    # A switch flipped (--enable-x → --no-enable-x) reads as one change, not a removal and an addition.
    for gone in list(removed):
        if gone.flag is None or gone.value is not None:
            continue
        partner = next((t for t in added if t.flag in _negation(gone.flag) and t.value is None), None)
        if partner is not None:
            removed.remove(gone)
            added.remove(partner)
            changes.append(PropertyChange(format_path([*path, partner.flag_index]), "update", gone.flag, partner.flag,
                                          flag=f"{gone.flag} → {partner.flag}"))
    for token in added:
        changes.append(PropertyChange(format_path([*path, token.flag_index]), "add", MISSING, token.value,
                                      flag=token.flag))
    for token in removed:
        changes.append(PropertyChange(format_path([*path, token.flag_index]), "delete", token.value, MISSING,
                                      flag=token.flag))
    if not changes:
        changes.append(PropertyChange(format_path(path), "update", old, new, note="same flags, order changed"))
    return sorted(changes, key=lambda c: _index_of(c.path))


def _index_of(path: str) -> tuple[int, str]:
    match = re.search(r"\[(\d+)\]$", path)
    return (int(match.group(1)) if match else -1, path)


# --------------------------------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------------------------------


def _quantity(text: Any) -> Decimal | None:
    """A Kubernetes quantity (``29Gi``, ``500M``, ``1.5e3``) in base units, or ``None``."""
    if text is None or isinstance(text, bool):
        return None
    try:
        return parse_quantity(text.strip() if isinstance(text, str) else text)
    except (QuantityError, TypeError):
        return None


def _rule_triggered(rule: ForceNew, changes: Sequence[PropertyChange], old: Any, new: Any) -> bool:
    pattern = rule.segments
    if rule.when == "removed":
        before = [v for v in _values_at(old, pattern) if v not in (None, [], {})]
        after = [v for v in _values_at(new, pattern) if v not in (None, [], {})]
        return bool(before) and not after
    if rule.when == "changed_from_set":
        before = [v for v in _values_at(old, pattern) if v not in (None, "")]
        return bool(before) and _canonical(before) != _canonical(_values_at(new, pattern))
    for change in changes:
        path = parse_path(change.path)
        if _is_prefix(pattern, path):
            return True
        # A whole parent added or removed: it replaces only if the immutable field is inside it.
        if _is_prefix(path, pattern) and (_values_at(old, pattern) or _values_at(new, pattern)):
            return True
    return False


def _ignored(path: str, patterns: Sequence[list[Segment]]) -> bool:
    segments = parse_path(path)
    return any(_is_prefix(pattern, segments) for pattern in patterns)


def _resource_change(old_entry: Mapping[str, Any], new_entry: Mapping[str, Any]) -> ResourceChange | None:
    type_token = new_entry.get("type", "")
    old_inputs = _normalize(old_entry.get("inputs") or {})
    new_inputs = _normalize(new_entry.get("inputs") or {})
    ignore = [parse_path(p) for p in (new_entry.get("ignoreChanges") or old_entry.get("ignoreChanges") or [])]
    unordered = tuple(parse_path(p) for p in AWS_UNORDERED.get(type_token, ()))

    all_changes = _Walk(unordered).diff(old_inputs, new_inputs, [])
    kept = [c for c in all_changes if not _ignored(c.path, ignore)]
    ignored = tuple(c.path for c in all_changes if _ignored(c.path, ignore))

    reasons: list[str] = []
    marked: dict[int, str] = {}
    for rule in force_new_rules(type_token, new_inputs):
        if any(_is_prefix(pattern, rule.segments) for pattern in ignore):
            continue
        if not _rule_triggered(rule, kept, old_inputs, new_inputs):
            continue
        qualifier = {"removed": " (removed)", "changed_from_set": " (changed from a set value)"}.get(rule.when, "")
        reason = f"{rule.path}{qualifier} is immutable{REASON_SOURCE_SEPARATOR}{rule.source}"
        reasons.append(reason)
        for position, change in enumerate(kept):
            path = parse_path(change.path)
            if _is_prefix(rule.segments, path) or _is_prefix(path, rule.segments):
                marked.setdefault(position, reason)
    changes = [PropertyChange(c.path, c.kind, c.old, c.new, c.flag, c.note, marked.get(i)) for i, c in enumerate(kept)]

    warnings: list[str] = []
    protect_old, protect_new = bool(old_entry.get("protect")), bool(new_entry.get("protect"))
    for option, before, after in (
        ("protect", protect_old, protect_new),
        ("provider", old_entry.get("provider"), new_entry.get("provider")),
        ("customTimeouts", old_entry.get("customTimeouts") or {}, new_entry.get("customTimeouts") or {}),
    ):
        if _canonical(before) != _canonical(after):
            changes.append(PropertyChange(f"({option})", "update", before, after, note=None))
    warnings += _warnings(type_token, new_inputs, kept, bool(reasons), protect_old)

    if not changes and not reasons:
        return None
    return ResourceChange(
        urn=new_entry["urn"],
        type=type_token,
        name=new_entry.get("name", ""),
        action="replace" if reasons else "update",
        changes=tuple(changes),
        replace_reasons=tuple(dict.fromkeys(reasons)),
        warnings=tuple(warnings),
        ignored=ignored,
        protect=protect_new,
    )


def _warnings(type_token: str, inputs: Mapping[str, Any], changes: Sequence[PropertyChange], replaced: bool,
              protected: bool) -> list[str]:  # fmt: skip
    warnings: list[str] = []
    gvk = group_version_kind(type_token, inputs)
    if replaced and protected:
        warnings.append(
            "⛔ protected: the replacement must delete it, which Pulumi refuses — `pulumi up` fails until it is "
            "unprotected (`pulumi state unprotect <urn>`) or the change is reverted"
        )
    if replaced and gvk is not None and isinstance((inputs.get("metadata") or {}).get("name"), str):
        warnings.append(
            "metadata.name is fixed, so the old object is deleted before the new one is created (downtime)"
        )
    if gvk is not None and gvk[2] == "PersistentVolumeClaim":
        for change in changes:
            if change.path != "spec.resources.requests.storage" or change.kind != "update":
                continue
            before, after = _quantity(change.old), _quantity(change.new)
            if before is not None and after is not None and after < before:
                warnings.append(
                    f"⛔ spec.resources.requests.storage shrinks {change.old} → {change.new}: the API server rejects "
                    "it (a claim can only grow); keep the size, or replace the claim deliberately"
                )
            elif before is not None and after is not None and after > before:
                warnings.append(
                    f"spec.resources.requests.storage grows {change.old} → {change.new} in place: the StorageClass "
                    "must allow volume expansion (allowVolumeExpansion: true)"
                )
    return warnings


def _as_document(plan: Any) -> Mapping[str, Any]:
    if isinstance(plan, Mapping):
        return plan
    # An offline Plan: its plan_json form, plus the ignoreChanges the JSON form does not carry (yet).
    from vllm_infra.offline.tree import plan_json

    document = plan_json(plan)
    by_urn = {r.urn: r for r in plan.resources}
    for entry in document["resources"]:
        ignore_changes = getattr(by_urn.get(entry["urn"]), "ignore_changes", None)
        if ignore_changes and "ignoreChanges" not in entry:
            entry["ignoreChanges"] = list(ignore_changes)
    return document


def _cost(document: Mapping[str, Any]) -> float | None:
    value = document.get(COST_KEY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def diff_plans(old: Mapping[str, Any] | Plan, new: Mapping[str, Any] | Plan) -> PlanDiff:
    """Compare two plan documents (``plan_json`` output, e.g. ``vllm-infra plan STACK --json`` on two git refs).

    Resources are keyed by URN: only-new ones are created, only-old ones deleted, the others compared input by
    input. A change to a force-new property (``KUBERNETES_FORCE_NEW``, ``AWS_FORCE_NEW``) makes the resource a
    replacement; paths listed in the resource's ``ignoreChanges`` are dropped. Secrets (``"[secret]"``) compare by
    marker only. An offline ``Plan`` object is accepted too (converted with ``plan_json``).

    Example::

        diff = diff_plans(plan_json(plan_stack("single")), plan_json(plan_stack("single")))
        assert diff.empty
    """
    old_doc, new_doc = _as_document(old), _as_document(new)
    old_by_urn = {entry["urn"]: entry for entry in old_doc.get("resources") or []}
    new_by_urn = {entry["urn"]: entry for entry in new_doc.get("resources") or []}

    added = tuple(
        ResourceChange(urn, e.get("type", ""), e.get("name", ""), "create", protect=bool(e.get("protect")),
                       parent=e.get("parent"))
        for urn, e in sorted(new_by_urn.items()) if urn not in old_by_urn
    )  # fmt: skip
    removed = []
    for urn, entry in sorted(old_by_urn.items()):
        if urn in new_by_urn:
            continue
        warnings = ()
        if entry.get("protect"):
            warnings = (
                "⛔ protected: Pulumi refuses to delete it, so `pulumi up` fails; if the deletion is intended, run "
                "`pulumi state unprotect` first (for a model cache: the weights are lost)",
            )
        removed.append(ResourceChange(urn, entry.get("type", ""), entry.get("name", ""), "delete",
                                      warnings=warnings, protect=bool(entry.get("protect")),
                                      parent=entry.get("parent")))
    changed = tuple(
        change for urn in sorted(set(old_by_urn) & set(new_by_urn))
        if (change := _resource_change(old_by_urn[urn], new_by_urn[urn])) is not None
    )  # fmt: skip
    outputs = tuple(
        _Walk().diff(_normalize(old_doc.get("outputs") or {}), _normalize(new_doc.get("outputs") or {}), [])
    )
    return PlanDiff(
        stack=str(new_doc.get("stack") or old_doc.get("stack") or ""),
        added=added,
        removed=tuple(removed),
        changed=changed,
        outputs=outputs,
        cost=CostDelta(_cost(old_doc), _cost(new_doc)),
    )


# --------------------------------------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------------------------------------

_SYMBOL = {"create": "+", "delete": "-", "update": "~", "replace": "±"}
_COLLAPSE_ROWS = 8
_COLLAPSE_RESOURCES = 10
_CELL_LIMIT = 80


def summary_line(diff: PlanDiff) -> str:
    """``1 to replace, 2 to update, 1 to create, 1 to delete · GPU ≈ $0.80/h → $1.60/h (+$0.80/h)`` or
    ``No changes.``"""
    if diff.empty:
        return "No changes."
    counts = diff.counts()
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    if diff.outputs:
        parts.append(f"{len(diff.outputs)} output{'s' if len(diff.outputs) != 1 else ''} changed")
    text = ", ".join(parts) or "no resource changes"
    if diff.cost.old is not None or diff.cost.new is not None:
        text += " · " + diff.cost.describe()
    if diff.blocking:
        text += f" · ⛔ {len(diff.blocking)} will fail `pulumi up`"
    return text


def _paired(changes: Sequence[PropertyChange]) -> list[PropertyChange]:
    # A list item replaced by one with another key (an alert group renamed with its model) is a removal and an
    # addition at the same path; shown as one change, its line diff holds only the lines that differ.
    removed = {c.path: c for c in changes if c.kind == "delete" and c.flag is None and isinstance(c.old, (dict, list))}
    paired: list[PropertyChange] = []
    used: set[str] = set()
    for change in changes:
        partner = removed.get(change.path)
        if change.kind == "add" and change.flag is None and isinstance(change.new, (dict, list)) and partner:
            paired.append(PropertyChange(change.path, "update", partner.old, change.new,
                                         replaces=change.replaces or partner.replaces))  # fmt: skip
            used.add(change.path)
    merged = iter(paired)
    out = []
    for change in changes:
        if change.path in used:
            if change.kind == "add":
                out.append(next(merged))
            continue
        out.append(change)
    return out


def _for_display(diff: PlanDiff) -> PlanDiff:
    def pair(resource: ResourceChange) -> ResourceChange:
        return dataclasses.replace(resource, changes=tuple(_paired(resource.changes)))

    return dataclasses.replace(diff, changed=tuple(pair(r) for r in diff.changed))


class _Notes:
    """Numbered notes of a rendering: each reason or citation is printed once, lines refer to it as ``[n]``."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}

    def ref(self, text: str) -> str:
        number = self.texts.setdefault(text, len(self.texts) + 1)
        return f"[{number}]"

    def refs(self, texts: Iterable[str]) -> str:
        return "".join(self.ref(text) for text in dict.fromkeys(texts))

    def lines(self, indent: str = "  ") -> list[str]:
        return [f"{indent}[{number}] {text}" for text, number in self.texts.items()]


def split_reason(reason: str) -> tuple[str, str | None]:
    """A replacement reason as ``(claim, source)``: ``("spec.selector is immutable", "pulumi-kubernetes v4 ...")``.

    >>> split_reason("data is immutable: pulumi-kubernetes v4 forceNew table")
    ('data is immutable', 'pulumi-kubernetes v4 forceNew table')
    """
    claim, separator, source = reason.partition(REASON_SOURCE_SEPARATOR)
    return (claim, source) if separator and source else (reason, None)


def _reason_note(reason: str) -> str:
    claim, source = split_reason(reason)
    return f"forces replacement: {claim}" + (f" (source: {source})" if source else "")


def _resource_notes(resource: ResourceChange, notes: _Notes, *, include_change_reasons: bool) -> str:
    explained = {change.replaces for change in resource.changes if change.replaces}
    reasons = [r for r in resource.replace_reasons if include_change_reasons or r not in explained]
    refs = notes.refs([*(_reason_note(r) for r in reasons), *resource.warnings])
    blocked = " ⛔" if resource.blocking else ""
    return (blocked + (" " + refs if refs else "")) if blocked or refs else ""


def render_text(diff: PlanDiff) -> str:
    """A plain-text diff for terminals and logs: summary, replacements first, then per-resource changes; text
    properties (an nginx.conf, a dashboard's JSON) as line diffs; why a resource is replaced or blocked, and the
    source of each rule, once in numbered notes at the end.

    Example::

        print(render_text(diff_plans(old, new)))
    """
    diff = _for_display(diff)
    lines = [f"Plan diff ({diff.stack}): {summary_line(diff)}"]
    if diff.empty:
        return lines[0]
    notes = _Notes()
    attention = [*diff.replacements, *(r for r in diff.removed if r.blocking)]
    if attention:
        lines += ["", "⚠ Replacements" + (" and blocked changes:" if diff.blocking else ":")]
        for resource in attention:
            lines += _text_resource(resource, notes)
    rest = [*diff.updates, *diff.added, *(r for r in diff.removed if not r.blocking)]
    if rest:
        lines += ["", "Changes:"]
        for resource in rest:
            lines += _text_resource(resource, notes)
    if diff.outputs:
        lines += ["", "Outputs:"] + [f"    {change.describe()}" for change in diff.outputs]
    if notes.texts:
        lines += ["", "Notes:", *notes.lines()]
    return "\n".join(lines)


def _text_resource(resource: ResourceChange, notes: _Notes) -> list[str]:
    header = f"  {_SYMBOL[resource.action]} {resource.type} {resource.name} ({resource.action})"
    lines = [header + _resource_notes(resource, notes, include_change_reasons=False)]
    for change in resource.changes:
        suffix = " " + notes.ref(_reason_note(change.replaces)) if change.replaces else ""
        lines.append(f"      {_CHANGE_SYMBOL[change.kind]} {_change_line(change)}{suffix}")
        lines += [f"          {line}" for line in change.line_diff() or ()]
    if resource.ignored:
        lines.append(f"      (ignoreChanges: {', '.join(resource.ignored)})")
    return lines


_CHANGE_SYMBOL = {"update": "~", "add": "+", "delete": "-"}
_SUMMARY_CHANGES_WIDTH = 100


def _short_changes(resource: ResourceChange) -> str:
    if resource.action in ("create", "delete"):
        return ""
    names = []
    for change in resource.changes:
        counts = change.line_counts()
        if change.flag is not None:
            names.append(change.flag)
        elif counts is not None:
            names.append(f"{change.path} (+{counts[0]} −{counts[1]} lines)")
        else:
            names.append(change.path)
    text = ""
    for index, name in enumerate(names):
        candidate = f"{text}, {name}" if text else name
        if len(candidate) > _SUMMARY_CHANGES_WIDTH and text:
            return f"{text}, … {len(names) - index} more"
        text = candidate
    return text


def _folded(resources: Sequence[ResourceChange]) -> list[tuple[ResourceChange, int]]:
    """``(resource, folded children)`` for the summaries: a resource created (deleted) together with its parent is
    counted on the line of its topmost created (deleted) ancestor — adding a model reads as its three components,
    not as every tag and object inside them. A blocked deletion always keeps its own line."""
    by_urn = {r.urn: r for r in resources if r.action in ("create", "delete")}

    def top(resource: ResourceChange) -> ResourceChange:
        while (parent := by_urn.get(resource.parent or "")) is not None and parent.action == resource.action:
            resource = parent
        return resource

    counts: dict[str, int] = {}
    kept = []
    for resource in resources:
        anchor = top(resource) if resource.action in ("create", "delete") and not resource.blocking else resource
        if anchor is resource:
            kept.append(resource)
        else:
            counts[anchor.urn] = counts.get(anchor.urn, 0) + 1
    return [(resource, counts.get(resource.urn, 0)) for resource in kept]


def _folded_note(children: int) -> str:
    return f"(with {children} resource{'s' if children != 1 else ''} inside)" if children else ""


def render_text_summary(diff: PlanDiff) -> str:
    """The diff in one line per resource (``vllm-infra diff --summary``): symbol, action, type, name and which
    properties change; replacement reasons and blockers as numbered notes.

    Example::

        print(render_text_summary(diff_plans(old, new)))
    """
    diff = _for_display(diff)
    lines = [f"Plan diff ({diff.stack}): {summary_line(diff)}"]
    if diff.empty:
        return lines[0]
    notes = _Notes()
    ordered = [*diff.replacements, *(r for r in diff.removed if r.blocking), *diff.updates, *diff.added,
               *(r for r in diff.removed if not r.blocking)]  # fmt: skip
    rows = _folded(ordered)
    type_width = max(len(r.type) for r, _ in rows)
    name_width = max(len(r.name) for r, _ in rows)
    lines.append("")
    for resource, children in rows:
        changes = _short_changes(resource) or _folded_note(children)
        refs = _resource_notes(resource, notes, include_change_reasons=True)
        row = f"  {_SYMBOL[resource.action]} {resource.action:<7} {resource.type:<{type_width}}  "
        row += f"{resource.name:<{name_width}}  {changes}{refs}"
        lines.append(row.rstrip())
    if diff.outputs:
        lines.append(f"  outputs: {', '.join(change.path for change in diff.outputs)}")
    if notes.texts:
        lines += ["", "Notes:", *notes.lines()]
    return "\n".join(lines)


def _change_line(change: PropertyChange) -> str:
    # The line starts with the change's symbol (+ ~ -), so the description does not repeat it.
    text = change.describe()
    if change.flag is not None:
        text = f"{change.path}: {text}"
    if change.kind in ("add", "delete") and change.line_counts() is None:
        text = text.replace(f": {'+' if change.kind == 'add' else '-'} ", ": ", 1)
    return text


def _md_code(text: str) -> str:
    text = text.replace("\n", "⏎").replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_value(value: Any) -> str:
    return "—" if value is MISSING else _md_code(display(value, _CELL_LIMIT))


def render_markdown(diff: PlanDiff) -> str:
    """A short PR comment: a summary line, a "⚠ Replacements" section first (with why, and what will block
    ``pulumi up``), then the changes per resource as compact tables (long ones collapsed in ``<details>``), text
    properties as collapsed ``diff`` blocks, created and deleted resources as lists, changed stack outputs, and the
    reasons and sources once, as numbered notes.

    Example::

        comment = render_markdown(diff_plans(base_document, head_document))
    """
    diff = _for_display(diff)
    title = f"**Plan diff** `{diff.stack}`: " if diff.stack else "**Plan diff**: "
    lines = [title + summary_line(diff)]
    if diff.empty:
        return lines[0] + "\n"
    notes = _Notes()
    attention = [*diff.replacements, *(r for r in diff.removed if r.blocking)]
    if attention:
        heading = "⚠ Replacements" + (" and blocked changes" if diff.blocking else "")
        lines += ["", f"### {heading}", ""]
        for resource in attention:
            lines += _md_attention(resource, notes)
    if diff.updates:
        lines += ["", "### Updates"]
        for resource in diff.updates:
            refs = _resource_notes(resource, notes, include_change_reasons=False)
            lines += ["", f"**~** `{resource.type}` **{resource.name}**{refs}", ""]
            lines += _md_changes_table(resource)
            lines += _md_line_diffs(resource)
            if resource.ignored:
                lines += ["", f"_ignored by ignoreChanges: {', '.join(_md_code(p) for p in resource.ignored)}_"]
    for heading, items in (("Creates", diff.added), ("Deletes", [r for r in diff.removed if not r.blocking])):
        if not items:
            continue
        bullets = [f"- `{r.type}` **{r.name}**" for r in items]
        lines += ["", f"### {heading} ({len(items)})", ""]
        lines += _md_collapse(bullets, f"{len(items)} resources", _COLLAPSE_RESOURCES)
    if diff.outputs:
        lines += ["", "### Outputs", "", "| output | old | new |", "| --- | --- | --- |"]
        lines += [f"| {_md_code(c.path)} | {_md_value(c.old)} | {_md_value(c.new)} |" for c in diff.outputs]
    if notes.texts:
        lines += ["", "#### Notes", "", *notes.lines(indent="- ")]
    return "\n".join(lines) + "\n"


def render_markdown_summary(diff: PlanDiff) -> str:
    """The diff as one table row per resource (``vllm-infra diff --format markdown --summary``), notes below.

    Example::

        comment = render_markdown_summary(diff_plans(base_document, head_document))
    """
    diff = _for_display(diff)
    title = f"**Plan diff** `{diff.stack}`: " if diff.stack else "**Plan diff**: "
    lines = [title + summary_line(diff)]
    if diff.empty:
        return lines[0] + "\n"
    notes = _Notes()
    ordered = [*diff.replacements, *(r for r in diff.removed if r.blocking), *diff.updates, *diff.added,
               *(r for r in diff.removed if not r.blocking)]  # fmt: skip
    lines += ["", "| | resource | type | changes |", "| --- | --- | --- | --- |"]
    for resource, children in _folded(ordered):
        changes = (_short_changes(resource) or _folded_note(children)).replace("|", "\\|")
        refs = _resource_notes(resource, notes, include_change_reasons=True)
        lines.append(f"| {_SYMBOL[resource.action]} {resource.action} | **{resource.name}** | `{resource.type}` | "
                     f"{changes}{refs} |")  # fmt: skip
    if notes.texts:
        lines += ["", "#### Notes", "", *notes.lines(indent="- ")]
    return "\n".join(lines) + "\n"


def _md_line_diffs(resource: ResourceChange) -> list[str]:
    lines: list[str] = []
    for change in resource.changes:
        diff_lines = change.line_diff()
        if diff_lines is None:
            continue
        counts = change.line_counts() or (0, 0)
        fence = "````" if any(line.lstrip(" +-").startswith("```") for line in diff_lines) else "```"
        lines += ["", "<details>", f"<summary><code>{change.path}</code>: +{counts[0]} −{counts[1]} lines</summary>",
                  "", f"{fence}diff", *diff_lines, fence, "", "</details>"]  # fmt: skip
    return lines


def _md_attention(resource: ResourceChange, notes: _Notes) -> list[str]:
    lines = [f"- **{resource.action}** `{resource.type}` **{resource.name}**"
             f"{_resource_notes(resource, notes, include_change_reasons=False)}"]  # fmt: skip
    for change in resource.changes:
        if change.replaces:
            ref = notes.ref(_reason_note(change.replaces))
            lines.append(f"  - {_md_change_inline(change)} — **forces replacement** {ref}")
    others = [c for c in resource.changes if not c.replaces]
    if others:
        table = _md_changes_table(ResourceChange(resource.urn, resource.type, resource.name, "update", tuple(others)))
        summary = f"{len(others)} other change{'s' if len(others) != 1 else ''}"
        lines += ["", *(f"  {line}" if line else "" for line in _md_collapse(table, summary, 0))]
    lines += [f"  {line}" if line else "" for line in _md_line_diffs(resource)]
    return lines


def _md_change_inline(change: PropertyChange) -> str:
    if change.flag is not None:
        return f"{_md_code(change.path)} {_md_code(change.describe())}"
    counts = change.line_counts()
    if counts is not None:
        return f"{_md_code(change.path)}: +{counts[0]} −{counts[1]} lines"
    if change.kind == "add":
        return f"{_md_code(change.path)}: + {_md_value(change.new)}"
    if change.kind == "delete":
        return f"{_md_code(change.path)}: − {_md_value(change.old)}"
    return f"{_md_code(change.path)}: {_md_value(change.old)} → {_md_value(change.new)}"


def _md_changes_table(resource: ResourceChange) -> list[str]:
    rows = ["| property | old | new |", "| --- | --- | --- |"]
    for change in resource.changes:
        switch_flipped = change.flag is not None and "→" in change.flag
        label = _md_code(change.path)
        if change.flag is not None and not switch_flipped:
            label += " " + _md_code(change.flag)
        old, new = _md_value(change.old), _md_value(change.new)
        counts = change.line_counts()
        if counts is not None:
            old = "—" if change.old is MISSING else "_text_"
            new = "—" if change.new is MISSING else f"_+{counts[0]} −{counts[1]} lines, below_"
        if change.flag is not None and not switch_flipped:
            # A switch (a flag without a value) is just present or absent.
            if change.kind == "add" and change.new is None:
                new = "_set_"
            if change.kind == "delete" and change.old is None:
                old = "_set_"
        if change.note:
            new += f" _({change.note})_"
        rows.append(f"| {label} | {old} | {new} |")
    return _md_collapse(rows, f"{len(resource.changes)} property changes", _COLLAPSE_ROWS, header=2)


def _md_collapse(lines: list[str], summary: str, limit: int, header: int = 0) -> list[str]:
    if len(lines) - header <= limit:
        return lines
    return ["<details>", f"<summary>{summary}</summary>", "", *lines, "", "</details>"]


def render_json(diff: PlanDiff) -> dict[str, Any]:
    """The diff as a JSON-ready dict: ``{"stack", "empty", "summary", "counts", "cost", "replacements",
    "resources", "outputs"}``; ``resources`` holds every changed, created and deleted resource (replacements first).

    Example::

        json.dumps(render_json(diff), indent=2)
    """
    ordered = [*diff.replacements, *diff.updates, *diff.added, *diff.removed]
    return {
        "stack": diff.stack,
        "empty": diff.empty,
        "summary": summary_line(diff),
        "counts": diff.counts(),
        "cost": {"old": diff.cost.old, "new": diff.cost.new, "delta": diff.cost.delta},
        "replacements": [r.urn for r in diff.replacements],
        "blocking": [r.urn for r in diff.blocking],
        "resources": [r.to_json() for r in ordered],
        "outputs": [c.to_json() for c in diff.outputs],
    }


def iter_changes(diff: PlanDiff) -> Iterable[tuple[ResourceChange, PropertyChange]]:
    """Every (resource, property change) pair of a diff, in rendering order (for custom reports)."""
    for resource in (*diff.replacements, *diff.updates):
        for change in resource.changes:
            yield resource, change
