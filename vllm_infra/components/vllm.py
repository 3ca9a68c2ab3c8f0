"""``VllmDeployment``: the serving unit — a vLLM Deployment, its Service and PodDisruptionBudget."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra import vllm_release
from vllm_infra.components.model_cache import HF_HOME
from vllm_infra.components.options import child_options
from vllm_infra.components.secrets import SecretKeyRef
from vllm_infra.config import ModelSpec, engine_flags
from vllm_infra.config.capacity import pod_node_selector
from vllm_infra.kube.disruption import pod_disruption_budget_spec
from vllm_infra.kube.labels import MODEL_LABEL, label_selector, object_meta, selector_labels, standard_labels
from vllm_infra.kube.pods import GPU_RESOURCE, SCRATCH, empty_dir_volume, gpu_tolerations, scratch_env, scratch_volume
from vllm_infra.kube.probes import http_probe, startup_probe
from vllm_infra.kube.security import pod_security_context, restricted_security_context
from vllm_infra.kube.timeouts import minutes
from vllm_infra.policies.opt_out import opt_out_annotations
from vllm_infra.sizing.placement import GpuPlacement, ReplicaResources

HTTP_PORT_NAME = "http"
# The vLLM image is ~10 GiB; the first pull on a fresh GPU node takes minutes and counts against `pulumi up`'s wait.
IMAGE_PULL_ALLOWANCE_SECONDS = 600


def vllm_serve_args(model: ModelSpec, tensor_parallel_size: int, port: int = vllm_release.VLLM_PORT) -> list[str]:
    """The container args of ``vllm serve`` (the image's entrypoint) for ``model``: the repository id first
    (positional), then one flag per typed setting, then ``engine.extraArgs``. ``tensor_parallel_size`` is the
    resolved one (``GpuPlacement.tensor_parallel_size``). The flags, their order and how each value renders come from
    the one table ``vllm_infra.config.engine_flags.ENGINE_FLAGS``.

    Every flag exists in the pinned vLLM release (``tests/config/test_engine_flags.py`` proves it from the table
    against the release's own argument definitions). The API key is not here: vLLM reads ``VLLM_API_KEY`` from the
    environment.

    >>> vllm_serve_args(ModelSpec(name="m", model="org/m", weights_gib=1), 1)[:3]
    ['org/m', '--host', '0.0.0.0']
    """
    return engine_flags.serve_args(engine_flags.ServeInputs(model, tensor_parallel_size, port))


@dataclass
class VllmDeploymentArgs:
    """Inputs of ``VllmDeployment``.

    Example::

        VllmDeploymentArgs(namespace="vllm", model=spec, placement=placement,
                           resources=replica_resources(spec, placement), image=VLLM_IMAGE,
                           api_key=secrets.api_key, cache_claim_name=cache.claim_name)
    """

    namespace: pulumi.Input[str]
    """The namespace of the Deployment, Service and PDB (``vllm-infra:namespace``)."""
    model: ModelSpec
    """What to serve and how (``vllm-infra:models[]``): engine flags, replicas, lifecycle, security, cache mode."""
    placement: GpuPlacement
    """Where a replica runs (instance type, tensor-parallel size, GPU tier): ``StackConfig.placement(model)``, or
    ``place_model`` when composing by hand."""
    resources: ReplicaResources
    """What a replica requests there (GPUs, CPU, memory, ``/dev/shm``): ``StackConfig.resources(model)``, or
    ``replica_resources``."""
    image: str
    """The vLLM server image (``vllm-infra:vllmImage``), pinned to a release."""
    api_key: SecretKeyRef
    """The Secret key vLLM reads as ``VLLM_API_KEY`` (``InferenceSecrets.api_key``); every ``/v1`` route then
    requires it."""
    cache_claim_name: pulumi.Input[str]
    """The ``ModelCache`` claim mounted as the Hugging Face cache (``ModelCache.claim_name``)."""
    pre_warmed: bool = True
    """The cache was filled by the pre-warm Job (``vllm-infra:models[].cache.prewarm``): the pods run offline
    (``HF_HUB_OFFLINE=1``) and never call the Hub, so a scale-out cannot be rate-limited. True by default."""
    hf_token: SecretKeyRef | None = None
    """The Hugging Face token (``InferenceSecrets.hf_token``), only used when the cache is not pre-warmed (each pod
    then downloads the weights itself); None by default."""
    autoscaled: bool = False
    """An autoscaler owns ``spec.replicas`` (``vllm-infra:models[].autoscaling`` set): it is left out so
    ``pulumi up`` never resets it. False by default: ``model.replicas`` is applied."""
    network_policies: bool = True
    """False when the stack deliberately runs without NetworkPolicies (``vllm-infra:networkPolicies.enabled:
    false``): the Deployment is then annotated so the ``vllm-network-policy`` rule reports an advisory warning
    instead of failing (``vllm_infra.policies.opt_out``). Keep True (the default) when you create them."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to the Deployment, its pods, the Service and the PDB, beside the standard ones; none by
    default."""


class VllmDeployment(pulumi.ComponentResource):
    """A vLLM Deployment ``<model>``, a ClusterIP Service ``<model>`` on port 8000 and a PodDisruptionBudget.

    Production behaviour, each from a lesson of the field:
    - startup probe budget derived from the model's size, so a 70B model is not killed while loading; liveness only
      starts after it; ``pulumi up`` waits as long (custom timeouts) and the rollout deadline is as long;
    - GPU limit = tensor-parallel size, the ``nvidia.com/gpu`` toleration, a memory-backed ``/dev/shm``;
    - rolling updates surge one replica and never take one away first (``maxUnavailable: 0``) when the cache is
      ReadWriteMany; with a ReadWriteOnce cache the single replica is recreated, since a second pod cannot attach it;
    - termination: preStop waits for endpoint removal, then vLLM drains in-flight requests (``--shutdown-timeout``)
      within a grace period long enough for both.

    Example::

        placement = place_model(spec)
        VllmDeployment("llama-8b", VllmDeploymentArgs(namespace="vllm", model=spec, placement=placement,
                       resources=replica_resources(spec, placement), image=VLLM_IMAGE,
                       api_key=secrets.api_key, cache_claim_name=cache.claim_name),
                       opts=pulumi.ResourceOptions(depends_on=[cache.ready]))
    """

    args: VllmDeploymentArgs
    """The inputs the component was built from."""
    deployment_name: pulumi.Output[str]
    """The Deployment's name (what an ``Autoscaler`` scales)."""
    service_name: pulumi.Output[str]
    """The ClusterIP Service's name."""
    url: pulumi.Output[str]
    """The in-cluster URL of the Service (``http://<service>.<namespace>.svc.cluster.local:8000``)."""

    def __init__(self, name: str, args: VllmDeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:vllm:VllmDeployment", name, None, opts)
        self.args = args
        model = args.model
        selector = selector_labels("inference", model.name)
        labels = standard_labels("inference", model.name, {MODEL_LABEL: model.name, **args.extra_labels})
        budget = model.startup_budget_seconds
        grace = model.lifecycle.pre_stop_seconds + model.lifecycle.drain_seconds + 30

        deployment_spec: dict = {
            "selector": label_selector(selector),
            "strategy": self._strategy(model),
            # The default (600 s) marks a large model's healthy rollout as failed while it is still loading.
            "progressDeadlineSeconds": budget + IMAGE_PULL_ALLOWANCE_SECONDS,
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {"labels": labels},
                "spec": self._pod_spec(args, budget, grace),
            },
        }
        if not args.autoscaled:
            deployment_spec["replicas"] = model.replicas
        # else: the autoscaler owns spec.replicas; leaving it out keeps server-side apply from resetting it.

        wait = minutes(budget + IMAGE_PULL_ALLOWANCE_SECONDS + 300)
        # On the Deployment, not the pod template: recording the opt-out must not roll the pods.
        opted_out = {} if args.network_policies else {"annotations": opt_out_annotations(
            {"vllm-network-policy": "networkPolicies.enabled: false"})}  # fmt: skip
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=object_meta(model.name, args.namespace, labels, **opted_out),
            spec=deployment_spec,
            opts=child_options(self, opts, custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait)),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(model.name, args.namespace, labels),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": HTTP_PORT_NAME, "port": vllm_release.VLLM_PORT, "targetPort": HTTP_PORT_NAME}],
            },
            opts=child_options(self, opts),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=object_meta(f"{model.name}-pdb", args.namespace, labels),
            # One at a time: a node drain never takes several replicas of a model down together, and a single
            # replica can still be evicted. A pod that never became ready serves nothing; let drains evict it.
            spec=pod_disruption_budget_spec(selector, max_unavailable=1, unhealthy_pod_eviction_policy="AlwaysAllow"),
            opts=child_options(self, opts),
        )

        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.url = pulumi.Output.concat(
            "http://", service.metadata.name, ".", service.metadata.namespace, ".svc.cluster.local:",
            str(vllm_release.VLLM_PORT),
        )  # fmt: skip
        self.register_outputs(
            {
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "url": self.url,
                "served_model_name": model.served_name,
            }
        )

    @staticmethod
    def _strategy(model: ModelSpec) -> dict:
        if model.cache.access_mode == "ReadWriteOnce":
            return {"type": "Recreate"}
        return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}

    @staticmethod
    def _pod_spec(args: VllmDeploymentArgs, budget: int, grace: int) -> dict:
        model, resources = args.model, args.resources
        gpus = str(resources.gpus)
        env = [
            args.api_key.env("VLLM_API_KEY"),
            {"name": "HF_HOME", "value": HF_HOME},
            # vLLM's own engine-start timeout (600 s by default) would abort a large model before the probe budget.
            {"name": "VLLM_ENGINE_READY_TIMEOUT_S", "value": str(budget)},
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
            *scratch_env(),
        ]
        if args.pre_warmed:
            env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
        elif args.hf_token is not None:
            env.append(args.hf_token.env("HF_TOKEN"))

        container = {
            "name": "vllm",
            "image": args.image,
            "imagePullPolicy": "IfNotPresent",
            "args": vllm_serve_args(model, args.placement.tensor_parallel_size),
            "env": env,
            "ports": [{"name": HTTP_PORT_NAME, "containerPort": vllm_release.VLLM_PORT, "protocol": "TCP"}],
            "resources": {
                "requests": {"cpu": resources.cpu, "memory": resources.memory, GPU_RESOURCE: gpus},
                "limits": {"memory": resources.memory, GPU_RESOURCE: gpus},
            },
            "startupProbe": startup_probe("/health", HTTP_PORT_NAME, budget),
            "readinessProbe": http_probe(
                "/health", HTTP_PORT_NAME, period_seconds=5, timeout_seconds=5, failure_threshold=3
            ),
            # Generous: /health queues behind a saturated engine, and a restart costs a full model load.
            "livenessProbe": http_probe(
                "/health", HTTP_PORT_NAME, period_seconds=15, timeout_seconds=10, failure_threshold=6
            ),
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(model.lifecycle.pre_stop_seconds)]}}},
            "securityContext": restricted_security_context(
                model.security.run_as_user, model.security.read_only_root_filesystem
            ),
            "volumeMounts": [
                {"name": "model-cache", "mountPath": HF_HOME},
                {"name": "dshm", "mountPath": "/dev/shm"},
                {"name": "scratch", "mountPath": SCRATCH},
            ],
        }
        pod_spec: dict = {
            "containers": [container],
            "terminationGracePeriodSeconds": grace,
            "securityContext": pod_security_context(model.security.run_as_user),
            # vLLM never talks to the Kubernetes API: no service-account token in the pod.
            "automountServiceAccountToken": False,
            "tolerations": gpu_tolerations(),
            "volumes": [
                {"name": "model-cache", "persistentVolumeClaim": {"claimName": args.cache_claim_name}},
                empty_dir_volume("dshm", resources.shm_gib, memory=True),
                scratch_volume(model.security.scratch_size_gib),
            ],
            "nodeSelector": pod_node_selector(model, args.placement),
        }
        return pod_spec
