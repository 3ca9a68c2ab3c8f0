"""The ``affinity`` strategy (the default): the ``nginx`` strategy's pods, ConfigMap, health check and API-key edge,
with the front door sending each session to the same vLLM pod (consistent hashing on the session header, the OpenAI
``user`` field, the conversation's first user message or the client address) under a per-pod load cap, and to the
least-loaded pod when every pod is at its cap. Its pure generator is ``vllm_infra.balancing.affinity``; the measurements
behind it are in ``bench/README.md`` (routing bench)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vllm_infra import vllm_release
from vllm_infra.balancers.nginx import NginxStrategy, nginx_pods
from vllm_infra.balancers.registry import register
from vllm_infra.balancing.affinity import AffinitySettings, affinity_extension, load_cap
from vllm_infra.balancing.nginx import NginxConfExtension, UpstreamServer

if TYPE_CHECKING:
    from vllm_infra.balancers.base import BalancerContext, BalancerPods


class AffinityStrategy(NginxStrategy):
    """nginx with session affinity and a load cap in front of one model (see ``vllm_infra.balancing.affinity``).

    The cap is ``balancer.affinity.maxInFlightPerPod`` per nginx pod, by default the model's ``engine.maxNumSeqs``
    shared out over ``balancer.replicas``. Everything else (the headless Service, the ``nginx.conf`` settings of
    ``balancer.nginx``, ``/healthz/model`` for multi-region, no service-account token, the ports, nothing to
    scrape, no extra stack rule) is the ``nginx`` strategy's, inherited.
    """

    name = "affinity"
    settings_field = "affinity"
    settings_model = AffinitySettings

    def build(self, ctx: BalancerContext) -> BalancerPods:
        """The nginx strategy's pods with the capped consistent-hash upstream in the front door."""
        spec = ctx.args.spec
        (backend,) = ctx.args.backends
        cap = load_cap(spec.affinity, max_num_seqs=backend.max_num_seqs, replicas=spec.replicas)

        def extension(upstream_host: str) -> NginxConfExtension:
            server = UpstreamServer(host=upstream_host, port=vllm_release.VLLM_PORT, resolve=True)
            return affinity_extension(spec.affinity, spec.nginx, [server], cap=cap)

        return nginx_pods(ctx, extension)


register(AffinityStrategy())
