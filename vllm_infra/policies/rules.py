"""The vLLM production checklist and this library's own rules, as plain functions over captured resources.

Each rule is a ``Policy`` (see ``vllm_infra.policies.model``): call it with one ``Resource`` (resource rules) or the
stack's resources (stack rules) and get ``Violation`` objects whose message names the field and the fix.
``evaluate`` runs them all; ``ALL_POLICIES`` is the registry the CrossGuard pack wraps.

Example::

    from vllm_infra.offline.runner import plan_stack
    from vllm_infra.policies import evaluate, resources_from_plan

    for violation in evaluate(resources_from_plan(plan_stack("single"))):
        print(violation)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi.runtime import rpc

from vllm_infra.kube.pods import GPU_RESOURCE
from vllm_infra.policies.kube import (
    Container,
    api_group_of,
    as_int,
    containers,
    dig,
    is_kubernetes,
    is_unknown,
    kind_of,
    labels_of,
    namespace_of,
    object_name,
    parse_flags,
    parse_image,
    pod_labels,
    same_namespace,
    selector_matches,
    unwrap,
    vllm_containers,
)
from vllm_infra.policies.model import (
    EnforcementLevel,
    Policy,
    Resource,
    Violation,
    opted_out_twin,
    resource_policy,
    stack_policy,
)

API_KEY_ENV = "VLLM_API_KEY"
CACHE_COMPONENT_LABEL = ("app.kubernetes.io/component", "cache")
# vLLM reloads weights on every cold start (minutes for a large model): scaling down faster than this flaps.
MIN_SCALE_DOWN_SECONDS = 60
WORKLOAD_KINDS = ("Deployment",)


# --- resource rules -----------------------------------------------------------------------------------------------


@resource_policy(
    "vllm-gpu-limit-matches-parallelism",
    "A vLLM container's nvidia.com/gpu limit equals the GPUs its engine uses: --tensor-parallel-size × "
    "--pipeline-parallel-size (× the local data-parallel size). Fewer GPUs and the engine fails to start; more are "
    "reserved and never used.",
)
def gpu_limit_matches_parallelism(resource: Resource) -> Iterator[str]:
    """Per vLLM server container (image ``vllm/vllm-openai``, serving): reads ``--tensor-parallel-size``/``-tp``,
    ``--pipeline-parallel-size``/``-pp`` and the local data-parallel size from ``command``+``args`` and compares their
    product with ``resources.limits["nvidia.com/gpu"]`` (a string, int or float). Multi-node engines are skipped.

    Example: ``--tensor-parallel-size 2`` with ``limits: {"nvidia.com/gpu": "1"}`` → "... is '1' but
    --tensor-parallel-size 2 uses 2 GPUs; set it to 2".
    """
    for container in vllm_containers(resource):
        flags = parse_flags(container.argv)
        if _spans_nodes(flags):
            # A multi-node engine (Ray, --nnodes > 1) puts only part of the world on this pod: the per-pod count
            # cannot be derived from the flags alone.
            continue
        tensor_parallel = _flag_int(flags, "--tensor-parallel-size")
        pipeline_parallel = _flag_int(flags, "--pipeline-parallel-size")
        local_dp = _local_data_parallel(flags)
        if tensor_parallel is None or pipeline_parallel is None or local_dp is None:
            continue  # an unparseable value is the engine's error to report, not ours
        expected = tensor_parallel * pipeline_parallel * local_dp
        limits = dig(container.spec, "resources", "limits")
        if limits is None and _has_unknown_limits(container):
            continue  # not known until apply
        limit_raw = unwrap(limits.get(GPU_RESOURCE)) if isinstance(limits, Mapping) else None
        if is_unknown(limit_raw):
            continue
        field = f'{container.path}.resources.limits["{GPU_RESOURCE}"]'
        how = _parallelism_text(flags, expected)
        if limit_raw is None:
            yield (
                f"container '{container.name}': {field} is not set but {how}; set it to {expected} "
                "(GPUs are only allocated through limits)"
            )
            continue
        limit = as_int(limit_raw)
        if limit != expected:
            yield f"container '{container.name}': {field} is {limit_raw!r} but {how}; set it to {expected}"


# With one of these, each pod runs only its own data-parallel ranks (external or hybrid load balancing).
_PER_POD_DP_FLAGS = ("--data-parallel-rank", "--data-parallel-start-rank", "--data-parallel-external-lb",
                     "--data-parallel-hybrid-lb")  # fmt: skip


def _local_data_parallel(flags: Mapping[str, str | None]) -> int | None:
    if "--data-parallel-size-local" in flags:
        return _flag_int(flags, "--data-parallel-size-local")
    if any(flag in flags for flag in _PER_POD_DP_FLAGS):
        return 1
    return _flag_int(flags, "--data-parallel-size")


def _spans_nodes(flags: Mapping[str, str | None]) -> bool:
    nnodes = _flag_int(flags, "--nnodes")
    return (nnodes or 1) > 1 or flags.get("--distributed-executor-backend") == "ray" or "--headless" in flags


def _flag_int(flags: Mapping[str, str | None], flag: str, default: int | None = 1) -> int | None:
    if flag not in flags:
        return default
    return as_int(flags[flag])


def _parallelism_text(flags: Mapping[str, str | None], expected: int) -> str:
    parts = [f"{flag} {flags[flag]}" for flag in (
        "--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--data-parallel-size-local"
    ) if flag in flags]  # fmt: skip
    if not parts:
        return f"the engine uses {expected} GPU (--tensor-parallel-size defaults to 1)"
    return f"{', '.join(parts)} uses {expected} GPU{'s' if expected != 1 else ''}"


def _has_unknown_limits(container: Container) -> bool:
    resources = unwrap(container.spec.get("resources"))
    return is_unknown(resources) or (isinstance(resources, Mapping) and is_unknown(unwrap(resources.get("limits"))))


@resource_policy(
    "vllm-probes",
    "A vLLM container has a startupProbe (model loading takes minutes), a readinessProbe (no traffic before the "
    "engine is up) and a livenessProbe (a wedged engine is restarted).",
)
def vllm_probes(resource: Resource) -> Iterator[str]:
    """Per vLLM server container: ``startupProbe``, ``readinessProbe`` and ``livenessProbe`` must all be set.

    Example: a container without ``startupProbe`` → "...containers[0].startupProbe is missing; add an httpGet probe".
    """
    for container in vllm_containers(resource):
        missing = [probe for probe in ("startupProbe", "readinessProbe", "livenessProbe")
                   if container.spec.get(probe) is None]  # fmt: skip
        if missing:
            yield (
                f"container '{container.name}': {', '.join(f'{container.path}.{p}' for p in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing; add an httpGet probe on /health for each "
                "(the startup probe's failureThreshold × periodSeconds must cover the model's load time)"
            )


@resource_policy(
    "images-pinned",
    "Every container image names a release tag (not latest, not empty) or a digest, so a reschedule never pulls "
    "different code.",
)
def images_pinned(resource: Resource) -> Iterator[str]:
    """Per container (init, regular, ephemeral) of any workload: ``image`` has a tag other than ``latest`` or a
    digest; a registry port (``host:5000/app``) is not a tag. Unknown images (preview) are skipped.

    Example: ``nginx`` → "...image 'nginx' has no tag (the runtime pulls 'latest'); pin a release tag ...".
    """
    for container in containers(resource):
        image = container.image
        if image is None:
            raw = container.spec.get("image")
            if raw is not None and is_unknown(unwrap(raw)):
                continue
            yield f"container '{container.name}': {container.path}.image is not set; set an image with a tag or digest"
            continue
        if not isinstance(image, str):
            continue
        ref = parse_image(image)
        if ref.pinned:
            continue
        reason = "uses the tag 'latest'" if ref.tag == "latest" else "has no tag (the runtime pulls 'latest')"
        yield (
            f"container '{container.name}': {container.path}.image '{image}' {reason}; pin a release tag "
            f"(e.g. {ref.repository}:v1.2.3) or a digest ({ref.repository}@sha256:...)"
        )


@resource_policy(
    "vllm-api-key-from-secret",
    "A vLLM container reads VLLM_API_KEY from a Kubernetes Secret (env valueFrom.secretKeyRef): never a literal env "
    "value, never --api-key on the command line (visible in the pod spec, `ps` and logs).",
)
def api_key_from_secret(resource: Resource) -> Iterator[str]:
    """Per vLLM server container: ``env`` has ``VLLM_API_KEY`` with ``valueFrom.secretKeyRef`` (a literal ``value``,
    even a Pulumi secret, is readable in the pod spec), and no ``--api-key`` flag on the command line.

    Example: ``{"name": "VLLM_API_KEY", "value": "sk-..."}`` → "...env[0] sets VLLM_API_KEY as a literal value ...".
    """
    for container in vllm_containers(resource):
        flags = parse_flags(container.argv)
        if "--api-key" in flags:
            yield (
                f"container '{container.name}': --api-key is passed in {container.path}.args; remove it and set env "
                f"{API_KEY_ENV} from a Secret (valueFrom.secretKeyRef) instead"
            )
        entries = [(i, entry) for i, entry in enumerate(container.env()) if unwrap(entry.get("name")) == API_KEY_ENV]
        if not entries:
            yield (
                f"container '{container.name}': {container.path}.env has no {API_KEY_ENV}, so every /v1 route is "
                f"open; add {{name: {API_KEY_ENV}, valueFrom: {{secretKeyRef: {{name: <secret>, key: <key>}}}}}}"
            )
            continue
        for index, entry in entries:
            field = f"{container.path}.env[{index}]"
            if entry.get("value") is not None:
                yield (
                    f"container '{container.name}': {field} sets {API_KEY_ENV} as a literal value (readable by anyone "
                    "who can read the Deployment); use valueFrom.secretKeyRef to a Secret instead"
                )
            elif dig(entry, "valueFrom", "secretKeyRef") is None and not is_unknown(unwrap(entry.get("valueFrom"))):
                yield (
                    f"container '{container.name}': {field} does not read {API_KEY_ENV} from a Secret; set "
                    "valueFrom.secretKeyRef {name: <secret>, key: <key>}"
                )


@resource_policy(
    "secret-values-are-pulumi-secrets",
    "Every value of a Kubernetes Secret's data/stringData is a Pulumi secret (config.require_secret, "
    "Output.secret), never a literal in the program: literals end up in plain text in the program's history.",
    needs_secret_markers=True,
)
def secret_values_are_secrets(resource: Resource) -> Iterator[str]:
    """For ``kubernetes:core/v1:Secret``: each ``data``/``stringData`` value (or the whole map) carries Pulumi's
    secret marker. Needs inputs with markers intact (the offline runner's), hence offline-only in the pack.

    Example: ``stringData={"api-key": "sk-plain"}`` → 'stringData["api-key"] is a plain value; pass it as a Pulumi
    secret ...'.
    """
    if not is_kubernetes(resource) or kind_of(resource) != "Secret" or api_group_of(resource) != "core":
        return
    for field_name in ("data", "stringData"):
        values = resource.inputs.get(field_name)
        if values is None or rpc.is_rpc_secret(values):
            continue  # a whole map marked secret covers every value in it
        if not isinstance(values, Mapping):
            continue
        for key in sorted(values):
            value = values[key]
            if rpc.is_rpc_secret(value) or is_unknown(value):
                continue
            yield (
                f'{field_name}["{key}"] is a plain value; pass it as a Pulumi secret '
                "(pulumi.Config().require_secret(...) or pulumi.Output.secret(...))"
            )


@resource_policy(
    "autoscaler-bounds",
    "Autoscaler bounds are sane: an HPA never goes below 1 replica (scale-to-zero only through KEDA, written "
    "explicitly), max ≥ min, and scale-down waits ≥ 60 s (a vLLM cold start costs minutes).",
)
def autoscaler_bounds(resource: Resource) -> Iterator[str]:
    """For HPAs (``autoscaling/*``): ``minReplicas`` ≥ 1 (default 1), ``maxReplicas`` set and ≥ min,
    ``behavior.scaleDown.stabilizationWindowSeconds`` ≥ 60 when set. For KEDA ScaledObjects (``keda.sh``, typed or
    ``CustomResource``): ``minReplicaCount`` written explicitly (KEDA defaults to 0), max ≥ min, ``cooldownPeriod``
    and the HPA scale-down window ≥ 60 s when set.

    Example: ``{"minReplicas": 0, "maxReplicas": 2}`` → "spec.minReplicas is 0; set it to at least 1 ...".
    """
    kind, group = kind_of(resource), api_group_of(resource)
    if not is_kubernetes(resource):
        return
    if kind == "HorizontalPodAutoscaler" and group == "autoscaling":
        yield from _hpa_bounds(resource)
    elif kind == "ScaledObject" and group == "keda.sh":
        yield from _keda_bounds(resource)


def _hpa_bounds(resource: Resource) -> Iterator[str]:
    spec = dig(resource.inputs, "spec") or {}
    min_raw, max_raw = spec.get("minReplicas"), spec.get("maxReplicas")
    minimum = 1 if min_raw is None else as_int(min_raw)
    maximum = as_int(max_raw)
    if minimum is not None and minimum < 1:
        yield (
            f"spec.minReplicas is {minimum}; set it to at least 1 (scale-to-zero needs the alpha HPAScaleToZero gate; "
            "use a KEDA ScaledObject with an explicit minReplicaCount: 0 instead)"
        )
    if max_raw is None and not is_unknown(unwrap(max_raw)):
        yield "spec.maxReplicas is not set; set it (it is required and caps the GPU spend)"
    elif minimum is not None and maximum is not None and maximum < minimum:
        yield f"spec.maxReplicas {maximum} is below spec.minReplicas {minimum}; set maxReplicas ≥ minReplicas"
    window = dig(spec, "behavior", "scaleDown", "stabilizationWindowSeconds")
    yield from _min_seconds("spec.behavior.scaleDown.stabilizationWindowSeconds", window)


def _keda_bounds(resource: Resource) -> Iterator[str]:
    spec = dig(resource.inputs, "spec") or {}
    min_raw, max_raw = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
    if min_raw is None and "minReplicaCount" not in spec:
        yield (
            "spec.minReplicaCount is not set, so KEDA scales to zero by default; set it to 1, or to 0 to opt into "
            "scale-to-zero explicitly"
        )
    minimum = 0 if min_raw is None else as_int(min_raw)
    maximum = 100 if max_raw is None else as_int(max_raw)  # KEDA's default maxReplicaCount
    if minimum is not None and minimum < 0:
        yield f"spec.minReplicaCount is {minimum}; set it to 0 (explicit scale-to-zero) or more"
    if minimum is not None and maximum is not None and maximum < minimum:
        yield (
            f"spec.maxReplicaCount {maximum} is below spec.minReplicaCount {minimum}; "
            "set maxReplicaCount ≥ minReplicaCount"
        )
    if maximum is not None and maximum < 1:
        yield f"spec.maxReplicaCount is {maximum}; set it to at least 1"
    yield from _min_seconds("spec.cooldownPeriod", spec.get("cooldownPeriod"))
    hpa_config = dig(spec, "advanced", "horizontalPodAutoscalerConfig")
    window = dig(hpa_config, "behavior", "scaleDown", "stabilizationWindowSeconds")
    yield from _min_seconds(
        "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds", window
    )


def _min_seconds(field: str, raw: Any) -> Iterator[str]:
    seconds = as_int(raw)
    if raw is not None and seconds is not None and seconds < MIN_SCALE_DOWN_SECONDS:
        yield (
            f"{field} is {seconds} s; set it to at least {MIN_SCALE_DOWN_SECONDS} s (a scaled-in vLLM replica takes "
            "minutes to come back, so fast scale-down flaps)"
        )


@resource_policy(
    "model-cache-protected",
    "A PersistentVolumeClaim holding a model cache (label app.kubernetes.io/component: cache) is protected, so "
    "`pulumi destroy` or a rename cannot silently discard hundreds of GiB of downloaded weights.",
    opt_out=True,
)
def model_cache_protected(resource: Resource) -> Iterator[str]:
    """For PersistentVolumeClaims labelled ``app.kubernetes.io/component: cache``: the ``protect`` option is set.

    Example: an unprotected cache claim → "the model cache claim 'llama-cache' is not protected; set ... protect=True".
    """
    if not is_kubernetes(resource) or kind_of(resource) != "PersistentVolumeClaim":
        return
    key, value = CACHE_COMPONENT_LABEL
    if labels_of(resource).get(key) == value and not resource.protect:
        yield (
            f"the model cache claim '{object_name(resource)}' is not protected; set the resource option protect=True "
            "(cache.protect: true in the stack config)"
        )


# --- stack rules ---------------------------------------------------------------------------------------------------


def _vllm_workloads(resources: Sequence[Resource]) -> list[Resource]:
    return [r for r in resources if kind_of(r) in WORKLOAD_KINDS and is_kubernetes(r) and any(vllm_containers(r))]


def _selected_by(workload: Resource, selectors: Iterable[tuple[Resource, Any]]) -> bool:
    labels = pod_labels(workload) or {}
    for owner, selector in selectors:
        if not same_namespace(owner, workload):
            continue
        matched = selector_matches(selector, labels)
        if matched is None or matched:
            return True  # unknown at preview: give the benefit of the doubt rather than a false failure
    return False


@stack_policy(
    "vllm-pdb-covers-deployments",
    "Every vLLM Deployment's pods are selected by a PodDisruptionBudget in its namespace, so a node drain or an "
    "upgrade never evicts all replicas of a model at once.",
)
def pdb_covers_deployments(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    """Every Deployment running a vLLM server has its pod template labels matched by the ``spec.selector``
    (``matchLabels``/``matchExpressions``) of a PodDisruptionBudget in the same namespace. A selector unknown at
    preview counts as matching.

    Example: ``[deployment]`` alone → (deployment, "no PodDisruptionBudget selects the pods of Deployment ...").
    """
    budgets = [(r, dig(r.inputs, "spec", "selector")) for r in resources
               if is_kubernetes(r) and kind_of(r) == "PodDisruptionBudget"]  # fmt: skip
    for workload in _vllm_workloads(resources):
        if not _selected_by(workload, budgets):
            yield (
                workload,
                (
                    f"no PodDisruptionBudget selects the pods of Deployment '{object_name(workload)}'; add one in its "
                    "namespace whose spec.selector matches spec.template.metadata.labels (e.g. maxUnavailable: 1)"
                ),
            )


@stack_policy(
    "vllm-network-policy",
    "vLLM pods are selected by a NetworkPolicy that limits who can reach the OpenAI API.",
    EnforcementLevel.MANDATORY,
    opt_out=True,
)
def network_policy_selects_vllm(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    """Every Deployment running a vLLM server is selected by a NetworkPolicy's ``spec.podSelector`` in its
    namespace (``{}`` selects every pod).

    Example: ``[deployment]`` alone → (deployment, "no NetworkPolicy selects the pods of Deployment ...").
    """
    policies = [(r, dig(r.inputs, "spec", "podSelector")) for r in resources
                if is_kubernetes(r) and kind_of(r) == "NetworkPolicy"]  # fmt: skip
    for workload in _vllm_workloads(resources):
        if not _selected_by(workload, policies):
            yield (
                workload,
                (
                    f"no NetworkPolicy selects the pods of Deployment '{object_name(workload)}'; add one whose "
                    "spec.podSelector matches spec.template.metadata.labels and allows ingress only from the gateway "
                    "or router"
                ),
            )


@stack_policy(
    "autoscaled-replicas-unset",
    "A Deployment whose replica count an autoscaler (HPA or KEDA ScaledObject) owns does not set spec.replicas: "
    "every `pulumi up` would reset it and scale the model back down.",
)
def autoscaled_replicas_unset(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    """Every Deployment named by an HPA's or ScaledObject's ``scaleTargetRef`` (same namespace; KEDA's kind defaults
    to Deployment) leaves ``spec.replicas`` unset, or lists it in ``ignoreChanges``.

    Example: ``[deployment(replicas=2), hpa targeting it]`` → (deployment, "spec.replicas is 2 but
    HorizontalPodAutoscaler 'llama-hpa' owns the replica count; leave spec.replicas out ...").
    """
    owners: dict[tuple[str | None, str], Resource] = {}
    for scaler in resources:
        if not is_kubernetes(scaler):
            continue
        kind, group = kind_of(scaler), api_group_of(scaler)
        if (kind, group) not in (("HorizontalPodAutoscaler", "autoscaling"), ("ScaledObject", "keda.sh")):
            continue
        target = dig(scaler.inputs, "spec", "scaleTargetRef")
        if not isinstance(target, Mapping):
            continue
        # KEDA's scaleTargetRef.kind defaults to Deployment; an HPA's is required.
        target_kind = unwrap(target.get("kind")) or ("Deployment" if kind == "ScaledObject" else None)
        target_name = unwrap(target.get("name"))
        if target_kind == "Deployment" and isinstance(target_name, str):
            owners.setdefault((_namespace_key(scaler), target_name), scaler)
    for deployment in resources:
        if not is_kubernetes(deployment) or kind_of(deployment) != "Deployment":
            continue
        owner = owners.get((_namespace_key(deployment), object_name(deployment)))
        replicas = dig(deployment.inputs, "spec", "replicas")
        if owner is None or replicas is None or "spec.replicas" in deployment.ignore_changes:
            continue
        yield (
            deployment,
            (
                f"spec.replicas is {as_int(replicas) if as_int(replicas) is not None else replicas!r} but "
                f"{kind_of(owner)} '{object_name(owner)}' owns the replica count; leave spec.replicas out (or add "
                "it to ignoreChanges) so `pulumi up` does not reset the autoscaler's choice"
            ),
        )


def _namespace_key(resource: Resource) -> str | None:
    return namespace_of(resource)


# What a documented switch of the stack config turns into a warning (vllm_infra.policies.opt_out).
model_cache_protected_opted_out = opted_out_twin(model_cache_protected)
network_policy_opted_out = opted_out_twin(network_policy_selects_vllm)

# --- registry ------------------------------------------------------------------------------------------------------

ALL_POLICIES: tuple[Policy, ...] = (
    gpu_limit_matches_parallelism,
    vllm_probes,
    images_pinned,
    api_key_from_secret,
    secret_values_are_secrets,
    autoscaler_bounds,
    model_cache_protected,
    model_cache_protected_opted_out,
    pdb_covers_deployments,
    network_policy_selects_vllm,
    network_policy_opted_out,
    autoscaled_replicas_unset,
)


def evaluate(resources: Iterable[Any], policies: Iterable[Policy] = ALL_POLICIES) -> list[Violation]:
    """Run ``policies`` (default: all) over ``resources`` and return every violation, in policy order then URN.

    ``resources`` may be ``Resource`` objects, the offline runner's ``PlannedResource`` objects or ``plan_json``
    resource entries (dicts); each is converted with ``as_resource``.

    Example::

        violations = evaluate(plan_stack("single").resources)
        failing = [v for v in violations if v.mandatory]
    """
    items = [as_resource(r) for r in resources]
    found: list[Violation] = []
    for policy in policies:
        batch = [v for resource in items for v in policy(resource)] if policy.scope == "resource" else policy(items)
        found.extend(sorted(batch, key=lambda v: (v.urn, v.message)))
    return found


def as_resource(value: Any) -> Resource:
    """A ``Resource`` from a ``Resource``, a ``PlannedResource`` or a ``plan_json`` resource entry."""
    if isinstance(value, Resource):
        return value
    if isinstance(value, Mapping):
        return Resource.from_json(value)
    return Resource.from_planned(value)


def resources_from_plan(plan: Any) -> list[Resource]:
    """Every resource of an offline ``Plan`` (or a ``plan_json`` document) as ``Resource`` objects."""
    entries = plan["resources"] if isinstance(plan, Mapping) else plan.resources
    return [as_resource(entry) for entry in entries]


def policy_named(name: str) -> Policy:
    """The registered policy called ``name``; raises ``KeyError`` for an unknown name."""
    for policy in ALL_POLICIES:
        if policy.name == name:
            return policy
    raise KeyError(name)
