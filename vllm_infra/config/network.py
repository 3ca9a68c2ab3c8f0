"""Network isolation of the stack's namespace: default-deny NetworkPolicies and the few flows serving needs."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from pydantic import Field

from vllm_infra.config.base import ConfigModel


class NetworkPolicySpec(ConfigModel):
    """Default-deny NetworkPolicies for the namespace, then: balancer → vLLM, monitoring → metrics, DNS, model storage,
    the pre-warm Job → the Hugging Face Hub. The CNI must enforce them (EKS VPC CNI: ``enableNetworkPolicy``).

    Example::

        networkPolicies:
          kubernetesServiceIp: 172.20.0.1   # the router's API access on the VPC CNI
    """

    enabled: bool = True
    public_ingress_cidrs: tuple[IPv4Network, ...] = Field(
        (IPv4Network("0.0.0.0/0"),), description="Who may reach the balancer's front door (clients, NLB checks)."
    )
    kubernetes_service_ip: IPv4Address | None = Field(
        None, description="ClusterIP of the `kubernetes` Service (the Service CIDR's .1), for the router's API access."
    )
