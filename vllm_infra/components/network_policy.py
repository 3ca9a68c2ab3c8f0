"""``NetworkPolicies``: default-deny for the stack's namespace, then only the few flows vLLM serving needs.

The model
---------
Every pod of the namespace is isolated in both directions (``default-deny``), and each needed flow is then allowed by
its own small policy, so a review reads as a list of flows:

============================  ==============================================================================
policy                        allows
============================  ==============================================================================
``default-deny``              nothing: selects every pod, Ingress + Egress, no rules
``allow-dns``                 every pod → kube-dns (``kube-system``, ``k8s-app: kube-dns``), UDP+TCP 53
``vllm-ingress``              → vLLM pods on 8000 from the balancer pods (or ``client_cidrs`` when there is no
                              balancer pod), and from the monitoring namespace (Prometheus scrapes ``/metrics``
                              on the same port)
``vllm-egress``               vLLM pods → model storage (NFS 2049 to ``model_storage_cidrs``); nothing else
``balancer-ingress``          → balancer pods on their front-door port from ``public_ingress_cidrs`` (clients and
                              the load balancer's health checks), and on their metrics port from monitoring
``balancer-egress``           balancer pods → vLLM pods on 8000, and (vllm-router) → the Kubernetes API on 443
``prewarm-egress``            cache pre-warm Job pods → the Hugging Face Hub on 443 (public addresses only)
============================  ==============================================================================

Tensor parallelism needs no rule: the GPUs of one replica belong to one pod and talk over shared memory/NCCL
inside it. Kubelet probes need none either: traffic from a pod's own node is always allowed (Kubernetes
NetworkPolicy semantics; the VPC CNI agent allows the node IP explicitly). ``kubectl port-forward`` enters the pod's
network namespace from its node, so it keeps working for operators.

What a platform engineer must adapt
-----------------------------------
- **Enforcement.** NetworkPolicies are inert unless the CNI enforces them. On EKS with the VPC CNI, turn on its
  network policy agent: the ``vpc-cni`` add-on configuration ``{"enableNetworkPolicy": "true"}`` (VPC CNI ≥ 1.14;
  ≥ 1.15.1 for ``ipBlock.except``, which ``prewarm-egress`` uses). In the default *standard* enforcing mode a new
  pod runs unrestricted for the moments before its policies are programmed; ``NETWORK_POLICY_ENFORCING_MODE=strict``
  closes that window. Calico or Cilium enforce the same objects.
- **Service IPs.** The VPC CNI agent enforces with eBPF on the pod's host-side veth, *before* kube-proxy translates a
  Service ClusterIP (see amazon-network-policy-controller-k8s ``getMatchingServiceClusterIPs``). The controller
  adds the ClusterIPs of Services whose selector a peer's ``podSelector`` matches, which covers kube-dns and the vLLM
  Services; the ``kubernetes`` Service has no selector, so the router's API access names it explicitly
  (``kubernetes_service_ip``; see ``NetworkPolicyArgs``). Calico and Cilium evaluate after translation and see the
  API server's endpoint addresses: in EKS these are the control plane's ENIs in the cluster's subnets, hence
  ``api_server_cidrs`` (default: the VPC CIDR). Both are allowed, so the policy works with either kind of CNI.
- **Load balancer sources.** The balancer's Service is an NLB with IP targets (AWS Load Balancer Controller). For IP
  targets over TCP, client IP preservation is *off* by default (``preserve_client_ip.enabled`` target-group
  attribute), but the balancer turns it *on* (``/healthz/model`` answers only Route 53's health checkers, so nginx
  must see who asks): pods see the clients' addresses, while the NLB's own health checks come from its private
  addresses. An ALB (Ingress) always connects from its own private addresses. The default
  ``public_ingress_cidrs = ["0.0.0.0/0"]`` works in every case; a tight list must hold the clients' ranges *and* the
  VPC CIDR (health checks) — the VPC CIDR alone would block every client. A NetworkPolicy cannot tell clients apart
  behind a proxy: restrict clients on the load balancer (``spec.loadBalancerSourceRanges`` / security groups).
- **Storage.** Volumes are mounted by the kubelet and the CSI node plugin in the *node's* network namespace, so an
  EFS or EBS cache works without any pod rule; ``vllm-egress``'s NFS rule only matters for a client inside the pod.
  Weights streamed from S3 by vLLM itself, an OTLP traces endpoint, or pods that download weights themselves
  (``cache.prewarm: false``) need ``vllm_extra_egress`` / ``vllm_hub_egress``.
- **DNS variants.** NodeLocal DNSCache answers on a link-local address (``169.254.20.10``): add it to
  ``DnsPeer.cidrs``. IPv6 clusters need IPv6 CIDRs everywhere a default is IPv4.
- **One set per namespace.** The policy names are fixed (``default-deny``, ...); create one ``NetworkPolicies``
  per namespace.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra import vllm_release
from vllm_infra.balancers import strategy_for
from vllm_infra.components.options import child_options
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.kube.labels import (
    component_pods_selector,
    inference_pods_selector,
    label_selector,
    object_meta,
    selector_labels,
    standard_labels,
)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace (Kubernetes ≥ 1.22)
NFS_PORT = 2049
HTTPS_PORT = 443

# Never "the Hub": private (RFC 1918), carrier-grade NAT (EKS custom networking often puts pods there) and link-local
# (instance metadata 169.254.169.254, EKS Pod Identity agent 169.254.170.23, NodeLocal DNS) ranges. Excluding them
# keeps an HTTPS-anywhere rule from reaching in-VPC services and the node's credentials.
NON_PUBLIC_IPV4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")

POLICY_NAMES = (
    "default-deny",
    "allow-dns",
    "vllm-ingress",
    "vllm-egress",
    "balancer-ingress",
    "balancer-egress",
    "prewarm-egress",
)


@dataclass(frozen=True)
class DnsPeer:
    """Where the cluster's DNS answers: kube-dns (CoreDNS) pods selected by namespace and pod labels, on port 53.

    The pod labels must match the ``kube-dns`` Service's selector (``k8s-app: kube-dns`` on EKS): the VPC CNI
    controller then also allows that Service's ClusterIP, which is where pods actually send their queries.
    ``cidrs`` adds addresses such as NodeLocal DNSCache's ``169.254.20.10/32``.
    """

    namespace_labels: Mapping[str, str] = field(default_factory=lambda: {NAMESPACE_NAME_LABEL: "kube-system"})
    """Labels of the DNS pods' namespace; ``kube-system`` (by its name label) by default."""
    pod_labels: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    """Labels of the DNS pods: the ``kube-dns`` Service's selector on EKS by default."""
    port: int = 53
    """The DNS port, UDP and TCP."""
    cidrs: Sequence[str] = ()
    """Further DNS addresses, e.g. NodeLocal DNSCache's ``169.254.20.10/32``; none by default."""


@dataclass
class NetworkPolicyArgs:
    """Inputs of ``NetworkPolicies``. CIDRs and ports are checked when the Args are made (``ValueError`` naming the
    field).

    Example::

        NetworkPolicyArgs(namespace="vllm", vpc_cidr="10.0.0.0/16", kubernetes_service_ip="172.20.0.1",
                          **balancer_policy_args(BalancerSpec(strategy="router"), multi_model=True))
    """

    namespace: pulumi.Input[str]
    """The stack's namespace (``vllm-infra:namespace``); every policy lives there and selects only its pods."""
    vpc_cidr: str | None = None
    """The cluster VPC's CIDR (``vllm-infra:regions[].vpcCidr``); the default for ``client_cidrs``,
    ``api_server_cidrs`` and ``model_storage_cidrs`` when those are None. None (the default): those default to
    nothing."""
    monitoring_namespace: str | None = "monitoring"
    """Where Prometheus runs (``vllm-infra:observability.monitoringNamespace``), allowed to scrape vLLM and the
    balancer; ``monitoring`` by default, kube-prometheus-stack's. None: no scraping allowed."""
    monitoring_pod_labels: dict[str, str] | None = None
    """Narrows the scrapers to the pods of ``monitoring_namespace`` with these labels; None (the default): any pod of
    that namespace."""
    balancer_selector: dict[str, str] | None = None
    """Labels of the balancer pods (``selector_labels("balancer", object_name)``, see ``balancer_policy_args``), or
    None (the default) when there is no balancer pod (the ``service`` strategy, the ``single`` topology): clients
    then reach vLLM directly, from ``client_cidrs``."""
    balancer_ports: list[int] = field(default_factory=lambda: [8080])
    """The balancer pods' front door: nginx and the multi-model router pod's nginx sidecar listen on 8080 (the
    default), a single-model vllm-router on 8000. Only these are reachable: the multi-model router's own 8000 stays
    private to its pod (the sidecar checks the API key; the router does not)."""
    balancer_metrics_ports: list[int] = field(default_factory=list)
    """The balancer's metrics ports, open to the monitoring namespace (vllm-router: 29000); none by default."""
    public_ingress_cidrs: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])
    """Who may reach the balancer's front door (``vllm-infra:networkPolicies.publicIngressCidrs``): clients and the
    load balancer's health checks (see the module docstring on NLB client IP preservation). Everywhere by default:
    the API key guards the front door."""
    client_cidrs: list[str] | None = None
    """Without a balancer pod, who may reach vLLM on 8000 directly (NLB or in-VPC clients). None (the default):
    ``[vpc_cidr]``, or nobody without one (``kubectl port-forward`` still works)."""
    balancer_needs_api_server: bool = False
    """The balancer is vllm-router, which discovers vLLM pods through the Kubernetes API: it may then reach
    ``api_server_cidrs`` and the ``kubernetes`` Service on ``api_server_ports``. False by default."""
    api_server_cidrs: list[str] | None = None
    """Where the Kubernetes API server's endpoints are; None (the default): ``[vpc_cidr]``, as the EKS control
    plane's ENIs live in the cluster subnets."""
    kubernetes_service_ip: str | None = None
    """The ClusterIP of the ``kubernetes`` Service (``<service CIDR>.1``, e.g. ``172.20.0.1``,
    ``vllm-infra:networkPolicies.kubernetesServiceIp``). None (the default): the ``default`` namespace as a peer,
    which the VPC CNI controller resolves to that namespace's Service ClusterIPs, the ``kubernetes`` Service's among
    them."""
    api_server_ports: list[int] = field(default_factory=lambda: [HTTPS_PORT])
    """The API server's ports; 443 by default (EKS)."""
    model_storage_cidrs: list[str] | None = None
    """NFS (2049) destinations of vLLM pods, e.g. the EFS mount targets' subnets. None (the default):
    ``[vpc_cidr]``, or no NFS rule without one. Empty list: no NFS rule."""
    hub_egress: bool = True
    """Allow the cache pre-warm Job HTTPS (443) to ``hub_cidrs`` minus ``hub_except``; on by default, as the Job
    downloads the weights."""
    vllm_hub_egress: bool = False
    """Allow the vLLM pods the same as ``hub_egress``: only when they download weights themselves
    (``vllm-infra:models[].cache.prewarm: false``). Off by default: pre-warmed pods never call the Hub."""
    hub_cidrs: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])
    """Where the Hub is: the public internet by default (the Hub and its CDN have no fixed addresses, and
    NetworkPolicy cannot match names). Point it at an egress proxy or mirror to be stricter."""
    hub_except: list[str] = field(default_factory=lambda: list(NON_PUBLIC_IPV4))
    """Ranges cut out of ``hub_cidrs``: the private, shared (100.64/10) and link-local IPv4 ranges by default (the
    VPC is cut out too), so Hub egress never opens the cluster's own network or the instance metadata service."""
    dns: DnsPeer = field(default_factory=DnsPeer)
    """Where DNS answers (``DnsPeer``); EKS's kube-dns by default."""
    vllm_port: int = vllm_release.VLLM_PORT
    """The vLLM pods' HTTP port; the pinned release's (8000) by default."""
    vllm_extra_egress: list[dict] = field(default_factory=list)
    """Extra egress rules (NetworkPolicyEgressRule dicts, camelCase) for the vLLM pods, e.g. to an OTLP collector;
    none by default."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to every policy, beside the standard ones; none by default."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        cidr_lists = {
            "public_ingress_cidrs": self.public_ingress_cidrs,
            "client_cidrs": self.client_cidrs or [],
            "api_server_cidrs": self.api_server_cidrs or [],
            "model_storage_cidrs": self.model_storage_cidrs or [],
            "hub_cidrs": self.hub_cidrs,
            "hub_except": self.hub_except,
            "dns.cidrs": list(self.dns.cidrs),
            "vpc_cidr": [self.vpc_cidr] if self.vpc_cidr else [],
        }
        for key, cidrs in cidr_lists.items():
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=True)
                except ValueError as error:
                    problems.append(f"{key}: {cidr!r} is not a network CIDR ({error})")
        if self.kubernetes_service_ip is not None:
            try:
                ipaddress.ip_address(self.kubernetes_service_ip)
            except ValueError:
                problems.append(f"kubernetes_service_ip: {self.kubernetes_service_ip!r} is not an IP address")
        if self.balancer_selector is not None:
            if not self.balancer_selector:
                problems.append("balancer_selector: {} would make every pod of the namespace a balancer; use None")
            elif _subset(self.balancer_selector, inference_pods_selector()):
                problems.append("balancer_selector: selects the vLLM pods themselves")
            if not self.balancer_ports:
                problems.append("balancer_ports: a balancer needs its front-door port")
        ports = {
            "balancer_ports": self.balancer_ports,
            "balancer_metrics_ports": self.balancer_metrics_ports,
            "api_server_ports": self.api_server_ports,
            "vllm_port": [self.vllm_port],
            "dns.port": [self.dns.port],
        }
        for key, values in ports.items():
            problems += [f"{key}: {p!r} is not a port (1-65535)" for p in values if not 1 <= int(p) <= 65535]
        if problems:
            raise ValueError("invalid NetworkPolicyArgs: " + "; ".join(problems))

    # Resolved defaults -------------------------------------------------------------------------------------------
    def _vpc(self) -> list[str]:
        return [self.vpc_cidr] if self.vpc_cidr else []

    @property
    def resolved_client_cidrs(self) -> list[str]:
        """Who reaches vLLM directly when there is no balancer pod."""
        return list(self.client_cidrs) if self.client_cidrs is not None else self._vpc()

    @property
    def resolved_api_server_cidrs(self) -> list[str]:
        """Where the Kubernetes API server's endpoints are (after Service translation)."""
        return list(self.api_server_cidrs) if self.api_server_cidrs is not None else self._vpc()

    @property
    def resolved_model_storage_cidrs(self) -> list[str]:
        """NFS destinations of the vLLM pods."""
        return list(self.model_storage_cidrs) if self.model_storage_cidrs is not None else self._vpc()


def _within(cidr: str, other: str) -> bool:
    return _subnet_of(ipaddress.ip_network(cidr), ipaddress.ip_network(other))


def _subnet_of(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, other: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    # Networks of different IP families are never inside one another (subnet_of raises for them).
    if isinstance(network, ipaddress.IPv4Network) and isinstance(other, ipaddress.IPv4Network):
        return network.subnet_of(other)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(other, ipaddress.IPv6Network):
        return network.subnet_of(other)
    return False


def _subset(labels: Mapping[str, str], of: Mapping[str, str]) -> bool:
    return all(of.get(key) == value for key, value in labels.items())


def balancer_policy_args(spec: BalancerSpec, *, object_name: str = "vllm-gateway", multi_model: bool = False) -> dict:
    """The ``NetworkPolicyArgs`` keyword arguments that describe a ``LoadBalancer`` built from ``spec``: which pods
    are the balancer, their front-door and metrics ports (the strategy's ``traffic``), and whether they call the
    Kubernetes API (its ``kubernetes_api_rules``).

    >>> balancer_policy_args(BalancerSpec(strategy="router"), multi_model=True)["balancer_ports"]
    [8080]
    >>> balancer_policy_args(BalancerSpec(strategy="service"))
    {'balancer_selector': None}
    """
    strategy = strategy_for(spec.strategy)
    traffic = strategy.traffic(spec, multi_model=multi_model)
    if traffic is None:
        return {"balancer_selector": None}
    return {
        "balancer_selector": selector_labels("balancer", object_name),
        "balancer_ports": list(traffic.ports),
        "balancer_metrics_ports": list(traffic.metrics_ports),
        "balancer_needs_api_server": bool(strategy.kubernetes_api_rules),
    }


# Rule builders (camelCase, as the API spells them) -------------------------------------------------------------------
def _ports(numbers: Sequence[int], protocols: Sequence[str] = ("TCP",)) -> list[dict]:
    # Numeric ports only: the VPC CNI controller cannot resolve a named port in a rule with an ipBlock peer, and
    # skips such a rule entirely.
    return [{"protocol": protocol, "port": int(number)} for number in numbers for protocol in protocols]


def _ip_blocks(cidrs: Sequence[str], except_cidrs: Sequence[str] = ()) -> list[dict]:
    peers = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        # An except entry must lie inside its CIDR (API validation), and of the same IP family.
        inside = [
            e for e in except_cidrs
            if _subnet_of(sub := ipaddress.ip_network(e), network) and sub != network
        ]  # fmt: skip
        block: dict[str, Any] = {"cidr": cidr}
        if inside:
            block["except"] = inside
        peers.append({"ipBlock": block})
    return peers


def _namespace_peer(namespace: str, pod_labels: Mapping[str, str] | None = None) -> dict:
    peer: dict[str, Any] = {"namespaceSelector": label_selector({NAMESPACE_NAME_LABEL: namespace})}
    if pod_labels:
        peer["podSelector"] = label_selector(pod_labels)
    return peer


def _pods_peer(labels: Mapping[str, str]) -> dict:
    # A podSelector alone: pods of the policy's own namespace.
    return {"podSelector": label_selector(labels)}


class NetworkPolicies(pulumi.ComponentResource):
    """Default-deny NetworkPolicies for one namespace, and the flows vLLM serving needs (see the module docstring).

    Created as ``networking.k8s.io/v1`` NetworkPolicies named ``default-deny``, ``allow-dns``, ``vllm-ingress``,
    ``vllm-egress``, ``balancer-ingress`` / ``balancer-egress`` (with a balancer pod) and ``prewarm-egress``
    (``hub_egress``). ``default-deny`` depends on the allow policies: on an existing deployment the allowances exist
    before anything is denied, and on deletion the deny goes first.

    Example::

        NetworkPolicies("vllm", NetworkPolicyArgs(
            namespace="vllm", vpc_cidr="10.0.0.0/16", kubernetes_service_ip="172.20.0.1",
            **balancer_policy_args(BalancerSpec(strategy="router"), multi_model=True)),
            opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=[namespace]))
    """

    args: NetworkPolicyArgs
    """The inputs the component was built from."""
    names: list[str]
    """The names of the policies created, in ``POLICY_NAMES`` order."""

    def __init__(self, name: str, args: NetworkPolicyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:network_policy:NetworkPolicies", name, None, opts)
        self.args = args
        # The policies must wait for the Namespace the component was told to wait for (child_options).
        self._name, self._opts = name, opts
        self._created: list[str] = []
        self._labels = standard_labels("network-policy", name, args.extra_labels)

        vllm = inference_pods_selector()
        allows = [self._policy("allow-dns", {}, egress=[self._dns_rule()])]
        allows.append(self._policy("vllm-ingress", vllm, ingress=self._vllm_ingress()))
        allows.append(self._policy("vllm-egress", vllm, egress=self._vllm_egress()))
        if args.balancer_selector is not None:
            allows.append(self._policy("balancer-ingress", args.balancer_selector, ingress=self._balancer_ingress()))
            allows.append(self._policy("balancer-egress", args.balancer_selector, egress=self._balancer_egress()))
        if args.hub_egress:
            allows.append(self._policy("prewarm-egress", component_pods_selector("cache"), egress=[self._hub_rule()]))
        self._policy("default-deny", {}, ingress=[], egress=[], depends_on=allows)

        self.names = [policy_name for policy_name in POLICY_NAMES if policy_name in self._created]
        self.register_outputs({"names": self.names})

    # Policies --------------------------------------------------------------------------------------------------------
    def _policy(
        self,
        policy_name: str,
        pod_labels: Mapping[str, str],
        *,
        ingress: list[dict] | None = None,
        egress: list[dict] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> k8s.networking.v1.NetworkPolicy:
        """One policy: ``ingress``/``egress`` None = that direction is not governed here; [] = isolated, no rule."""
        spec: dict[str, Any] = {"podSelector": label_selector(pod_labels) if pod_labels else {}}
        types = []
        if ingress is not None:
            types.append("Ingress")
            if ingress:
                spec["ingress"] = ingress
        if egress is not None:
            types.append("Egress")
            if egress:
                spec["egress"] = egress
        spec["policyTypes"] = types
        policy = k8s.networking.v1.NetworkPolicy(
            f"{self._name}-{policy_name}",
            metadata=object_meta(policy_name, self.args.namespace, self._labels),
            spec=spec,
            opts=child_options(self, self._opts, depends_on=depends_on or []),
        )
        self._created.append(policy_name)
        return policy

    def _dns_rule(self) -> dict:
        dns = self.args.dns
        peers = [
            {
                "namespaceSelector": label_selector(dns.namespace_labels),
                "podSelector": label_selector(dns.pod_labels),
            },
            *_ip_blocks(dns.cidrs),
        ]
        return {"to": peers, "ports": _ports([dns.port], ("UDP", "TCP"))}

    def _vllm_ingress(self) -> list[dict]:
        args = self.args
        rules = []
        if args.balancer_selector is not None:
            rules.append({"from": [_pods_peer(args.balancer_selector)], "ports": _ports([args.vllm_port])})
        elif args.resolved_client_cidrs:
            rules.append({"from": _ip_blocks(args.resolved_client_cidrs), "ports": _ports([args.vllm_port])})
        if args.monitoring_namespace:
            rules.append(self._monitoring_rule([args.vllm_port]))
        return rules

    def _vllm_egress(self) -> list[dict]:
        args = self.args
        rules = []
        if args.resolved_model_storage_cidrs:
            rules.append({"to": _ip_blocks(args.resolved_model_storage_cidrs), "ports": _ports([NFS_PORT])})
        if args.vllm_hub_egress:
            rules.append(self._hub_rule())
        rules += [dict(rule) for rule in args.vllm_extra_egress]
        return rules

    def _balancer_ingress(self) -> list[dict]:
        args = self.args
        rules = []
        if args.public_ingress_cidrs:
            rules.append({"from": _ip_blocks(args.public_ingress_cidrs), "ports": _ports(args.balancer_ports)})
        if args.monitoring_namespace and args.balancer_metrics_ports:
            rules.append(self._monitoring_rule(args.balancer_metrics_ports))
        return rules

    def _balancer_egress(self) -> list[dict]:
        args = self.args
        rules = [{"to": [_pods_peer(inference_pods_selector())], "ports": _ports([args.vllm_port])}]
        if args.balancer_needs_api_server:
            peers = _ip_blocks(args.resolved_api_server_cidrs)
            if args.kubernetes_service_ip is not None:
                address = ipaddress.ip_address(args.kubernetes_service_ip)
                peers += _ip_blocks([f"{address}/{address.max_prefixlen}"])
            else:
                peers.append(_namespace_peer("default"))
            rules.append({"to": peers, "ports": _ports(args.api_server_ports)})
        return rules

    def _monitoring_rule(self, ports: Sequence[int]) -> dict:
        args = self.args
        assert args.monitoring_namespace is not None  # only called for a monitoring namespace
        peer = _namespace_peer(args.monitoring_namespace, args.monitoring_pod_labels)
        return {"from": [peer], "ports": _ports(ports)}

    def _hub_rule(self) -> dict:
        args = self.args
        except_cidrs = list(args.hub_except)
        for vpc in args._vpc():  # a VPC may use public ranges; its addresses are never the Hub
            if not any(_within(vpc, other) for other in except_cidrs):
                except_cidrs.append(vpc)
        return {"to": _ip_blocks(args.hub_cidrs, except_cidrs), "ports": _ports([HTTPS_PORT])}
