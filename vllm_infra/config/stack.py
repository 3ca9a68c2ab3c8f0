"""The whole stack configuration: one validated object that the stack program hands down to the topologies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, StringConstraints, field_validator, model_validator

from vllm_infra import vllm_release
from vllm_infra.balancers.registry import names_where, strategy_for
from vllm_infra.config.addons import cluster_autoscaler_chart
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.config.base import ConfigModel
from vllm_infra.config.capacity import model_node_bounds, place_model, replica_resources
from vllm_infra.config.global_lb import GlobalLoadBalancerSpec
from vllm_infra.config.model import ModelSpec
from vllm_infra.config.network import NetworkPolicySpec
from vllm_infra.config.observability import ObservabilitySpec
from vllm_infra.config.region import RegionSpec
from vllm_infra.registry import choices_phrase, registered_choice
from vllm_infra.sizing import gpu_instances
from vllm_infra.sizing.placement import GpuPlacement, ReplicaResources
from vllm_infra.topologies.registry import names_where as topologies_where
from vllm_infra.topologies.registry import topology_for, topology_names

Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class StackConfig(ConfigModel):
    """Everything one environment (Pulumi stack) declares under the ``vllm-infra`` config namespace, validated.

    Secrets (``vllm-infra:apiKey``, ``vllm-infra:hfToken``) are not part of this model: they stay Pulumi secret
    Outputs from the moment they are read and are handed to the components separately.

    Example (``stacks/Pulumi.single.yaml``)::

        config:
          vllm-infra:topology: single
          vllm-infra:models:
            - name: llama-8b
              model: meta-llama/Llama-3.1-8B-Instruct
    """

    topology: str = Field(
        description="A registered topology (vllm_infra.topologies): single, load-balanced, multi-model or multi-region "
        "built in."
    )
    namespace: Namespace = Field("vllm", description="Kubernetes namespace created for the stack's objects.")
    vllm_image: str = Field(vllm_release.VLLM_IMAGE, description="The vLLM server image; pinned to a release.")
    regions: tuple[RegionSpec, ...] = Field(min_length=1, description="The AWS regions and their EKS clusters.")
    models: tuple[ModelSpec, ...] = Field(min_length=1, description="The models this stack serves.")
    balancer: BalancerSpec = Field(
        default_factory=BalancerSpec, description="The balancer in front of the pods (all topologies but single)."
    )
    observability: ObservabilitySpec = Field(
        default_factory=ObservabilitySpec, description="PodMonitors, SLO alerts and the Grafana dashboard."
    )
    global_load_balancer: GlobalLoadBalancerSpec | None = Field(
        None, description="multi-region: the public name, Route 53 routing policy and health checks."
    )
    network_policies: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec, description="Default-deny NetworkPolicies and the allowed flows."
    )

    _placements: dict[str, GpuPlacement] = PrivateAttr(default_factory=dict)
    _resources: dict[str, ReplicaResources] = PrivateAttr(default_factory=dict)
    _default_notes: list[str] = PrivateAttr(default_factory=list)

    @field_validator("topology", mode="before")
    @classmethod
    def _registered(cls, topology: object) -> object:
        return registered_choice(topology, topology_names())

    @field_validator("vllm_image")
    @classmethod
    def _image_is_pinned(cls, image: str) -> str:
        if "@sha256:" in image:
            return image
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag or tag in {"", "latest", "nightly"}:
            raise ValueError(
                f"must be pinned to a release tag or digest (e.g. {vllm_release.VLLM_IMAGE}); "
                "a moving tag changes what runs without a diff"
            )
        return image

    @model_validator(mode="after")
    def _models_fit_topology(self) -> StackConfig:
        # The first broken rule is reported; the order puts the rules that make later ones moot first (a topology's
        # shape before its balancer).
        topology = topology_for(self.topology)
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"vllm-infra:models: names must be unique; repeated: {', '.join(duplicates)}")
        served = [model.served_name for model in self.models]
        if len(set(served)) != len(served):
            raise ValueError(
                "vllm-infra:models: servedModelName must be unique, or requests for one model reach another"
            )
        region_names = [region.name for region in self.regions]
        if len(set(region_names)) != len(region_names):
            raise ValueError("vllm-infra:regions: each region may appear once")
        if not topology.multi_region and len(self.regions) != 1:
            raise ValueError(
                f"vllm-infra:regions: topology {self.topology} runs in one region; use topology "
                f"{choices_phrase(topologies_where('multi_region'))} for several"
            )
        if problems := topology.validate(self):
            raise ValueError("\n".join(problems))
        if not topology.several_models and len(self.models) != 1:
            raise ValueError(
                f"vllm-infra:models: topology {self.topology} serves one model; use topology "
                f"{choices_phrase(topologies_where('several_models'))} for several"
            )
        strategy = strategy_for(self.balancer.strategy)
        if topology.has_balancer and len(self.models) > 1 and not strategy.routes_by_model:
            raise ValueError(
                f"vllm-infra:balancer.strategy: {self.balancer.strategy} cannot route by the request's model; "
                f"several models need strategy: {choices_phrase(names_where('routes_by_model'))}"
            )
        if topology.has_balancer and (problems := strategy.validate(self)):
            raise ValueError("\n".join(problems))
        self._check_scale_to_zero()
        if not topology.multi_region and self.global_load_balancer is not None:
            raise ValueError(
                "vllm-infra:globalLoadBalancer: only topology "
                f"{choices_phrase(topologies_where('multi_region'))} has a global load balancer"
            )
        if not topology.has_balancer and "balancer" in self.model_fields_set:
            raise ValueError(f"vllm-infra:balancer: topology {self.topology} has no balancer; remove the key")
        # Several regions get their certificates from globalLoadBalancer.tls (the topology's own rule); one region's
        # balancer needs the ACM certificate named in the exposure.
        if topology.has_balancer and not topology.multi_region:
            problem = self.balancer.exposure.tls_problem(managed_certificate=False)
            if problem is not None:
                raise ValueError(problem)
        if self.network_policies.enabled:
            missing = [i for i, region in enumerate(self.regions) if region.vpc_cidr is None]
            if missing:
                raise ValueError(
                    "\n".join(
                        f"vllm-infra:regions[{i}].vpcCidr: required by networkPolicies (the API server and model "
                        "storage are allowed there); set it, or networkPolicies.enabled: false"
                        for i in missing
                    )
                )
        try:
            self.observability.check_model_names(model.name for model in self.models)
        except ValueError as error:
            raise ValueError(f"vllm-infra:{error}") from None
        self._check_regions_known()
        self._place_models(region_names)
        return self

    @model_validator(mode="after")
    def _caches_have_their_storage_class(self) -> StackConfig:
        # A claim naming a class the cluster lacks stays Pending, and `pulumi up` waits for the pre-warm Job until
        # it times out; the regions know which classes exist (created or declared).
        cache_classes = [model.cache.storage_class for model in self.models]
        problems = [
            problem
            for index, region in enumerate(self.regions)
            for problem in region.storage_class_problems(index, cache_classes)
        ]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _resolve_defaults(cls, data: Any, handler: ModelWrapValidatorHandler[StackConfig]) -> StackConfig:
        # Defaults that depend on the whole stack (created or adopted cluster, exposure, node group bounds, add-ons
        # of every region) are filled in once the stack is otherwise valid, so components only ever see bools.
        config = handler(data)
        return config._with_stack_defaults()

    @property
    def exposes_load_balancer(self) -> bool:
        """Whether the stack's balancer needs the AWS Load Balancer Controller (an NLB Service or an ALB Ingress)."""
        return topology_for(self.topology).has_balancer and self.balancer.exposure.kind in {"load-balancer", "ingress"}

    def gpu_node_bounds(self, model: ModelSpec) -> tuple[int, int]:
        """``(min, max)`` GPU nodes of ``model``'s node group (``vllm_infra.config.capacity.model_node_bounds``):
        what its initial replicas need, and what its maximum replicas plus a shared cache's surge replica need."""
        bounds = model_node_bounds(model, self.placement(model))
        return bounds.min_nodes, bounds.max_nodes

    def _gpu_nodes_can_grow(self) -> bool:
        def grows(model: ModelSpec) -> bool:
            min_nodes, max_nodes = self.gpu_node_bounds(model)
            # A spot model gets an on-demand fallback group starting at 0 nodes: only an autoscaler ever grows it.
            return model.autoscaling is not None or model.gpu.capacity_type == "spot" or min_nodes < max_nodes

        return any(model.gpu.create_node_group and grows(model) for model in self.models)

    def _with_stack_defaults(self) -> StackConfig:
        problems: list[str] = []
        notes: list[str] = []
        can_grow = self._gpu_nodes_can_grow()
        regions = []
        for index, region in enumerate(self.regions):
            key = f"vllm-infra:regions[{index}].addons"
            addons, created = region.addons, region.cluster.create is not None
            controller, autoscaler = addons.aws_load_balancer_controller, addons.cluster_autoscaler
            if controller is None:
                controller = created and self.exposes_load_balancer
                if not created and self.exposes_load_balancer:
                    notes.append(
                        f"{key}.awsLoadBalancerController is off on the adopted cluster {region.cluster.name}: the "
                        "balancer's Service/Ingress only gets a load balancer if the cluster already runs the AWS "
                        "Load Balancer Controller (v2.12 or newer); set it to true to install it"
                    )
            if autoscaler is None:
                autoscaler = created and can_grow
                if not created and can_grow:
                    notes.append(
                        f"{key}.clusterAutoscaler is off on the adopted cluster {region.cluster.name}: the GPU node "
                        "groups only grow if the cluster runs cluster-autoscaler with ASG auto-discovery "
                        f"(k8s.io/cluster-autoscaler/enabled, k8s.io/cluster-autoscaler/{region.cluster.name}) or "
                        "Karpenter; set it to true to install it"
                    )
            resolved = addons.model_copy(
                update={"aws_load_balancer_controller": controller, "cluster_autoscaler": autoscaler}
            )
            if autoscaler and region.cluster.create is not None:
                try:
                    cluster_autoscaler_chart(region.cluster.create.kubernetes_version)
                except ValueError as error:
                    problems.append(f"{key}.clusterAutoscaler: cluster.create.kubernetesVersion: {error}")
            regions.append(region.model_copy(update={"addons": resolved}))
        observability = self._resolve_observability(regions, problems, notes)
        if problems:
            raise ValueError("\n".join(problems))
        config = self.model_copy(update={"regions": tuple(regions), "observability": observability})
        config._default_notes = notes
        return config

    def _resolve_observability(
        self, regions: list[RegionSpec], problems: list[str], notes: list[str]
    ) -> ObservabilitySpec:
        spec = self.observability
        missing = [
            f"regions[{index}] ({region.name})"
            for index, region in enumerate(regions)
            if not region.addons.kube_prometheus_stack
        ]
        available = spec.external or not missing
        if spec.enabled is None:
            if not available and len(missing) < len(regions):
                notes.append(
                    "vllm-infra:observability is off: some regions install addons.kubePrometheusStack but "
                    f"{', '.join(missing)} do not; install it there too, or set observability.external: true"
                )
            return spec.model_copy(update={"enabled": available})
        if spec.enabled and not available:
            problems.append(
                "vllm-infra:observability.enabled: the PodMonitors and PrometheusRule need the monitoring.coreos.com "
                f"CRDs, which nothing installs in {', '.join(missing)}: set addons.kubePrometheusStack: true there, "
                "or observability.external: true if the clusters already run prometheus-operator "
                "(or observability.enabled: false)"
            )
        return spec

    def _check_scale_to_zero(self) -> None:
        # A model at zero replicas has no pod to send the first request to: only the router counts requests for a
        # model while none runs (vllm_router_requests_total), which is the KEDA trigger that wakes it.
        has_balancer = topology_for(self.topology).has_balancer
        if has_balancer and strategy_for(self.balancer.strategy).wakes_from_zero:
            return
        front = (
            f"topology {self.topology} has no balancer"
            if not has_balancer
            else (f"strategy {self.balancer.strategy} has nothing that counts requests while no replica runs")
        )
        waking = choices_phrase(names_where("wakes_from_zero"))
        problems = [
            f"vllm-infra:models[{index}].autoscaling.minReplicas: 0 (scale to zero) needs balancer.strategy: {waking}, "
            f"whose request counter wakes the model; {front}, so the first request would fail; set minReplicas: 1, "
            f"or balancer.strategy: {waking}"
            for index, model in enumerate(self.models)
            if model.autoscaling is not None and model.autoscaling.min_replicas == 0
        ]
        if problems:
            raise ValueError("\n".join(problems))

    def _check_regions_known(self) -> None:
        # A typo (us-eats-1) would otherwise surface as "no instance type offered in every region".
        from vllm_infra.config.errors import nearest

        known = sorted({region for instance in gpu_instances().values() for region in instance.regions})
        problems = []
        for index, region in enumerate(self.regions):
            if region.name in known:
                continue
            suggestion = nearest(region.name, known, cutoff=0.7)
            hint = f"did you mean {suggestion}? " if suggestion else ""
            problems.append(
                f"vllm-infra:regions[{index}].name: got {region.name!r}; not a region of the GPU catalog; {hint}"
                f"(vllm_infra/sizing/gpu_instances.yaml lists {', '.join(known)})"
            )
        if problems:
            raise ValueError("\n".join(problems))

    def _place_models(self, regions: list[str]) -> None:
        # Sizing happens here, at validation time, so an infeasible or unavailable choice fails before any resource
        # is registered — and is reported against the model's config key.
        problems = []
        for index, model in enumerate(self.models):
            try:
                placement = place_model(model, regions)
                self._placements[model.name] = placement
                self._resources[model.name] = replica_resources(model, placement)
            except ValueError as error:
                problems.append(f"vllm-infra:models[{index}]: {error}")
        if problems:
            raise ValueError("\n".join(problems))

    def placement(self, model: ModelSpec) -> GpuPlacement:
        """Where ``model`` runs: its instance type, tensor-parallel size and replicas per node."""
        return self._placements[model.name]

    def resources(self, model: ModelSpec) -> ReplicaResources:
        """The pod resources of one replica of ``model``."""
        return self._resources[model.name]

    def estimated_gpu_cost_per_hour(self) -> float:
        """On-demand $/h of the GPU nodes the stack's minimum replicas need, in every region (catalog prices)."""
        per_region = sum(
            self.placement(m).cost_per_hour(m.initial_replicas) for m in self.models if m.gpu.create_node_group
        )
        return round(per_region * len(self.regions), 2)

    def warnings(self) -> list[str]:
        """Risks that are allowed but worth a reviewer's attention (printed by ``vllm-infra plan``)."""
        notes = list(self._default_notes)
        notes += self.balancer.deprecation_notes()
        for index, model in enumerate(self.models):
            if model.revision is None:
                notes.append(
                    f"vllm-infra:models[{index}].revision is not pinned: replicas started at different times may "
                    "serve different weights"
                )
            if model.cache.access_mode == "ReadWriteOnce":
                notes.append(
                    f"vllm-infra:models[{index}].cache.accessMode is ReadWriteOnce: an update replaces the replica "
                    "(Recreate) because a second pod cannot attach the volume; use ReadWriteMany for zero-downtime "
                    "rollouts"
                )
        return notes
