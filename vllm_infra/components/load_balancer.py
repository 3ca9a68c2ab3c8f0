"""``LoadBalancer``: the request balancer in front of the vLLM pods (nginx, vllm-router or a plain Service) and the
Service or Ingress that exposes it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.balancers import BalancerContext, BalancerStrategy, strategy_for
from vllm_infra.components.options import child_options
from vllm_infra.components.secrets import SecretKeyRef
from vllm_infra.config.balancer import BalancerSpec, ExposureSpec
from vllm_infra.kube.disruption import pod_disruption_budget_spec
from vllm_infra.kube.labels import label_selector, object_meta, selector_labels, standard_labels

PUBLIC_PORT = 80
TLS_PORT = 443
CONFIG_HASH_ANNOTATION = "vllm-infra.io/config-hash"


@dataclass(frozen=True)
class BalancerBackend:
    """One model behind the balancer.

    Example::

        BalancerBackend("llama-8b", "llama-3.1-8b-instruct", selector_labels("inference", "llama-8b"))
    """

    model_name: str
    """The model's name in the stack (``vllm-infra:models[].name``): names its per-model objects."""
    served_model_name: str
    """The ``model`` clients send (``vllm-infra:models[].servedModelName``, else ``model``), routed here."""
    selector: dict[str, str]
    """The labels of the model's vLLM pods (``selector_labels("inference", model_name)``)."""
    max_num_seqs: int = 256
    """How many sequences one of its vLLM pods runs at once (``vllm-infra:models[].engine.maxNumSeqs``); the
    ``affinity`` strategy sizes its per-pod cap from it."""


@dataclass
class LoadBalancerArgs:
    """Inputs of ``LoadBalancer``.

    Example::

        LoadBalancerArgs(namespace="vllm", spec=BalancerSpec(strategy="nginx"), api_key=secrets.api_key,
                         backends=[BalancerBackend("llama-8b", "llama-3.1-8b-instruct",
                                                   selector_labels("inference", "llama-8b"))])
    """

    namespace: pulumi.Input[str]
    """The namespace of the balancer's objects, the vLLM pods' (``vllm-infra:namespace``)."""
    spec: BalancerSpec
    """Strategy (a registered ``BalancerStrategy``: nginx | router | service built in), replicas, exposure, and the
    nginx/router settings (``vllm-infra:balancer``)."""
    backends: list[BalancerBackend]
    """The models behind it: one for load-balanced; several for multi-model, which needs the router."""
    api_key: SecretKeyRef
    """The API-key Secret (``InferenceSecrets.api_key``): nginx checks it at the edge; the router uses it to list
    each worker's models."""
    multi_model: bool = False
    """Several models behind one balancer, routed by the request's ``model``; False by default (one model)."""
    tls_certificate_arn: pulumi.Input[str] | None = None
    """An ACM certificate (multi-region's per-region ``RegionalCertificate``); None (the default):
    ``spec.exposure.tls``'s (``vllm-infra:balancer.exposure.tls.certificateArn``). With one, the NLB/ALB terminates
    TLS on 443 only; without, plain HTTP on 80 (internal or in-cluster only: the configuration rejects
    internet-facing exposure without a certificate)."""
    object_name: str = "vllm-gateway"
    """The Kubernetes name of the balancer's objects (the Service clients reach, the Deployment); ``vllm-gateway`` by
    default, which NetworkPolicies and the scrape target name too."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to every object of the balancer, beside the standard ones; none by default."""


def exposure_annotations(
    exposure: ExposureSpec, health_path: str, certificate_arn: pulumi.Input[str] | None = None
) -> dict[str, pulumi.Input[str]]:
    """AWS Load Balancer Controller annotations: an NLB (or ALB for ingress) with IP targets, cross-zone, a health
    check on the balancer's own health path and an idle timeout long enough for a streamed generation.

    With ``certificate_arn`` the load balancer terminates TLS on 443 only (ACM certificate, ``exposure.tls.sslPolicy``:
    TLS 1.3/1.2) and speaks plain HTTP to the pods. The NLB preserves client addresses (``preserve_client_ip``), so
    ``/healthz/model`` can tell the Route 53 health checkers from everyone else; its own health checks still come
    from its private addresses (Elastic Load Balancing, "Edit target group attributes: Client IP preservation").
    Annotation names: AWS Load Balancer Controller docs, "Service annotations" and "Ingress annotations".
    """
    scheme = "internal" if exposure.internal else "internet-facing"
    if exposure.kind == "ingress":
        annotations: dict[str, pulumi.Input[str]] = {
            "alb.ingress.kubernetes.io/scheme": scheme,
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/healthcheck-path": health_path,
            "alb.ingress.kubernetes.io/load-balancer-attributes": (
                f"idle_timeout.timeout_seconds={exposure.idle_timeout_seconds}"
            ),
        }
        if certificate_arn is not None:
            annotations |= {
                "alb.ingress.kubernetes.io/certificate-arn": certificate_arn,
                "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTPS": TLS_PORT}]),
                "alb.ingress.kubernetes.io/ssl-policy": exposure.tls.ssl_policy,
            }
        return annotations
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": scheme,
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": health_path,
        "service.beta.kubernetes.io/aws-load-balancer-attributes": "load_balancing.cross_zone.enabled=true",
        # Targets leaving (rollouts, scale-in) keep their connections long enough for in-flight streams.
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": (
            f"deregistration_delay.timeout_seconds={exposure.idle_timeout_seconds},preserve_client_ip.enabled=true"
        ),
    }
    if certificate_arn is not None:
        annotations |= {
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": certificate_arn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": str(TLS_PORT),
            "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": exposure.tls.ssl_policy,
        }
    return annotations


def _load_balancer_hostname(status) -> str | None:
    # The NLB's DNS name, once the AWS Load Balancer Controller has provisioned it (unknown during a preview).
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    return ingress[0].hostname if ingress else None


class LoadBalancer(pulumi.ComponentResource):
    """The balancer in front of the vLLM pods. The strategy (``vllm_infra.balancers``, looked up by
    ``spec.strategy``) builds its own resources and pod spec; this component adds what every strategy shares: the
    ServiceAccount and Role of a strategy with ``kubernetes_api_rules``, the Deployment (zone spread, rolling on the
    config hash) and PDB when it has pods, and the client-facing Service or Ingress. The built-ins:

    - ``nginx``: a headless Service per model (nginx re-resolves it and follows pods as they scale), the generated
      ``nginx.conf`` in a ConfigMap, an nginx Deployment whose pods roll when the config's hash changes, a PDB.
    - ``router``: vllm-router with Kubernetes pod discovery by label (a ServiceAccount allowed to list pods),
      cache-aware routing, and routing by ``model`` across all models (``multi_model``).
    - ``service``: no balancer pods; a Service over the vLLM pods with ClientIP session affinity.

    Clients reach it through a Service ``<name>``: type LoadBalancer → an NLB terminating TLS on 443 (the only
    port), or ClusterIP on 80 behind an Ingress (an ALB terminating TLS on 443), or ClusterIP on 80 in-cluster.
    Only the router pod mounts a service-account token (its Role lists pods); nginx pods get none.

    Example::

        LoadBalancer("gateway", LoadBalancerArgs(namespace="vllm", spec=BalancerSpec(strategy="nginx"),
                     backends=[BalancerBackend("llama-8b", "llama-3.1-8b-instruct",
                                               selector_labels("inference", "llama-8b"))],
                     api_key=secrets.api_key))
    """

    args: LoadBalancerArgs
    """The inputs the component was built from."""
    object_name: str
    """The Kubernetes name of the balancer's objects (``args.object_name``)."""
    service_name: pulumi.Output[str]
    """The client-facing Service."""
    hostname: pulumi.Output[str]
    """The NLB's DNS name once the AWS Load Balancer Controller has made it (None for other exposures)."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:load_balancer:LoadBalancer", name, None, opts)
        self.args = args
        spec = args.spec
        self._child = child_options(self, opts)
        self._labels = standard_labels("balancer", args.object_name, args.extra_labels)
        self._selector = selector_labels("balancer", args.object_name)
        self._name, self._object = name, args.object_name
        self.object_name = args.object_name

        strategy = strategy_for(spec.strategy)
        pods = strategy.build(BalancerContext(
            name=name, object_name=args.object_name, args=args, labels=self._labels, selector=self._selector,
            child=self._child,
            service_account_name=self._api_access(strategy) if strategy.kubernetes_api_rules else None,
        ))  # fmt: skip
        if pods.pod_spec is not None:
            self._deployment(pods.pod_spec, pods.config_hash)
        service_selector = pods.service_selector if pods.service_selector is not None else self._selector
        health_path = pods.health_path
        certificate_arn = (
            args.tls_certificate_arn if args.tls_certificate_arn is not None else spec.exposure.tls.certificate_arn
        )
        self._certificate_arn = certificate_arn
        nlb_tls = spec.exposure.kind == "load-balancer" and certificate_arn is not None
        # The NLB listens where the Service port is: 443 only with TLS. An ALB listens on its own ports (annotations)
        # and reaches the Service on 80 inside the cluster.
        public = {"name": "https", "port": TLS_PORT} if nlb_tls else {"name": "http", "port": PUBLIC_PORT}
        service_spec: dict = {
            "selector": service_selector,
            "ports": [{**public, "targetPort": pods.target_port, "protocol": "TCP"}],
        }
        service_spec |= pods.service_spec
        annotations = {}
        if spec.exposure.kind == "load-balancer":
            service_spec["type"] = "LoadBalancer"
            annotations = exposure_annotations(spec.exposure, health_path, certificate_arn)
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(args.object_name, args.namespace, self._labels, annotations=annotations),
            spec=service_spec,
            opts=self._child,
        )
        self.service_name = service.metadata.name
        self.hostname = service.status.apply(_load_balancer_hostname)
        if spec.exposure.kind == "ingress":
            self._ingress(service, health_path)
        self.register_outputs({
            "service_name": self.service_name,
            "hostname": self.hostname,
            "object_name": self.object_name,
            "strategy": spec.strategy,
        })  # fmt: skip

    def _api_access(self, strategy: BalancerStrategy) -> pulumi.Output[str]:
        """A ServiceAccount for the strategy's pods, a Role with its ``kubernetes_api_rules`` and their binding."""
        args, object_name = self.args, f"{self._object}-{strategy.name}"
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-{strategy.name}",
            metadata=object_meta(object_name, args.namespace, self._labels),
            opts=self._child,
        )
        role = k8s.rbac.v1.Role(
            f"{self._name}-{strategy.name}",
            metadata=object_meta(object_name, args.namespace, self._labels),
            rules=[dict(rule) for rule in strategy.kubernetes_api_rules],
            opts=self._child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-{strategy.name}",
            metadata=object_meta(object_name, args.namespace, self._labels),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": args.namespace}],
            opts=self._child,
        )
        return account.metadata.name

    # shared --------------------------------------------------------------------------------------------------------
    def _deployment(self, pod_spec: dict, config_hash: pulumi.Input[str] | None) -> None:
        args, spec = self.args, self.args.spec
        pod_spec["topologySpreadConstraints"] = [
            {
                # One balancer per zone where possible: a zone outage leaves the others serving.
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": label_selector(self._selector),
            }
        ]
        k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=object_meta(self._object, args.namespace, self._labels),
            spec={
                "replicas": spec.replicas,
                "selector": label_selector(self._selector),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": self._labels, "annotations": {CONFIG_HASH_ANNOTATION: config_hash}},
                    "spec": pod_spec,
                },
            },
            opts=self._child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata=object_meta(f"{self._object}-pdb", args.namespace, self._labels),
            spec=pod_disruption_budget_spec(self._selector, max_unavailable=1),
            opts=self._child,
        )

    def _ingress(self, service: k8s.core.v1.Service, health_path: str) -> None:
        exposure = self.args.spec.exposure
        rule: dict = {
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": service.metadata.name, "port": {"number": PUBLIC_PORT}}},
                    }
                ]
            }
        }
        if exposure.host:
            rule["host"] = exposure.host
        k8s.networking.v1.Ingress(
            f"{self._name}-ingress",
            metadata=object_meta(
                self._object,
                self.args.namespace,
                self._labels,
                annotations=exposure_annotations(exposure, health_path, self._certificate_arn),
            ),
            spec={"ingressClassName": exposure.ingress_class_name, "rules": [rule]},
            opts=self._child,
        )
