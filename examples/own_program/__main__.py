"""A Pulumi program of your own that uses vllm-infra's components: one model on an EKS cluster you already run.

It creates everything the model needs and the library's policies require: an AWS and a Kubernetes provider for the
adopted cluster (``RegionalCluster``), a GPU node group sized for the model and the NVIDIA device plugin, a
namespace, the API-key Secret, the weight cache (pre-warmed once, protected), the vLLM Deployment with its Service and
PodDisruptionBudget, and default-deny NetworkPolicies. The README's "Using a component in your own Pulumi program"
quotes it (a test keeps the two equal).

Run it with its own project and stack file (``Pulumi.yaml`` and ``Pulumi.dev.yaml`` beside it)::

    cd examples/own_program
    pulumi config set --secret vllmKey "$(openssl rand -hex 32)"
    pulumi preview -s dev --policy-pack ../../policy_pack

Config (namespace ``my-app``): ``vllmKey`` (secret, required), ``clusterName``, ``region``, ``vpcCidr``.
"""

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra import (GpuNodeGroup, GpuNodeGroupArgs, GpuSpec, InferenceSecrets, InferenceSecretsArgs, ModelCache,
                        ModelCacheArgs, ModelSpec, NvidiaDevicePlugin, RegionalCluster, RegionalClusterArgs,
                        VllmDeployment, VllmDeploymentArgs, place_model, replica_resources)
from vllm_infra.components.network_policy import NetworkPolicies, NetworkPolicyArgs
from vllm_infra.config.region import ClusterSpec, ExistingClusterSpec
from vllm_infra.vllm_release import VLLM_IMAGE

config = pulumi.Config("my-app")
region = config.get("region") or "us-east-1"
model = ModelSpec(name="qwen-7b", model="Qwen/Qwen2.5-7B-Instruct",
                  revision="a09a35458c702b33eeacc393d103063234e8bc28")
placement = place_model(model, regions=[region])   # cheapest instance + tensor-parallel size that fit

# Adopt the cluster (looked up, never changed); every Kubernetes object goes through its provider.
cluster = RegionalCluster(region, RegionalClusterArgs(
    region=region, cluster=ClusterSpec(existing=ExistingClusterSpec(name=config.get("clusterName") or "ml-platform"))))
k8s_opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
GpuNodeGroup("qwen-7b", GpuNodeGroupArgs(
    cluster_name=cluster.cluster_name, node_role_arn=cluster.node_role_arn, subnet_ids=cluster.subnet_ids,
    placement=placement, gpu=GpuSpec(), min_nodes=1, max_nodes=2),
    opts=pulumi.ResourceOptions(provider=cluster.aws_provider))
NvidiaDevicePlugin("nvidia-device-plugin", opts=k8s_opts)   # the AL2023 GPU AMI lacks it

namespace = k8s.core.v1.Namespace("ml", metadata={"name": "ml"}, opts=k8s_opts)
ns_opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[namespace])
secrets = InferenceSecrets("inference", InferenceSecretsArgs(
    namespace=namespace.metadata.name, api_key=config.require_secret("vllmKey")), opts=ns_opts)
cache = ModelCache("qwen-7b", ModelCacheArgs(
    namespace=namespace.metadata.name, model=model, placement=placement, image=VLLM_IMAGE), opts=ns_opts)
server = VllmDeployment("qwen-7b", VllmDeploymentArgs(
    namespace=namespace.metadata.name, model=model, placement=placement,
    resources=replica_resources(model, placement), image=VLLM_IMAGE, api_key=secrets.api_key,
    cache_claim_name=cache.claim_name),
    opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=[cache.ready]))
# Default-deny, then only DNS, in-VPC clients to vLLM, the API server and model storage, the pre-warm Job to the Hub.
NetworkPolicies("ml", NetworkPolicyArgs(
    namespace=namespace.metadata.name, vpc_cidr=config.get("vpcCidr") or "10.0.0.0/16", monitoring_namespace=None),
    opts=ns_opts)
pulumi.export("url", server.url)
