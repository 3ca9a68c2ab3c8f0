"""``ModelCache``: a PersistentVolumeClaim holding one model's weights, filled once by a pre-warm Job."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.components.kube import (
    SCRATCH,
    gpu_tolerations,
    minutes,
    object_meta,
    pod_security_context,
    restricted_security_context,
    scratch_env,
    scratch_volume,
    standard_labels,
)
from vllm_infra.components.secrets import SecretKeyRef
from vllm_infra.config import ModelSpec
from vllm_infra.config.capacity import GpuPlacement, pod_node_selector
from vllm_infra.policies.opt_out import opt_out_annotations

# Where the claim is mounted, in the pre-warm Job and in vLLM pods alike; HF_HOME points here.
HF_HOME = "/data/huggingface"

# Runs inside the pinned vLLM image, which ships huggingface_hub. Model and revision come from the environment so no
# value is ever interpolated into code. `original/*` holds duplicate PyTorch checkpoints (Llama repos) vLLM never
# reads: skipping them halves the download.
PREWARM_SCRIPT = """\
import os
from huggingface_hub import snapshot_download
path = snapshot_download(
    repo_id=os.environ["MODEL_ID"],
    revision=os.environ.get("MODEL_REVISION") or None,
    ignore_patterns=["original/*", "*.pth"],
)
print(f"model cached at {path}", flush=True)
"""


@dataclass
class ModelCacheArgs:
    """Inputs of ``ModelCache``.

    ``model`` gives the repository, revision and the ``cache`` settings (storage class, access mode, size, pre-warm);
    ``placement`` puts the pre-warm Job on the model's GPU nodes (see below);
    ``image`` runs the download (the vLLM image, so the Hub client matches the server's); ``hf_token`` is needed for
    gated repositories such as meta-llama.
    """

    namespace: pulumi.Input[str]
    model: ModelSpec
    placement: GpuPlacement
    image: str
    hf_token: SecretKeyRef | None = None


class ModelCache(pulumi.ComponentResource):
    """A PersistentVolumeClaim ``<model>-cache`` sized from the model's weights, and (``cache.prewarm``) a Job
    ``<model>-prewarm`` that downloads the pinned revision into it once.

    The claim is ``protect``-ed by default: deleting the stack or renaming the model cannot silently throw away
    hundreds of GiB of weights. vLLM Deployments depend on ``ready`` so no replica starts before the weights are there.

    Example::

        cache = ModelCache("llama-8b", ModelCacheArgs(namespace="vllm", model=spec, placement=place_model(spec),
                                                      image=VLLM_IMAGE, hf_token=secrets.hf_token))
        cache.claim_name  # Output[str] "llama-8b-cache"
    """

    claim_name: pulumi.Output[str]
    ready: pulumi.Resource

    def __init__(self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:model_cache:ModelCache", name, None, opts)
        model = args.model
        labels = standard_labels("cache", model.name, {"vllm-infra.io/model": model.name})

        claim_spec: dict = {
            "accessModes": [model.cache.access_mode],
            "resources": {"requests": {"storage": f"{model.cache_size_gib}Gi"}},
        }
        if model.cache.storage_class is not None:
            claim_spec["storageClassName"] = model.cache.storage_class
        # An unprotected cache is a documented choice: the annotation makes the protection policy advisory for it.
        opted_out = {} if model.cache.protect else {"annotations": opt_out_annotations(
            {"model-cache-protected": "cache.protect: false"})}  # fmt: skip
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-cache",
            metadata=object_meta(f"{model.name}-cache", args.namespace, labels, **opted_out),
            spec=claim_spec,
            opts=child_options(self, opts, protect=model.cache.protect),
        )
        self.claim_name = claim.metadata.name
        self.ready = claim

        if model.cache.prewarm:
            self.ready = self._prewarm_job(name, args, labels, opts)

        self.register_outputs({"claim_name": self.claim_name, "size_gib": model.cache_size_gib})

    def _prewarm_job(
        self, name: str, args: ModelCacheArgs, labels: dict[str, str], opts: pulumi.ResourceOptions | None
    ) -> k8s.batch.v1.Job:
        model = args.model
        env = [
            {"name": "MODEL_ID", "value": model.model},
            {"name": "MODEL_REVISION", "value": model.revision or ""},
            {"name": "HF_HOME", "value": HF_HOME},
            {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
            *scratch_env(),
        ]
        if args.hf_token is not None:
            env.append(args.hf_token.env("HF_TOKEN"))
        timeout_seconds = model.cache.prewarm_timeout_minutes * 60
        pod_spec = {
            "restartPolicy": "OnFailure",
            "containers": [
                {
                    "name": "prewarm",
                    "image": args.image,
                    "command": ["python3", "-c", PREWARM_SCRIPT],
                    "env": env,
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                    "securityContext": restricted_security_context(model.security.run_as_user, True),
                    "volumeMounts": [
                        {"name": "model-cache", "mountPath": HF_HOME},
                        {"name": "scratch", "mountPath": SCRATCH},
                    ],
                }
            ],
            "securityContext": pod_security_context(model.security.run_as_user),
            "automountServiceAccountToken": False,
            "volumes": [
                {"name": "model-cache", "persistentVolumeClaim": {"claimName": self.claim_name}},
                scratch_volume(2),
            ],
            # The first pod to mount a WaitForFirstConsumer EBS claim pins its availability zone; landing the Job on
            # the model's GPU nodes keeps the volume where the vLLM pods will run.
            "tolerations": gpu_tolerations(),
            "nodeSelector": pod_node_selector(model, args.placement),
        }
        return k8s.batch.v1.Job(
            f"{name}-prewarm",
            metadata=object_meta(f"{model.name}-prewarm", args.namespace, labels),
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": timeout_seconds,
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
            opts=child_options(
                self, opts,
                custom_timeouts=pulumi.CustomTimeouts(create=minutes(timeout_seconds + 300)),
            ),
        )
