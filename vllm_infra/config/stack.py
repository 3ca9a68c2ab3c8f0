"""The whole stack configuration: one validated object that the stack program hands down to the topologies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, StringConstraints, field_validator, model_validator

from vllm_infra import vllm_release
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.config.base import ConfigModel
from vllm_infra.config.global_lb import GlobalLoadBalancerSpec, validate_regions
from vllm_infra.config.capacity import GpuPlacement, ReplicaResources, place_model, replica_resources
from vllm_infra.config.model import ModelSpec
from vllm_infra.config.network import NetworkPolicySpec
from vllm_infra.config.observability import ObservabilitySpec
from vllm_infra.config.region import RegionSpec

Topology = Literal["single", "load-balanced", "multi-model", "multi-region"]
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

    topology: Topology = Field(description="single | load-balanced | multi-model | multi-region")
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
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"vllm-infra:models: names must be unique; repeated: {', '.join(duplicates)}")
        served = [model.served_name for model in self.models]
        if len(set(served)) != len(served):
            raise ValueError("vllm-infra:models: servedModelName must be unique, or requests for one model reach another")
        region_names = [region.name for region in self.regions]
        if len(set(region_names)) != len(region_names):
            raise ValueError("vllm-infra:regions: each region may appear once")
        if self.topology != "multi-region" and len(self.regions) != 1:
            raise ValueError(f"vllm-infra:regions: topology {self.topology} runs in one region; use topology multi-region for several")
        if self.topology == "single":
            if len(self.models) != 1 or self.models[0].max_replicas != 1:
                raise ValueError(
                    "vllm-infra:topology: single serves one model with one replica; use topology load-balanced for more "
                    "replicas, multi-model for more models"
                )
        if self.topology in {"load-balanced", "multi-region"} and len(self.models) != 1:
            raise ValueError(
                f"vllm-infra:models: topology {self.topology} serves one model; use topology multi-model for several"
            )
        if len(self.models) > 1 and self.balancer.strategy != "router":
            raise ValueError(
                f"vllm-infra:balancer.strategy: {self.balancer.strategy} cannot route by the request's model; "
                "several models need strategy: router"
            )
        if self.topology == "multi-region":
            self._check_multi_region(region_names)
        elif self.global_load_balancer is not None:
            raise ValueError("vllm-infra:globalLoadBalancer: only topology multi-region has a global load balancer")
        if self.topology == "single" and "balancer" in self.model_fields_set:
            raise ValueError("vllm-infra:balancer: topology single has no balancer; remove the key")
        if self.topology == "multi-region" and self.balancer.exposure.public and not self.global_load_balancer.tls:
            raise ValueError(
                "vllm-infra:globalLoadBalancer.tls: internet-facing regional load balancers need TLS (plain HTTP "
                "would carry the API key and every prompt in clear text); set tls: true (an ACM certificate per region)"
            )
        if self.topology in {"load-balanced", "multi-model"}:
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
        self._place_models(region_names)
        return self

    def _check_multi_region(self, region_names: list[str]) -> None:
        problems = []
        if self.global_load_balancer is None:
            problems.append(
                "vllm-infra:globalLoadBalancer: required by topology multi-region (hostedZoneId, domainName, policy)"
            )
        else:
            primaries = [region.name for region in self.regions if region.primary]
            problems += validate_regions(self.global_load_balancer, region_names, primaries)
        if len(region_names) < 2:
            problems.append("vllm-infra:regions: topology multi-region needs at least two regions")
        if self.balancer.strategy == "service" or not self.balancer.enforce_api_key:
            problems.append(
                "vllm-infra:balancer: multi-region needs strategy nginx or router with enforceApiKey: the global "
                "health check asks the balancer's /healthz/model for a real completion, authenticated at the edge"
            )
        if self.balancer.exposure.kind != "load-balancer" or self.balancer.exposure.internal:
            problems.append(
                "vllm-infra:balancer.exposure: multi-region needs an internet-facing load-balancer exposure: Route 53 "
                "health checks and alias records point at each region's NLB"
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
        notes = []
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
