"""Cross-object checks over one cluster of a plan: what no per-object schema sees, and what makes a first
``pulumi up`` hang or a first rollout drop traffic. Each check returns its problems (empty: the check holds).

- ``selectors_select``: every Service, PDB, NetworkPolicy, HPA, ScaledObject, PodMonitor, topology spread constraint
  and the router's service discovery selects at least one planned pod; a Deployment selects its own template; a
  named port a Service or PodMonitor uses exists on the pods.
- ``refs_resolve``: ConfigMaps, Secrets (and their keys), PVCs, ServiceAccounts, volumes, Roles a pod or binding
  names exist in the plan, in the same namespace.
- ``pods_fit_nodes``: a pod pinned to an instance type fits one node's allocatable (``capacity``).
- ``tolerations_cover_taints``: a pod pinned to a planned node group selects its labels and tolerates its taints.
- ``grace_covers_drain``: preStop + the app's own drain fits in terminationGracePeriodSeconds.
- ``traffic_outlives_endpoints``: a container that takes traffic waits in preStop until the pod left the endpoints
  (and a proxied sibling as long as its proxy).
- ``disruptions_allowed``: no PDB blocks a drain forever, no rollout strategy can never progress.
- ``network_flows``: under the planned NetworkPolicies the balancer reaches vLLM, monitoring reaches every scraped
  port, and every pod under an egress policy reaches cluster DNS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.crossobject.capacity import GPU_RESOURCE, node_allocatable, pod_requests
from tests.crossobject.cluster import Cluster, PodTemplate

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# The Kubernetes default (PodSpec.terminationGracePeriodSeconds).
DEFAULT_GRACE_SECONDS = 30
# What the EKS CoreDNS pods are (the add-on's Deployment in kube-system, label k8s-app=kube-dns).
DNS_POD = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": {(53, "UDP"), (53, "TCP")}}
# A Prometheus pod of the kube-prometheus-stack release, as prometheus-operator labels it.
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"}


# ------------------------------------------------------------------------------------------------ label selectors
def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects ``labels``; ``{}`` selects everything,
    None nothing."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _map_selector(selector: dict[str, str] | None) -> dict[str, Any] | None:
    # Service-style selectors are a plain map; None or {} selects nothing (a Service without selector has manual
    # endpoints), unlike a LabelSelector.
    return {"matchLabels": selector} if selector else None


def _selected(cluster: Cluster, namespace: str | None, selector: dict[str, Any] | None) -> list[PodTemplate]:
    return [
        pod for pod in cluster.pod_templates()
        if (namespace is None or pod.namespace == namespace) and selector_matches(selector, pod.labels)
    ]  # fmt: skip


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{obj['kind']} {meta.get('namespace', 'default')}/{meta.get('name')}"


def _ns(obj: dict[str, Any]) -> str:
    return obj.get("metadata", {}).get("namespace", "default")


def selectors_select(cluster: Cluster) -> list[str]:
    """Every selector of the plan selects at least one of its pods (see the module docstring)."""
    problems = []

    def need(
        obj: dict[str, Any], what: str, namespace: str | None, selector: dict[str, Any] | None
    ) -> list[PodTemplate]:
        pods = _selected(cluster, namespace, selector)
        if not pods:
            problems.append(f"{_ref(obj)}: {what} {selector} selects no planned pod")
        return pods

    for service in cluster.of_kind("Service"):
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            continue
        pods = need(service, "selector", _ns(service), _map_selector(spec["selector"]))
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for pod in pods:
                if isinstance(target, str) and target not in pod.named_ports():
                    problems.append(f"{_ref(service)}: targetPort {target!r} is no port of {pod.ref}")
    for pdb in cluster.of_kind("PodDisruptionBudget"):
        need(pdb, "selector", _ns(pdb), (pdb.get("spec") or {}).get("selector"))
    for policy in cluster.of_kind("NetworkPolicy"):
        need(policy, "podSelector", _ns(policy), (policy.get("spec") or {}).get("podSelector"))
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in (policy.get("spec") or {}).get(direction) or []:
                for peer in rule.get(peers_key) or []:
                    # Peers in namespaces the plan does not own (kube-system DNS, monitoring) are not the plan's pods.
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        need(policy, f"{direction} peer podSelector", _ns(policy), peer["podSelector"])
    for scaler in cluster.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        target = (scaler.get("spec") or {}).get("scaleTargetRef") or {}
        kind = target.get("kind", "Deployment")
        if cluster.find(kind, _ns(scaler), target.get("name")) is None:
            problems.append(f"{_ref(scaler)}: scaleTargetRef {kind} {target.get('name')} is not in the plan")
    for monitor in cluster.of_kind("PodMonitor"):
        spec = monitor.get("spec") or {}
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [_ns(monitor)]
        pods = [p for ns in namespaces for p in _selected(cluster, ns, spec.get("selector"))]
        if not pods:
            problems.append(f"{_ref(monitor)}: selector {spec.get('selector')} in {namespaces} selects no planned pod")
        for endpoint in spec.get("podMetricsEndpoints") or []:
            for pod in pods:
                if "port" in endpoint and endpoint["port"] not in pod.named_ports():
                    problems.append(f"{_ref(monitor)}: port {endpoint['port']!r} is no port of {pod.ref}")
    for pod in cluster.pod_templates():
        if pod.kind == "Deployment" or pod.kind == "StatefulSet":
            selector = (pod.owner.get("spec") or {}).get("selector")
            if not selector_matches(selector, pod.labels):
                problems.append(f"{pod.ref}: selector {selector} does not select its own pod template")
        for constraint in pod.spec.get("topologySpreadConstraints") or []:
            if not selector_matches(constraint.get("labelSelector"), pod.labels):
                problems.append(f"{pod.ref}: a topologySpreadConstraint's labelSelector does not select its own pods")
        for container in pod.containers():
            selector, namespace = router_discovery(container)
            if selector is not None and not _selected(cluster, namespace or pod.namespace, selector):
                problems.append(f"{pod.ref}: container {container['name']} discovers workers by {selector} "
                                "and no planned pod matches")  # fmt: skip
    return problems


def router_discovery(container: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """vllm-router's ``--service-discovery --selector k=v ... [--service-discovery-namespace NS]`` as a
    LabelSelector and namespace; (None, None) for any other container."""
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if "--service-discovery" not in command or "--selector" not in command:
        return None, None
    labels, index = {}, command.index("--selector") + 1
    while index < len(command) and not command[index].startswith("--"):
        key, _, value = command[index].partition("=")
        labels[key] = value
        index += 1
    namespace = None
    if "--service-discovery-namespace" in command:
        namespace = command[command.index("--service-discovery-namespace") + 1]
    return {"matchLabels": labels}, namespace


# ------------------------------------------------------------------------------------------------------ references
def refs_resolve(cluster: Cluster) -> list[str]:
    """Every object a pod or a RoleBinding names exists in the plan, in its namespace, with the keys it reads."""
    problems = []

    def keys_of(obj: dict[str, Any]) -> set[str]:
        return {*(obj.get("data") or {}), *(obj.get("binaryData") or {}), *(obj.get("stringData") or {})}

    def need(pod: PodTemplate, kind: str, name: str | None, keys: Iterable[str] = (), optional: bool = False) -> None:
        if optional:
            return
        obj = cluster.find(kind, pod.namespace, name) if name else None
        if obj is None:
            problems.append(f"{pod.ref}: {kind} {pod.namespace}/{name} is not in the plan")
            return
        if kind in ("ConfigMap", "Secret"):
            missing = sorted(set(keys) - keys_of(obj))
            if missing:
                problems.append(f"{pod.ref}: {kind} {pod.namespace}/{name} has no key {', '.join(missing)}")

    for pod in cluster.pod_templates():
        spec = pod.spec
        volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
        for volume in volumes.values():
            if "configMap" in volume:
                source = volume["configMap"]
                need(pod, "ConfigMap", source.get("name"), [i["key"] for i in source.get("items") or []],
                     source.get("optional", False))  # fmt: skip
            if "secret" in volume:
                source = volume["secret"]
                need(pod, "Secret", source.get("secretName"), [i["key"] for i in source.get("items") or []],
                     source.get("optional", False))  # fmt: skip
            if "persistentVolumeClaim" in volume:
                need(pod, "PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName"))
            for projected in (volume.get("projected") or {}).get("sources") or []:
                for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                    if key in projected:
                        source = projected[key]
                        need(pod, kind, source.get("name"), [i["key"] for i in source.get("items") or []],
                             source.get("optional", False))  # fmt: skip
        account = spec.get("serviceAccountName")
        if account and account != "default":
            need(pod, "ServiceAccount", account)
        for container in pod.containers():
            for mount in container.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    problems.append(f"{pod.ref}: container {container['name']} mounts undeclared volume "
                                    f"{mount['name']!r}")  # fmt: skip
            for env in container.get("env") or []:
                source = env.get("valueFrom") or {}
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in source:
                        ref = source[key]
                        need(pod, kind, ref.get("name"), [ref["key"]], ref.get("optional", False))
            for env_from in container.get("envFrom") or []:
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in env_from:
                        need(pod, kind, env_from[key].get("name"), (), env_from[key].get("optional", False))
    for binding in cluster.of_kind("RoleBinding"):
        role = binding.get("roleRef") or {}
        if role.get("kind") == "Role" and cluster.find("Role", _ns(binding), role.get("name")) is None:
            problems.append(f"{_ref(binding)}: Role {_ns(binding)}/{role.get('name')} is not in the plan")
        for subject in binding.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                namespace = subject.get("namespace", _ns(binding))
                if subject["name"] != "default" and cluster.find("ServiceAccount", namespace, subject["name"]) is None:
                    problems.append(f"{_ref(binding)}: ServiceAccount {namespace}/{subject['name']} is not in the plan")
    return problems


# ------------------------------------------------------------------------------------------------ nodes and pods
def pods_fit_nodes(cluster: Cluster) -> list[str]:
    """A pod pinned (nodeSelector) to an instance type asks no more CPU, memory and GPUs than one node of that type
    has allocatable."""
    problems = []
    for pod in cluster.pod_templates():
        instance_type = (pod.spec.get("nodeSelector") or {}).get(INSTANCE_TYPE_LABEL)
        if instance_type is None:
            continue
        node = node_allocatable(instance_type)
        requests = pod_requests(pod.spec)
        over = []
        if requests.get("cpu", 0) > node.cpu:
            over.append(f"{float(requests['cpu']):.2f} CPU")
        if requests.get("memory", 0) > node.memory:
            over.append(f"{float(requests['memory']) / 2**30:.2f} GiB")
        if requests.get(GPU_RESOURCE, 0) > node.gpus:
            over.append(f"{int(requests[GPU_RESOURCE])} GPU")
        if over:
            problems.append(f"{pod.ref} requests {', '.join(over)}: more than {node.describe()}")
    return problems


_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    effect = _TAINT_EFFECTS.get(taint["effect"], taint["effect"])
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", effect):
            continue
        if toleration.get("operator", "Equal") == "Exists":
            if toleration.get("key") in (None, "", taint["key"]):
                return True
        elif toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _node_labels(group: dict[str, Any], instance_type: str) -> dict[str, str]:
    return {**(group.get("labels") or {}), INSTANCE_TYPE_LABEL: instance_type}


def node_groups_of(cluster: Cluster, pod: PodTemplate) -> list[dict[str, Any]]:
    """The planned node groups whose nodes (labels, instance types) satisfy the pod's nodeSelector."""
    selector = pod.spec.get("nodeSelector") or {}
    return [
        group for group in cluster.node_groups
        if any(all(_node_labels(group, instance_type).get(k) == v for k, v in selector.items())
               for instance_type in group.get("instanceTypes") or [])
    ]  # fmt: skip


def node_selector_term_matches(term: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether one nodeSelectorTerm (its matchExpressions, ANDed) matches a node's labels."""
    for expression in term.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator in ("Gt", "Lt"):
            if not present or not labels[key].isdigit():
                return False
            number, bound = int(labels[key]), int(values[0])
            if (operator == "Gt" and not number > bound) or (operator == "Lt" and not number < bound):
                return False
    return True


def schedulable_on(spec: dict[str, Any], labels: dict[str, str], taints: list[dict[str, Any]]) -> list[str]:
    """Why a pod with ``spec`` cannot be scheduled on a node with ``labels`` and ``taints`` (empty: it can):
    nodeSelector, required node affinity (terms ORed) and NoSchedule/NoExecute taints."""
    reasons = []
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            reasons.append(f"nodeSelector {key}={value} does not match the node's labels")
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required and not any(node_selector_term_matches(t, labels) for t in required.get("nodeSelectorTerms") or []):
        reasons.append("no required nodeAffinity term matches the node's labels")
    for taint in taints:
        if _TAINT_EFFECTS.get(taint["effect"], taint["effect"]) == "PreferNoSchedule":
            continue
        if not _tolerates(spec.get("tolerations") or [], taint):
            reasons.append(f"it does not tolerate taint {taint['key']}={taint.get('value', '')}:{taint['effect']}")
    return reasons


def node_labels(group: dict[str, Any], instance_type: str) -> dict[str, str]:
    """The labels a node of a planned group carries: the group's, plus the well-known ones the kubelet sets."""
    return {**_node_labels(group, instance_type), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}


def tolerations_cover_taints(cluster: Cluster) -> list[str]:
    """A pod that targets the planned GPU nodes (it requests GPUs, or its nodeSelector names a label only planned
    node groups carry) matches at least one node group's labels and instance type, and tolerates every taint
    (NoSchedule/NoExecute) of the groups it matches."""
    problems = []
    group_label_keys = {key for group in cluster.node_groups for key in group.get("labels") or {}}
    for pod in cluster.pod_templates():
        selector = pod.spec.get("nodeSelector") or {}
        wants_gpu = any(GPU_RESOURCE in ((c.get("resources") or {}).get("limits") or {}) for c in pod.containers())
        if not wants_gpu and not (set(selector) & group_label_keys):
            continue
        matching = node_groups_of(cluster, pod)
        if not matching:
            problems.append(f"{pod.ref}: nodeSelector {selector} matches no planned node group (it stays Pending)")
            continue
        tolerations = pod.spec.get("tolerations") or []
        for group in matching:
            for taint in group.get("taints") or []:
                if _TAINT_EFFECTS.get(taint["effect"]) == "PreferNoSchedule":
                    continue
                if not _tolerates(tolerations, taint):
                    problems.append(f"{pod.ref}: does not tolerate taint {taint['key']}={taint.get('value', '')}:"
                                    f"{taint['effect']} of node group {group.get('nodeGroupNamePrefix')}")  # fmt: skip
    return problems


# ----------------------------------------------------------------------------------------------------- termination
_SLEEP = re.compile(r"(?:^|[;&|\s])sleep\s+([0-9]+)")
_NGINX_READ_TIMEOUT = re.compile(r"proxy_read_timeout\s+([0-9]+)s?;")
_NGINX_SHUTDOWN_TIMEOUT = re.compile(r"worker_shutdown_timeout\s+([0-9]+)s?;")


def pre_stop_sleep_seconds(container: dict[str, Any]) -> int:
    """Seconds the container's preStop hook sleeps before anything else (``sleep N`` exec, ``sleep`` action)."""
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = (pre_stop.get("exec") or {}).get("command") or []
    if command[:1] == ["sleep"] and len(command) > 1:
        return int(command[1])
    match = _SLEEP.search(" ".join(command[2:]) if command[1:2] == ["-c"] else "")
    return int(match.group(1)) if match else 0


def _flag(command: list[str], flag: str) -> str | None:
    for index, word in enumerate(command):
        if word == flag and index + 1 < len(command):
            return command[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def drain_seconds(cluster: Cluster, pod: PodTemplate, container: dict[str, Any]) -> int:
    """How long the container's app may take to finish in-flight work once asked to stop:
    vLLM ``--shutdown-timeout``; vllm-router ``--request-timeout-secs``; nginx ``worker_shutdown_timeout``, else its
    longest ``proxy_read_timeout`` (graceful quit waits for every open request) from the nginx.conf the pod mounts;
    0 for anything else."""
    image = container.get("image", "")
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if "vllm-openai" in image:
        return int(_flag(command, "--shutdown-timeout") or 0)
    if "vllm-router" in image:
        return int(_flag(command, "--request-timeout-secs") or 0)
    if image.startswith("nginx"):
        text = _nginx_conf(cluster, pod, container)
        shutdown = _NGINX_SHUTDOWN_TIMEOUT.findall(text)
        if shutdown:
            return max(int(s) for s in shutdown)
        return max((int(s) for s in _NGINX_READ_TIMEOUT.findall(text)), default=0)
    return 0


def _nginx_conf(cluster: Cluster, pod: PodTemplate, container: dict[str, Any]) -> str:
    volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        if mount.get("mountPath") != "/etc/nginx/nginx.conf":
            continue
        source = (volumes.get(mount["name"]) or {}).get("configMap") or {}
        config_map = cluster.find("ConfigMap", pod.namespace, source.get("name"))
        if config_map is not None:
            return (config_map.get("data") or {}).get(mount.get("subPath", "nginx.conf"), "")
    return ""


def grace_covers_drain(cluster: Cluster) -> list[str]:
    """For every container: preStop sleep + the app's drain ≤ the pod's terminationGracePeriodSeconds (the kubelet
    kills whatever still runs when the grace period ends, mid-stream)."""
    problems = []
    for pod in cluster.pod_templates():
        grace = int(pod.spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        for container in pod.containers(init=False):
            pre_stop, drain = pre_stop_sleep_seconds(container), drain_seconds(cluster, pod, container)
            if pre_stop + drain > grace:
                problems.append(
                    f"{pod.ref}: container {container['name']} needs preStop {pre_stop}s + drain "
                    f"{drain}s = {pre_stop + drain}s, more than terminationGracePeriodSeconds {grace}s"
                )
    return problems


_NGINX_LOOPBACK_UPSTREAM = re.compile(r"server\s+(?:127\.0\.0\.1|localhost|\[::1\]):([0-9]+)")


def traffic_outlives_endpoints(cluster: Cluster) -> list[str]:
    """No container that takes traffic stops accepting it before the pod has left the Service's endpoints.

    Kubernetes runs every container's preStop hook at once, then sends each container SIGTERM; a container without
    a preStop delay gets SIGTERM at once, while the endpoint removal is still reaching kube-proxy and the load
    balancer. The containers that take traffic are those owning a port a Service targets, and those a sibling
    nginx proxies to over loopback (``server 127.0.0.1:PORT``). Each must wait in preStop: a Service-facing
    container at all, a proxied one at least as long as the proxy does before it begins to drain (the proxy keeps
    forwarding new requests until then; vllm-router, for one, refuses new connections at SIGTERM).
    """
    problems = []
    for pod in cluster.pod_templates():
        containers = list(pod.containers(init=False))
        services = [
            service for service in cluster.of_kind("Service")
            if _ns(service) == pod.namespace and (service.get("spec") or {}).get("selector")
            and selector_matches(_map_selector(service["spec"]["selector"]), pod.labels)
        ]  # fmt: skip
        if not services:
            continue
        facing = set()
        for service in services:
            for port in service["spec"].get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                for container in containers:
                    names = {p.get("name") for p in container.get("ports") or []}
                    numbers = {int(p["containerPort"]) for p in container.get("ports") or []}
                    if target in names or (isinstance(target, int) and target in numbers):
                        facing.add(container["name"])
        for container in containers:
            if container["name"] in facing and pre_stop_sleep_seconds(container) == 0:
                problems.append(f"{pod.ref}: container {container['name']} takes Service traffic and has no preStop "
                                "delay: it gets SIGTERM while the pod is still in the endpoints")  # fmt: skip
            if not container.get("image", "").startswith("nginx"):
                continue
            for upstream_port in _NGINX_LOOPBACK_UPSTREAM.findall(_nginx_conf(cluster, pod, container)):
                for sibling in containers:
                    if sibling is container or int(upstream_port) not in {
                        int(p["containerPort"]) for p in sibling.get("ports") or []
                    }:
                        continue
                    if pre_stop_sleep_seconds(sibling) < pre_stop_sleep_seconds(container):
                        problems.append(
                            f"{pod.ref}: container {sibling['name']} (nginx proxies to it on "
                            f"127.0.0.1:{upstream_port}) "
                            f"waits {pre_stop_sleep_seconds(sibling)}s in preStop, container {container['name']} "
                            f"{pre_stop_sleep_seconds(container)}s: it refuses requests nginx still forwards"
                        )
    return problems


# ------------------------------------------------------------------------------------------- disruptions, rollouts
def _scale(value: Any, replicas: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def replica_range(cluster: Cluster, workload: dict[str, Any]) -> tuple[int, int]:
    """(fewest, most) replicas of a workload: an HPA's or ScaledObject's bounds when one targets it, else
    ``spec.replicas`` (default 1)."""
    for scaler in cluster.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        spec = scaler.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        if target.get("name") == workload["metadata"]["name"] and _ns(scaler) == _ns(workload):
            if scaler["kind"] == "ScaledObject":
                return int(spec.get("minReplicaCount", 0)), int(spec.get("maxReplicaCount", 100))
            return int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    replicas = int((workload.get("spec") or {}).get("replicas", 1))
    return replicas, replicas


def disruptions_allowed(cluster: Cluster) -> list[str]:
    """No PDB blocks an eviction forever and no Deployment rollout waits forever:

    - a PDB's pods can always lose one to a drain: minAvailable < the fewest replicas, maxUnavailable ≥ 1;
    - a RollingUpdate does not set maxSurge and maxUnavailable both to 0 (the API server rejects it);
    - a RollingUpdate that keeps every replica (maxUnavailable resolves to 0; Kubernetes rounds it down, maxSurge
      up) at its most replicas has room for the surge pods on the planned node groups it is pinned to:
      maxSize × pods per node (GPUs per node / GPUs per pod) ≥ most replicas + maxSurge. Otherwise a rollout at full
      scale waits for a node the group may not add.
    """
    problems = []
    workloads = cluster.of_kind("Deployment", "StatefulSet")
    for pdb in cluster.of_kind("PodDisruptionBudget"):
        spec = pdb.get("spec") or {}
        for workload in workloads:
            labels = (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            if _ns(workload) != _ns(pdb) or not selector_matches(spec.get("selector"), labels):
                continue
            fewest, _ = replica_range(cluster, workload)
            if fewest == 0:
                continue  # scaled to zero: nothing to evict
            if "minAvailable" in spec and _scale(spec["minAvailable"], fewest, round_up=True) >= fewest:
                problems.append(f"{_ref(pdb)}: minAvailable {spec['minAvailable']} of {fewest} replica(s) of "
                                f"{_ref(workload)} lets no pod be evicted: node drains block forever")  # fmt: skip
            if "maxUnavailable" in spec and _scale(spec["maxUnavailable"], fewest, round_up=True) < 1:
                problems.append(f"{_ref(pdb)}: maxUnavailable {spec['maxUnavailable']} lets no pod of "
                                f"{_ref(workload)} be evicted: node drains block forever")  # fmt: skip
    pods = {(p.kind, p.namespace, p.name): p for p in cluster.pod_templates()}
    for deployment in cluster.of_kind("Deployment"):
        strategy = (deployment.get("spec") or {}).get("strategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            continue
        rolling = strategy.get("rollingUpdate") or {}
        max_surge, max_unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
        if max_surge in (0, "0%") and max_unavailable in (0, "0%"):
            problems.append(f"{_ref(deployment)}: maxSurge and maxUnavailable are both 0 (rejected by the API server)")
            continue
        _, most = replica_range(cluster, deployment)
        surge = _scale(max_surge, most, round_up=True)
        if _scale(max_unavailable, most, round_up=False) >= 1 or surge < 1:
            continue
        pod = pods[("Deployment", _ns(deployment), deployment["metadata"]["name"])]
        gpus = int(pod_requests(pod.spec).get(GPU_RESOURCE, 0))
        groups = node_groups_of(cluster, pod)
        if not gpus or not groups:
            continue
        room = sum(
            int((group.get("scalingConfig") or {}).get("maxSize", 0)) * (node_allocatable(instance_type).gpus // gpus)
            for group in groups for instance_type in group.get("instanceTypes") or []
        )  # fmt: skip
        if room < most + surge:
            problems.append(f"{_ref(deployment)}: a rollout at {most} replicas needs {most + surge} pods at once "
                            f"(maxSurge {max_surge}, maxUnavailable {max_unavailable}); its node groups hold "
                            f"{room}")  # fmt: skip
    return problems


# ----------------------------------------------------------------------------------------------- network policies
@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: a pod's namespace, labels and (for a destination) its ports."""

    namespace: str
    labels: dict[str, str]
    named_ports: dict[str, tuple[int, str]]
    description: str


def _endpoint(pod: PodTemplate) -> Endpoint:
    return Endpoint(pod.namespace, dict(pod.labels), pod.named_ports(), pod.ref)


def _peer_matches(cluster: Cluster, policy: dict[str, Any], peer: dict[str, Any], other: Endpoint) -> bool:
    if "ipBlock" in peer:
        # ipBlock is for traffic from outside the cluster (NetworkPolicy API); pod-to-pod flows need a selector.
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], cluster.namespace_labels(other.namespace)):
            return False
    elif other.namespace != _ns(policy):
        return False
    return selector_matches(peer.get("podSelector", {}), other.labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str, target: Endpoint) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            if target.named_ports.get(wanted) == (port, protocol):
                return True
            continue
        if int(wanted) <= port <= int(entry.get("endPort", wanted)):
            return True
    return False


def _policy_types(policy: dict[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def allowed(cluster: Cluster, source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP") -> str | None:
    """None if the planned NetworkPolicies let ``source`` open ``port``/``protocol`` on ``target``, else why not."""
    for direction, selected, peer_side, rules_key, peers_key in (
        ("Egress", source, target, "egress", "to"),
        ("Ingress", target, source, "ingress", "from"),
    ):
        policies = [
            policy for policy in cluster.of_kind("NetworkPolicy")
            if _ns(policy) == selected.namespace and direction in _policy_types(policy)
            and selector_matches((policy.get("spec") or {}).get("podSelector"), selected.labels)
        ]  # fmt: skip
        if not policies:
            continue  # not isolated in this direction
        if not any(
            _port_matches(rule, port, protocol, target)
            and (not rule.get(peers_key) or any(_peer_matches(cluster, p, peer, peer_side) for peer in rule[peers_key]))
            for p in policies for rule in (p.get("spec") or {}).get(rules_key) or []
        ):  # fmt: skip
            names = ", ".join(p["metadata"]["name"] for p in policies)
            return f"{direction.lower()} of {selected.description} (policies {names}) does not allow it"
    return None


def network_flows(cluster: Cluster) -> list[str]:
    """The flows the stack needs, under its NetworkPolicies:

    - every balancer pod (``app.kubernetes.io/component: balancer``) reaches every vLLM pod
      (``component: inference``) it can route to, on vLLM's serving port;
    - a Prometheus pod in each PodMonitor's Prometheus namespace reaches every port the PodMonitors scrape;
    - every pod isolated for egress reaches the cluster DNS (kube-system ``k8s-app: kube-dns``) on UDP and TCP 53.
    """
    problems = []
    pods = cluster.pod_templates()
    balancers = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "balancer"]
    servers = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "inference"]
    for balancer in balancers:
        for server in servers:
            if server.namespace != balancer.namespace:
                continue
            for port, protocol in server.port_numbers():
                why = allowed(cluster, _endpoint(balancer), _endpoint(server), port, protocol)
                if why:
                    problems.append(f"{balancer.ref} cannot reach {server.ref} on {port}/{protocol}: {why}")
    for monitor in cluster.of_kind("PodMonitor"):
        spec = monitor.get("spec") or {}
        prometheus = Endpoint(
            "monitoring", PROMETHEUS_POD_LABELS, {}, "a Prometheus pod in monitoring"
        )  # kube-prometheus-stack's namespace (vllm_infra.config.addons)
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [_ns(monitor)]
        for target in [
            p for p in pods if p.namespace in namespaces and selector_matches(spec.get("selector"), p.labels)
        ]:
            for endpoint in spec.get("podMetricsEndpoints") or []:
                port = target.named_ports().get(endpoint.get("port"))
                if port is None:
                    continue  # selectors_select reports it
                why = allowed(cluster, prometheus, _endpoint(target), *port)
                if why:
                    problems.append(f"{_ref(monitor)}: Prometheus cannot scrape {target.ref} on {port[0]}: {why}")
    dns = Endpoint(DNS_POD["namespace"], DNS_POD["labels"], {}, "CoreDNS")
    for pod in pods:
        for port, protocol in sorted(DNS_POD["ports"]):
            why = allowed(cluster, _endpoint(pod), dns, port, protocol)
            if why:
                problems.append(f"{pod.ref} cannot resolve names (DNS {port}/{protocol}): {why}")
    return problems


CHECKS = {
    "selectors_select": selectors_select,
    "refs_resolve": refs_resolve,
    "pods_fit_nodes": pods_fit_nodes,
    "tolerations_cover_taints": tolerations_cover_taints,
    "grace_covers_drain": grace_covers_drain,
    "traffic_outlives_endpoints": traffic_outlives_endpoints,
    "disruptions_allowed": disruptions_allowed,
    "network_flows": network_flows,
}
