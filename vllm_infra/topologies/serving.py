"""The serving unit every topology shares, per region: the cluster and its providers, GPU node groups, the
namespace, the secrets, and a cache + vLLM Deployment per model."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.balancers import strategy_for
from vllm_infra.components.certificate import RegionalCertificate, RegionalCertificateArgs
from vllm_infra.components.cluster import RegionalCluster, RegionalClusterArgs
from vllm_infra.components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from vllm_infra.components.device_plugin import NvidiaDevicePlugin
from vllm_infra.components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from vllm_infra.components.autoscaler import Autoscaler, AutoscalerArgs
from vllm_infra.components.kube import object_meta, selector_labels, standard_labels
from vllm_infra.components.load_balancer import BalancerBackend, LoadBalancer, LoadBalancerArgs
from vllm_infra.components.model_cache import ModelCache, ModelCacheArgs
from vllm_infra.components.network_policy import NetworkPolicies, NetworkPolicyArgs, balancer_policy_args
from vllm_infra.components.observability import Observability, ObservabilityArgs
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs
from vllm_infra.components.vllm import VllmDeployment, VllmDeploymentArgs
from vllm_infra.config import StackConfig
from vllm_infra.config.region import RegionSpec
from vllm_infra.observability import monitored_models


@dataclass
class RegionalServing:
    """What ``serve_region`` created in one region."""

    region: str
    cluster: RegionalCluster
    namespace: pulumi.Output[str]
    deployments: dict[str, VllmDeployment]
    balancer: LoadBalancer | None


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


def serve_region(
    stack_config: StackConfig,
    secrets,
    region: RegionSpec,
    *,
    with_balancer: bool = False,
) -> RegionalServing:
    """Provision one region: ``RegionalCluster``, a ``GpuNodeGroup`` per model, the NVIDIA device plugin where an
    AL2023 node group needs it, then the namespace, ``InferenceSecrets`` and per model a ``ModelCache`` and a
    ``VllmDeployment`` that waits for its cache, an ``Autoscaler`` for each autoscaled model and, ``with_balancer``,
    the ``LoadBalancer`` in front of them. Every resource gets the region's providers explicitly.

    Logical names start with the region, so adding a region to a stack never renames (replaces) another's resources.
    """
    prefix = region.name
    cluster = RegionalCluster(
        prefix,
        RegionalClusterArgs(
            region=region.name, cluster=region.cluster, check_network_policies=stack_config.network_policies.enabled
        ),
    )
    aws_opts = pulumi.ResourceOptions(provider=cluster.aws_provider)
    k8s_opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    # What depends on add-ons (custom resources need their CRDs; EFS claims need the StorageClass) waits for them.
    addon_ready: list[pulumi.Resource] = []
    # The balancer's Service/Ingress waits for the AWS Load Balancer Controller where this stack installs it.
    load_balancer_ready: list[pulumi.Resource] = []
    if region.addons.any:
        exposure = stack_config.balancer.exposure
        addons = ClusterAddons(
            f"{prefix}-addons",
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
            # The add-ons' EKS objects (Pod Identity associations, the EFS CSI add-on) wait for the cluster and for the
            # Pod Identity agent that gives their pods the roles.
            opts=pulumi.ResourceOptions(
                providers=[cluster.aws_provider, cluster.k8s_provider],
                depends_on=[cluster, *cluster.pod_identity_ready],
            ),
        )
        addon_ready = list(addons.ready)
        load_balancer_ready = list(addons.load_balancer_ready)

    for model in stack_config.models:
        if not model.gpu.create_node_group:
            continue
        min_nodes, max_nodes = stack_config.gpu_node_bounds(model)
        GpuNodeGroup(
            f"{prefix}-{model.name}",
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
        NvidiaDevicePlugin(f"{prefix}-nvidia-device-plugin", opts=k8s_opts)

    namespace = k8s.core.v1.Namespace(
        f"{prefix}-{stack_config.namespace}",
        metadata=object_meta(stack_config.namespace, None, standard_labels("namespace", stack_config.namespace)),
        opts=k8s_opts,
    )
    namespace_name = namespace.metadata.name
    inference_secrets = InferenceSecrets(
        f"{prefix}-secrets",
        InferenceSecretsArgs(namespace=namespace_name, api_key=secrets.api_key, hf_token=secrets.hf_token),
        opts=k8s_opts,
    )
    deployments = {}
    for model in stack_config.models:
        placement = stack_config.placement(model)
        cache = ModelCache(
            f"{prefix}-{model.name}",
            ModelCacheArgs(
                namespace=namespace_name,
                model=model,
                placement=placement,
                image=stack_config.vllm_image,
                hf_token=inference_secrets.hf_token,
            ),
            opts=pulumi.ResourceOptions(
                provider=cluster.k8s_provider, depends_on=[*addon_ready, *cluster.storage_ready]
            ),
        )
        deployments[model.name] = VllmDeployment(
            f"{prefix}-{model.name}",
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
            opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[cache.ready]),
        )
        if model.autoscaling is not None:
            Autoscaler(
                f"{prefix}-{model.name}",
                AutoscalerArgs(
                    namespace=namespace_name,
                    deployment_name=deployments[model.name].deployment_name,
                    model=model,
                ),
                opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=addon_ready),
            )
    balancer = None
    if with_balancer:
        glb = stack_config.global_load_balancer
        certificate_arn = None
        if glb is not None and glb.tls:
            certificate_arn = RegionalCertificate(
                f"{prefix}-certificate",
                RegionalCertificateArgs(
                    domain_name=glb.domain_name, region=region.name, hosted_zone_id=glb.hosted_zone_id,
                    ttl=glb.record_ttl,
                ),
                opts=aws_opts,
            ).certificate_arn
        balancer = LoadBalancer(
            f"{prefix}-gateway",
            LoadBalancerArgs(
                namespace=namespace_name,
                spec=stack_config.balancer,
                backends=[
                    BalancerBackend(m.name, m.served_name, selector_labels("inference", m.name),
                                    max_num_seqs=m.engine.max_num_seqs)
                    for m in stack_config.models
                ],
                api_key=inference_secrets.api_key,
                multi_model=len(stack_config.models) > 1,
                tls_certificate_arn=certificate_arn,
            ),
            opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=load_balancer_ready),
        )
    if stack_config.observability.enabled:
        balancer_metrics = (
            strategy_for(stack_config.balancer.strategy).scrape_target(balancer.object_name)
            if balancer is not None
            else None
        )
        Observability(
            f"{prefix}-observability",
            ObservabilityArgs(
                namespace=stack_config.namespace,
                models=monitored_models(stack_config.models, stack_config.observability),
                spec=stack_config.observability,
                balancer=balancer_metrics,
            ),
            opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[namespace, *addon_ready]),
        )
    if stack_config.network_policies.enabled:
        NetworkPolicies(
            f"{prefix}-network-policies",
            _network_policy_args(stack_config, region, namespace_name, balancer),
            opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[namespace]),
        )
    return RegionalServing(
        region=region.name, cluster=cluster, namespace=namespace_name, deployments=deployments, balancer=balancer
    )
