"""``LoadBalancer``: the request balancer in front of the vLLM pods (nginx, vllm-router or a plain Service) and the
Service or Ingress that exposes it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra import vllm_release
from vllm_infra.balancing.nginx import (
    KUBE_DNS_RESOLVER,
    PRESTOP_DELAY_S,
    WORKER_AUTH_PROXY_PORT,
    UpstreamServer,
    nginx_kubernetes_spec,
)
from vllm_infra.balancing.router import KubernetesDiscovery, router_args
from vllm_infra.components.kube import inference_pods_selector, object_meta, selector_labels, standard_labels
from vllm_infra.components.secrets import SecretKeyRef
from vllm_infra.config.balancer import BalancerSpec, ExposureSpec

PUBLIC_PORT = 80
TLS_PORT = 443
ROUTER_PORT = 8000
CONFIG_HASH_ANNOTATION = "vllm-infra.io/config-hash"
# nginx's preStop waits this long for the endpoint removal to reach the load balancer before it drains.
NGINX_PRESTOP_DELAY_S = PRESTOP_DELAY_S
# What vllm-router needs after SIGTERM once nothing is in flight any more (graceful HTTP shutdown).
ROUTER_SHUTDOWN_S = 30
# An ALB connects from the VPC's private addresses; behind it X-Forwarded-For names the client (RFC 1918, RFC 6598).
PRIVATE_PROXY_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class BalancerBackend:
    """One model behind the balancer: its name, the ``model`` clients send, and the labels of its vLLM pods."""

    model_name: str
    served_model_name: str
    selector: dict[str, str]


@dataclass
class LoadBalancerArgs:
    """Inputs of ``LoadBalancer``.

    - ``spec``: strategy (nginx | router | service), replicas, exposure, and the nginx/router settings;
    - ``backends``: the models behind it (one for load-balanced; several for multi-model, which needs the router);
    - ``api_key``: the API-key Secret (nginx checks it at the edge; the router uses it to list each worker's models);
    - ``tls_certificate_arn``: an ACM certificate (multi-region's per-region one); None = ``spec.exposure.tls``'s. With
      one, the NLB/ALB terminates TLS on 443 only; without, plain HTTP on 80 (internal or in-cluster only: the
      configuration rejects internet-facing exposure without a certificate);
    - ``object_name``: the Kubernetes name of the balancer's objects (the Service clients reach, the Deployment).
    """

    namespace: pulumi.Input[str]
    spec: BalancerSpec
    backends: list[BalancerBackend]
    api_key: SecretKeyRef
    multi_model: bool = False
    tls_certificate_arn: pulumi.Input[str] | None = None
    object_name: str = "vllm-gateway"
    extra_labels: dict[str, str] = field(default_factory=dict)


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


def content_hash(data: object) -> str:
    """A short, stable hash of configuration content; as a pod-template annotation it rolls pods when it changes."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class LoadBalancer(pulumi.ComponentResource):
    """The balancer in front of the vLLM pods.

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

    service_name: pulumi.Output[str]
    hostname: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:load_balancer:LoadBalancer", name, None, opts)
        spec = args.spec
        self._child = child_options(self, opts)
        self._labels = standard_labels("balancer", args.object_name, args.extra_labels)
        self._selector = selector_labels("balancer", args.object_name)
        self._name, self._object, self._args = name, args.object_name, args
        self.object_name = args.object_name

        if spec.strategy == "service":
            (backend,) = args.backends
            service_selector, target_port, health_path = backend.selector, "http", "/health"
        else:
            pod_spec, config_hash, health_path = self._nginx() if spec.strategy == "nginx" else self._router()
            self._deployment(pod_spec, config_hash)
            service_selector = self._selector
            target_port = "http"
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
            "ports": [{**public, "targetPort": target_port, "protocol": "TCP"}],
        }
        if spec.strategy == "service":
            service_spec["sessionAffinity"] = "ClientIP"
            service_spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": spec.session_affinity_timeout_seconds}
            }
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
        self.register_outputs({"service_name": self.service_name, "strategy": spec.strategy})

    # nginx ---------------------------------------------------------------------------------------------------------
    def _nginx(self) -> tuple[dict, pulumi.Output[str], str]:
        args = self._args
        (backend,) = args.backends  # nginx cannot route by the request's model; multi-model uses the router
        headless = k8s.core.v1.Service(
            f"{self._name}-{backend.model_name}-pods",
            metadata=object_meta(f"{backend.model_name}-pods", args.namespace, self._labels),
            spec={
                "clusterIP": "None",
                "selector": backend.selector,
                "ports": [{"name": "http", "port": vllm_release.VLLM_PORT, "targetPort": "http"}],
            },
            opts=self._child,
        )
        upstream_host = pulumi.Output.concat(headless.metadata.name, ".", headless.metadata.namespace,
                                             ".svc.cluster.local")  # fmt: skip
        container, volumes, config_hash = self._nginx_container(upstream_host, resolve=True, served_models=None)
        pod_spec = {
            "containers": [container],
            "volumes": volumes,
            # nginx never calls the Kubernetes API: no token in the pod for an intruder to use.
            "automountServiceAccountToken": False,
            # nginx's preStop drains gracefully; the grace period covers the longest generation it proxies.
            "terminationGracePeriodSeconds": NGINX_PRESTOP_DELAY_S + self._args.spec.nginx.read_timeout_s + 30,
        }
        return pod_spec, config_hash, "/healthz"

    def _nginx_settings(self):
        spec = self._args.spec
        if spec.exposure.kind == "ingress" and not spec.nginx.real_ip_from:
            # Behind the ALB the TCP peer is the ALB; the client (a Route 53 checker) is in X-Forwarded-For.
            return spec.nginx.model_copy(update={"real_ip_from": PRIVATE_PROXY_CIDRS})
        return spec.nginx

    def _nginx_container(
        self, upstream_host: pulumi.Input[str], *, resolve: bool, served_models: list[str] | None,
        worker_auth_proxy: bool = False,
    ) -> tuple[pulumi.Output[dict], pulumi.Output[list], pulumi.Output[str]]:
        """The nginx container (and its volumes, and the hash of its config) proxying to ``upstream_host``;
        ``worker_auth_proxy`` adds the loopback proxy that gives vllm-router's calls to the pods the API key."""
        args, spec = self._args, self._args.spec
        upstream_port = vllm_release.VLLM_PORT if resolve else ROUTER_PORT
        # The key is in the container when the edge checks it or the worker-auth proxy adds it.
        with_key = spec.enforce_api_key or worker_auth_proxy
        settings = self._nginx_settings()

        def render(host: str, secret_name: str, config_map_name: str):
            return nginx_kubernetes_spec(
                settings,
                [UpstreamServer(host=host, port=upstream_port, resolve=resolve)],
                resolver=KUBE_DNS_RESOLVER if resolve else None,
                api_key_secret=(secret_name, args.api_key.key) if with_key else None,
                api_key_check=spec.enforce_api_key,
                config_map_name=config_map_name,
                resources={"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                served_models=served_models,
                # /healthz/model: a cached one-token completion through the balancer, for global health checks.
                probe_model=args.backends[0].served_model_name if spec.enforce_api_key else None,
                worker_auth_proxy_port=WORKER_AUTH_PROXY_PORT if worker_auth_proxy else None,
                image=spec.nginx_image,
            )

        inputs = pulumi.Output.all(upstream_host, args.api_key.name)
        config_data = inputs.apply(lambda values: render(values[0], values[1], "unused").config_map_data)
        # Auto-named (no metadata.name): a config change creates a new ConfigMap before the old one is deleted, and
        # the Deployment, which references the new name, rolls onto it — no pod ever mounts a missing ConfigMap.
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-nginx",
            metadata={"labels": self._labels, "namespace": args.namespace},
            data=config_data,
            opts=self._child,
        )
        kube = pulumi.Output.all(upstream_host, args.api_key.name, config_map.metadata.name).apply(
            lambda values: render(*values)
        )
        return kube.apply(lambda k: k.container), kube.apply(lambda k: k.volumes), config_data.apply(content_hash)

    # router --------------------------------------------------------------------------------------------------------
    def _router(self) -> tuple[dict, pulumi.Output[str], str]:
        args, spec = self._args, self._args.spec
        if args.multi_model:
            # Every vLLM pod of the namespace: the router asks each pod's /v1/models which model it serves.
            selector = inference_pods_selector()
        else:
            (backend,) = args.backends
            selector = backend.selector
        settings = spec.router.model_copy(update={"worker_api_key_env": "VLLM_API_KEY"})
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-router",
            metadata=object_meta(f"{self._object}-router", args.namespace, self._labels),
            opts=self._child,
        )
        role = k8s.rbac.v1.Role(
            f"{self._name}-router",
            metadata=object_meta(f"{self._object}-router", args.namespace, self._labels),
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            opts=self._child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-router",
            metadata=object_meta(f"{self._object}-router", args.namespace, self._labels),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": args.namespace}],
            opts=self._child,
        )
        container_args = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: router_args(
                settings,
                KubernetesDiscovery(selector=selector, namespace=namespace, port=vllm_release.VLLM_PORT),
                multi_model=args.multi_model,
                port=ROUTER_PORT,
            )
        )
        # /liveness answers while the router runs even with no healthy worker, so the router stays reachable and
        # answers fast (and, scaled to zero, its request counter can wake the model).
        probe = {"httpGet": {"path": "/liveness", "port": "router"}, "periodSeconds": 5, "timeoutSeconds": 3}
        container = {
            "name": "router",
            "image": spec.router_image,
            "command": ["vllm-router"],
            "args": container_args,
            "env": [args.api_key.env("VLLM_API_KEY")],
            "ports": [
                {"name": "router", "containerPort": ROUTER_PORT, "protocol": "TCP"},
                {"name": "metrics", "containerPort": settings.prometheus_port, "protocol": "TCP"},
            ],
            "readinessProbe": {**probe, "failureThreshold": 2},
            "livenessProbe": {**probe, "failureThreshold": 6},
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        pod_spec: dict = {
            # The router watches pods through the Kubernetes API: this pod keeps its token (the narrow Role above).
            "serviceAccountName": account.metadata.name,
            "automountServiceAccountToken": True,
            "containers": [container],
        }
        config_hash = container_args.apply(content_hash)
        if not args.multi_model:
            # Regular mode: clients talk to the router itself (its /v1/models is a worker's, OpenAI-shaped). It keeps
            # serving while the load balancer deregisters the pod, then drains on SIGTERM.
            container["ports"][0]["name"] = "http"
            for probe_name in ("readinessProbe", "livenessProbe"):
                container[probe_name]["httpGet"]["port"] = "http"
            container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(NGINX_PRESTOP_DELAY_S)]}}}
            pod_spec["terminationGracePeriodSeconds"] = (
                NGINX_PRESTOP_DELAY_S + settings.request_timeout_secs + ROUTER_SHUTDOWN_S
            )
            return pod_spec, config_hash, "/liveness"
        # Multi-model: an nginx sidecar is the pod's front door. vllm-router 0.1.17 answers /v1/models with
        # {"models": [...]} in this mode, which OpenAI clients cannot read; nginx answers it in the OpenAI shape from
        # the configured models, checks the API key at the edge, and proxies everything else to the router.
        # It also carries the router's own calls to the pods (http_proxy) and adds the key to them: the router
        # lists a new worker's models without its --api-key, gets 401 from vLLM and would file the worker under
        # model "unknown", sending every model's requests to it (seen with the real 0.1.17 binary).
        sidecar, volumes, sidecar_hash = self._nginx_container(
            "127.0.0.1", resolve=False, served_models=[b.served_model_name for b in args.backends],
            worker_auth_proxy=True,
        )
        proxy_url = f"http://127.0.0.1:{WORKER_AUTH_PROXY_PORT}"
        # The Kubernetes API is https (http_proxy does not apply); no_proxy names it anyway, so a client library
        # that reads proxies more broadly still watches pods directly. $(KUBERNETES_SERVICE_HOST) is expanded by the
        # kubelet from the service variables it injects into every container.
        no_proxy = "$(KUBERNETES_SERVICE_HOST),kubernetes.default.svc,kubernetes.default.svc.cluster.local,localhost"
        container["env"] += [
            # reqwest (the router's HTTP client) reads both spellings.
            {"name": "http_proxy", "value": proxy_url},
            {"name": "HTTP_PROXY", "value": proxy_url},
            {"name": "no_proxy", "value": no_proxy},
            {"name": "NO_PROXY", "value": no_proxy},
        ]
        # nginx drains through the router: the router must outlive it. nginx's preStop waits, sends SIGQUIT and
        # returns once its master has exited (its pid file is gone); the router's preStop waits for that too, so
        # the router gets SIGTERM only after the last request through nginx is done. The nginx temp volume (where
        # the pid file lives) is shared read-only for this. A fixed sleep would hold every terminating pod for the
        # whole request timeout even when nothing is in flight.
        nginx_settings = self._nginx_settings()
        shared = "/run/nginx-state"
        pid_file = shared + nginx_settings.pid_file[len(nginx_settings.temp_dir.rstrip("/")):]
        container["volumeMounts"] = [{"name": "nginx-tmp", "mountPath": shared, "readOnly": True}]
        container["lifecycle"] = {"preStop": {"exec": {"command": [
            "/bin/sh", "-c", f"sleep {NGINX_PRESTOP_DELAY_S}; while [ -e {pid_file} ]; do sleep 1; done",
        ]}}}
        # nginx's drain is bounded by the router's request timeout (the router ends longer requests itself).
        pod_spec["terminationGracePeriodSeconds"] = (
            NGINX_PRESTOP_DELAY_S + settings.request_timeout_secs + ROUTER_SHUTDOWN_S
        )
        pod_spec["containers"] = [sidecar, container]
        pod_spec["volumes"] = volumes
        both = pulumi.Output.all(config_hash, sidecar_hash).apply(lambda hashes: content_hash(hashes))
        return pod_spec, both, "/healthz"

    # shared --------------------------------------------------------------------------------------------------------
    def _deployment(self, pod_spec: dict, config_hash: pulumi.Input[str]) -> None:
        args, spec = self._args, self._args.spec
        pod_spec["topologySpreadConstraints"] = [
            {
                # One balancer per zone where possible: a zone outage leaves the others serving.
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": self._selector},
            }
        ]
        k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=object_meta(self._object, args.namespace, self._labels),
            spec={
                "replicas": spec.replicas,
                "selector": {"matchLabels": self._selector},
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
            spec={"selector": {"matchLabels": self._selector}, "maxUnavailable": 1},
            opts=self._child,
        )

    def _ingress(self, service: k8s.core.v1.Service, health_path: str) -> None:
        exposure = self._args.spec.exposure
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
                self._object, self._args.namespace, self._labels,
                annotations=exposure_annotations(exposure, health_path, self._certificate_arn),
            ),  # fmt: skip
            spec={"ingressClassName": exposure.ingress_class_name, "rules": [rule]},
            opts=self._child,
        )
