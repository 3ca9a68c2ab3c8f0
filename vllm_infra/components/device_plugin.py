"""``NvidiaDevicePlugin``: advertises ``nvidia.com/gpu`` on AL2023 NVIDIA nodes (Bottlerocket ships it built in)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.kube.pods import gpu_tolerations

CHART = "nvidia-device-plugin"
CHART_VERSION = "0.17.4"
CHART_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"


@dataclass
class NvidiaDevicePluginArgs:
    """Inputs of ``NvidiaDevicePlugin``; the defaults are what EKS GPU nodes need.

    Example::

        NvidiaDevicePluginArgs(namespace="kube-system")
    """

    namespace: str = "kube-system"
    """Where the chart's DaemonSet runs: ``kube-system`` by default, beside the other node agents (kube-proxy, the
    VPC CNI) that every node needs before it can take pods."""


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA Kubernetes device plugin, from its Helm chart pinned to ``CHART_VERSION``, in ``kube-system``.

    Without it, AL2023 GPU nodes report no ``nvidia.com/gpu`` capacity and vLLM pods stay Pending — one of the
    field's "GPU nodes that never arrive" failures. The DaemonSet tolerates the GPU taint; it selects nodes labelled
    ``nvidia.com/gpu.present=true``, which ``GpuNodeGroup`` sets.

    Example::

        NvidiaDevicePlugin("device-plugin", opts=pulumi.ResourceOptions(provider=cluster.k8s_provider))
    """

    args: NvidiaDevicePluginArgs
    """The inputs the component was built from (the defaults when none were given)."""

    def __init__(
        self, name: str, args: NvidiaDevicePluginArgs | None = None, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("vllm-infra:device_plugin:NvidiaDevicePlugin", name, None, opts)
        # Optional, unlike other components' args: every field has a default, and callers predate the Args.
        args = args if args is not None else NvidiaDevicePluginArgs()
        self.args = args
        k8s.helm.v4.Chart(
            f"{name}-chart",
            chart=CHART,
            version=CHART_VERSION,
            repository_opts={"repo": CHART_REPOSITORY},
            namespace=args.namespace,
            values={"tolerations": gpu_tolerations(), "priorityClassName": "system-node-critical"},
            opts=child_options(self, opts),
        )
        self.register_outputs({"chart_version": CHART_VERSION, "namespace": args.namespace})
