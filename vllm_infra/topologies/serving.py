"""The serving unit every topology shares, per region: the cluster and its providers, GPU node groups, the
namespace, the secrets, and a cache + vLLM Deployment per model.

``serve_region`` runs the steps below in creation order; the order is part of the contract (it is the order
resources are registered in, which the offline plans record byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.balancers import strategy_for
from vllm_infra.components.autoscaler import Autoscaler, AutoscalerArgs
from vllm_infra.components.certificate import RegionalCertificate, RegionalCertificateArgs
from vllm_infra.components.cluster import RegionalCluster, RegionalClusterArgs
from vllm_infra.components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from vllm_infra.components.device_plugin import NvidiaDevicePlugin
from vllm_infra.components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from vllm_infra.components.load_balancer import BalancerBackend, LoadBalancer, LoadBalancerArgs
from vllm_infra.components.model_cache import ModelCache, ModelCacheArgs
from vllm_infra.components.network_policy import NetworkPolicies, NetworkPolicyArgs, balancer_policy_args
from vllm_infra.components.observability import Observability, ObservabilityArgs
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs
from vllm_infra.components.vllm import VllmDeployment, VllmDeploymentArgs
from vllm_infra.config import StackConfig
from vllm_infra.config.model import ModelSpec
from vllm_infra.config.region import RegionSpec
from vllm_infra.kube.labels import object_meta, selector_labels, standard_labels
from vllm_infra.observability import monitored_models
from vllm_infra.topologies.base import StackSecrets


@dataclass
class RegionalServing:
    """What ``serve_region`` created in one region."""

    region: str
    cluster: RegionalCluster
    namespace: pulumi.Output[str]
    deployments: dict[str, VllmDeployment]
    balancer: LoadBalancer | None


@dataclass(frozen=True)
class ServingNamespace:
    """The stack's namespace in one region: the object (what monitoring and policies wait for), its name as an
    Output (what namespaced objects go into) and the ``InferenceSecrets`` created in it."""

    namespace: k8s.core.v1.Namespace
    name: pulumi.Output[str]
    secrets: InferenceSecrets


@dataclass(frozen=True)
class RegionWiring:
    """What every step of ``serve_region`` after the cluster needs: the stack, the region, its cluster and providers,
    and what objects wait for.

    - ``aws_opts`` / ``k8s_opts``: options naming the region's AWS / Kubernetes provider, for resources that need
      nothing else;
    - ``addon_ready``: the add-ons' resources that custom resources (their CRDs) and EFS claims (the StorageClass)
      wait for; empty when the stack installs no add-ons in this region;
    - ``load_balancer_ready``: what the balancer's Service/Ingress waits for (the AWS Load Balancer Controller, where
      this stack installs it).
    """

    stack_config: StackConfig
    region: RegionSpec
    cluster: RegionalCluster
    aws_opts: pulumi.ResourceOptions
    k8s_opts: pulumi.ResourceOptions
    addon_ready: list[pulumi.Resource] = field(default_factory=list)
    load_balancer_ready: list[pulumi.Resource] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """The start of every logical name in the region: the region's name (adding a region renames nothing)."""
        return self.region.name


def _network_policy_args(
    stack_config: StackConfig, region: RegionSpec, namespace: pulumi.Input[str], balancer: LoadBalancer | None
) -> NetworkPolicyArgs:
    policies = stack_config.network_policies
    balancer_args = (
        balancer_policy_args(stack_config.balancer, object_name=balancer.object_name,
                             multi_model=len(stack_config.models) > 1)
        if balancer is not None
        else {"balancer_selector": None}
    )  # fmt: skip
    otlp_ports = sorted({m.engine.otlp_traces_endpoint.port or 443 for m in stack_config.models
                         if m.engine.otlp_traces_endpoint is not None})  # fmt: skip
    return NetworkPolicyArgs(
        namespace=namespace,
        vpc_cidr=str(region.vpc_cidr),
        monitoring_namespace=(
            stack_config.observability.monitoring_namespace if stack_config.observability.enabled else None
        ),
        public_ingress_cidrs=[str(cidr) for cidr in policies.public_ingress_cidrs],
        kubernetes_service_ip=str(policies.kubernetes_service_ip) if policies.kubernetes_service_ip else None,
        # Pods that download their own weights need the Hub; pre-warmed ones never call it.
        vllm_hub_egress=any(not m.cache.prewarm for m in stack_config.models),
        # Traces leave vLLM for the collector (assumed inside the VPC).
        vllm_extra_egress=[
            {"to": [{"ipBlock": {"cidr": str(region.vpc_cidr)}}], "ports": [{"protocol": "TCP", "port": port}]}
            for port in otlp_ports
        ],
        **balancer_args,
    )


def create_cluster(stack_config: StackConfig, region: RegionSpec) -> RegionalCluster:
    """Step 1: the region's ``RegionalCluster`` (created or adopted) with its AWS and Kubernetes providers."""
    return RegionalCluster(
        region.name,
        RegionalClusterArgs(
            region=region.name, cluster=region.cluster, check_network_policies=stack_config.network_policies.enabled
        ),
    )


def install_addons(
    stack_config: StackConfig, region: RegionSpec, cluster: RegionalCluster, *, with_balancer: bool
) -> RegionWiring:
    """Step 2: ``ClusterAddons`` where the region installs any; returns the region's wiring with what waits for them.

    ``with_balancer``: the stack puts a balancer in this region, so the AWS Load Balancer Controller gets the scheme
    (internal or internet-facing) of the balancer's load balancer.
    """
    addon_ready: list[pulumi.Resource] = []
    load_balancer_ready: list[pulumi.Resource] = []
    if region.addons.any:
        exposure = stack_config.balancer.exposure
        addons = ClusterAddons(
            f"{region.name}-addons",
            ClusterAddonsArgs(
                spec=region.addons,
                cluster_name=cluster.cluster_name,
                region=region.name,
                subnet_ids=list(region.node_subnet_ids),
                vpc_cidr=str(region.vpc_cidr) if region.vpc_cidr else None,
                kubernetes_version=region.cluster.create.kubernetes_version if region.cluster.create else None,
                load_balancer_scheme=(
                    ("internal" if exposure.internal else "internet-facing")
                    if with_balancer and stack_config.exposes_load_balancer
                    else None
                ),
            ),
            # The add-ons' EKS objects (Pod Identity associations, the EFS CSI add-on) wait for the cluster and for
            # the Pod Identity agent that gives their pods the roles.
            opts=pulumi.ResourceOptions(
                providers=[cluster.aws_provider, cluster.k8s_provider],
                depends_on=[cluster, *cluster.pod_identity_ready],
            ),
        )
        addon_ready = list(addons.ready)
        load_balancer_ready = list(addons.load_balancer_ready)
    return RegionWiring(
        stack_config=stack_config,
        region=region,
        cluster=cluster,
        aws_opts=pulumi.ResourceOptions(provider=cluster.aws_provider),
        k8s_opts=pulumi.ResourceOptions(provider=cluster.k8s_provider),
        addon_ready=addon_ready,
        load_balancer_ready=load_balancer_ready,
    )


def create_gpu_node_groups(wiring: RegionWiring) -> None:
    """Step 3: a ``GpuNodeGroup`` per model that asks for one, and the NVIDIA device plugin where an AL2023 node
    group needs it (without it AL2023 GPU nodes advertise no ``nvidia.com/gpu``; Bottlerocket ships it built in)."""
    stack_config, cluster = wiring.stack_config, wiring.cluster
    for model in stack_config.models:
        if not model.gpu.create_node_group:
            continue
        min_nodes, max_nodes = stack_config.gpu_node_bounds(model)
        GpuNodeGroup(
            f"{wiring.prefix}-{model.name}",
            GpuNodeGroupArgs(
                cluster_name=cluster.cluster_name,
                node_role_arn=cluster.node_role_arn,
                subnet_ids=cluster.subnet_ids,
                placement=stack_config.placement(model),
                gpu=model.gpu,
                min_nodes=min_nodes,
                max_nodes=max_nodes,
            ),
            # The node role's policies are attached before the nodes join, and detached only after they are gone.
            opts=pulumi.ResourceOptions(provider=cluster.aws_provider, depends_on=cluster.node_role_ready),
        )
    if any(m.gpu.create_node_group and m.gpu.ami_type.startswith("AL2023") for m in stack_config.models):
        NvidiaDevicePlugin(f"{wiring.prefix}-nvidia-device-plugin", opts=wiring.k8s_opts)


def create_namespace_and_secrets(wiring: RegionWiring, secrets: StackSecrets) -> ServingNamespace:
    """Step 4: the stack's namespace and the ``InferenceSecrets`` (API key, Hugging Face token) in it."""
    namespace_key = wiring.stack_config.namespace
    namespace = k8s.core.v1.Namespace(
        f"{wiring.prefix}-{namespace_key}",
        metadata=object_meta(namespace_key, None, standard_labels("namespace", namespace_key)),
        opts=wiring.k8s_opts,
    )
    name = namespace.metadata.name
    inference_secrets = InferenceSecrets(
        f"{wiring.prefix}-secrets",
        InferenceSecretsArgs(namespace=name, api_key=secrets.api_key, hf_token=secrets.hf_token),
        opts=wiring.k8s_opts,
    )
    return ServingNamespace(namespace=namespace, name=name, secrets=inference_secrets)


def serve_model(wiring: RegionWiring, namespace: ServingNamespace, model: ModelSpec) -> VllmDeployment:
    """Step 5, per model: its ``ModelCache``, the ``VllmDeployment`` that waits for the cache, and an ``Autoscaler``
    when the model is autoscaled; returns the deployment."""
    stack_config, k8s_provider = wiring.stack_config, wiring.cluster.k8s_provider
    namespace_name, inference_secrets = namespace.name, namespace.secrets
    placement = stack_config.placement(model)
    name = f"{wiring.prefix}-{model.name}"
    cache = ModelCache(
        name,
        ModelCacheArgs(
            namespace=namespace_name,
            model=model,
            placement=placement,
            image=stack_config.vllm_image,
            hf_token=inference_secrets.hf_token,
        ),
        opts=pulumi.ResourceOptions(
            provider=k8s_provider, depends_on=[*wiring.addon_ready, *wiring.cluster.storage_ready]
        ),
    )
    deployment = VllmDeployment(
        name,
        VllmDeploymentArgs(
            namespace=namespace_name,
            model=model,
            placement=placement,
            resources=stack_config.resources(model),
            image=stack_config.vllm_image,
            api_key=inference_secrets.api_key,
            cache_claim_name=cache.claim_name,
            pre_warmed=model.cache.prewarm,
            hf_token=inference_secrets.hf_token,
            autoscaled=model.autoscaling is not None,
            network_policies=stack_config.network_policies.enabled,
        ),
        opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=[cache.ready]),
    )
    if model.autoscaling is not None:
        Autoscaler(
            name,
            AutoscalerArgs(namespace=namespace_name, deployment_name=deployment.deployment_name, model=model),
            opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=wiring.addon_ready),
        )
    return deployment


def create_balancer(wiring: RegionWiring, namespace: ServingNamespace) -> LoadBalancer:
    """Step 6: the region's ACM certificate where ``globalLoadBalancer.tls`` asks for one, and the ``LoadBalancer``
    in front of every model's pods."""
    stack_config, region = wiring.stack_config, wiring.region
    glb = stack_config.global_load_balancer
    certificate_arn = None
    if glb is not None and glb.tls:
        certificate_arn = RegionalCertificate(
            f"{wiring.prefix}-certificate",
            RegionalCertificateArgs(
                domain_name=glb.domain_name,
                region=region.name,
                hosted_zone_id=glb.hosted_zone_id,
                ttl=glb.record_ttl,
            ),
            opts=wiring.aws_opts,
        ).certificate_arn
    return LoadBalancer(
        f"{wiring.prefix}-gateway",
        LoadBalancerArgs(
            namespace=namespace.name,
            spec=stack_config.balancer,
            backends=[
                BalancerBackend(
                    m.name, m.served_name, selector_labels("inference", m.name), max_num_seqs=m.engine.max_num_seqs
                )
                for m in stack_config.models
            ],
            api_key=namespace.secrets.api_key,
            multi_model=len(stack_config.models) > 1,
            tls_certificate_arn=certificate_arn,
        ),
        opts=pulumi.ResourceOptions(provider=wiring.cluster.k8s_provider, depends_on=wiring.load_balancer_ready),
    )


def create_observability(wiring: RegionWiring, namespace: ServingNamespace, balancer: LoadBalancer | None) -> None:
    """Step 7: ``Observability`` (PodMonitors, SLO alerts, dashboard) when ``observability.enabled``, scraping the
    balancer too where its strategy exposes metrics."""
    stack_config = wiring.stack_config
    if not stack_config.observability.enabled:
        return
    balancer_metrics = (
        strategy_for(stack_config.balancer.strategy).scrape_target(balancer.object_name)
        if balancer is not None
        else None
    )
    Observability(
        f"{wiring.prefix}-observability",
        ObservabilityArgs(
            namespace=stack_config.namespace,
            models=monitored_models(stack_config.models, stack_config.observability),
            spec=stack_config.observability,
            balancer=balancer_metrics,
        ),
        opts=pulumi.ResourceOptions(
            provider=wiring.cluster.k8s_provider, depends_on=[namespace.namespace, *wiring.addon_ready]
        ),
    )


def create_network_policies(wiring: RegionWiring, namespace: ServingNamespace, balancer: LoadBalancer | None) -> None:
    """Step 8: the namespace's default-deny ``NetworkPolicies`` and allowed flows when ``networkPolicies.enabled``."""
    if not wiring.stack_config.network_policies.enabled:
        return
    NetworkPolicies(
        f"{wiring.prefix}-network-policies",
        _network_policy_args(wiring.stack_config, wiring.region, namespace.name, balancer),
        opts=pulumi.ResourceOptions(provider=wiring.cluster.k8s_provider, depends_on=[namespace.namespace]),
    )


def serve_region(
    stack_config: StackConfig,
    secrets: StackSecrets,
    region: RegionSpec,
    *,
    with_balancer: bool = False,
) -> RegionalServing:
    """Provision one region: ``RegionalCluster``, the add-ons, a ``GpuNodeGroup`` per model, the NVIDIA device plugin
    where an AL2023 node group needs it, then the namespace, ``InferenceSecrets`` and per model a ``ModelCache`` and a
    ``VllmDeployment`` that waits for its cache, an ``Autoscaler`` for each autoscaled model and, ``with_balancer``,
    the ``LoadBalancer`` in front of them; then monitoring and network policies. Every resource gets the region's
    providers explicitly.

    Logical names start with the region, so adding a region to a stack never renames (replaces) another's resources.

    Example (a topology's ``build``)::

        (region,) = stack_config.regions
        served = serve_region(stack_config, secrets, region, with_balancer=True)
        pulumi.export("endpointHostname", served.balancer.hostname)
    """
    cluster = create_cluster(stack_config, region)
    wiring = install_addons(stack_config, region, cluster, with_balancer=with_balancer)
    create_gpu_node_groups(wiring)
    namespace = create_namespace_and_secrets(wiring, secrets)
    deployments = {model.name: serve_model(wiring, namespace, model) for model in stack_config.models}
    balancer = create_balancer(wiring, namespace) if with_balancer else None
    create_observability(wiring, namespace, balancer)
    create_network_policies(wiring, namespace, balancer)
    return RegionalServing(
        region=region.name, cluster=cluster, namespace=namespace.name, deployments=deployments, balancer=balancer
    )


def serve_one_region_behind_balancer(stack_config: StackConfig, secrets: StackSecrets) -> None:
    """Serve the stack's models in its one region behind the balancer and export the public endpoint (the
    ``load-balanced`` and ``multi-model`` topologies' ``build``)."""
    (region,) = stack_config.regions
    served = serve_region(stack_config, secrets, region, with_balancer=True)
    assert served.balancer is not None
    pulumi.export("region", region.name)
    pulumi.export("clusterName", served.cluster.cluster_name)
    pulumi.export("namespace", served.namespace)
    pulumi.export("balancer", stack_config.balancer.strategy)
    pulumi.export("endpointHostname", served.balancer.hostname)
    pulumi.export("servedModels", [model.served_name for model in stack_config.models])
    pulumi.export(
        "gpu",
        {
            model.name: {
                "instanceType": stack_config.placement(model).instance_type,
                "tensorParallelSize": stack_config.placement(model).tensor_parallel_size,
            }
            for model in stack_config.models
        },
    )
    pulumi.export("estimatedGpuCostPerHour", stack_config.estimated_gpu_cost_per_hour())
