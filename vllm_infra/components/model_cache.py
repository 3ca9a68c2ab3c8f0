"""``ModelCache``: a PersistentVolumeClaim holding one model's weights, filled once by a pre-warm Job."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.components.secrets import SecretKeyRef
from vllm_infra.config import ModelSpec
from vllm_infra.config.capacity import pod_node_selector
from vllm_infra.kube.labels import MODEL_LABEL, label_selector, object_meta, selector_labels, standard_labels
from vllm_infra.kube.pods import SCRATCH, gpu_tolerations, scratch_env, scratch_volume
from vllm_infra.kube.quantity import gib_quantity
from vllm_infra.kube.security import pod_security_context, restricted_security_context
from vllm_infra.kube.timeouts import minutes
from vllm_infra.policies.opt_out import opt_out_annotations
from vllm_infra.sizing.node_capacity import PREWARM_JOB_CPU_MILLICORES, PREWARM_JOB_MEMORY_MIB
from vllm_infra.sizing.placement import GpuPlacement

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


# No GPU, and requests small enough to fit beside a running replica: every GPU node keeps exactly this much free of
# replicas (vllm_infra.sizing.node_capacity), so a re-run on a full node schedules instead of waiting out the
# timeout. The limit is higher: the Hub client's buffers and the page cache of the files it writes.
PREWARM_RESOURCES = {
    "requests": {"cpu": f"{PREWARM_JOB_CPU_MILLICORES}m", "memory": f"{PREWARM_JOB_MEMORY_MIB}Mi"},
    "limits": {"memory": "4Gi"},
}


def prewarm_placement(model: ModelSpec, placement: GpuPlacement) -> dict:
    """Where the pre-warm Job's pod may run (the pod-spec keys ``nodeSelector``, ``tolerations``, ``affinity``).

    The Job runs on the first ``pulumi up`` and again whenever the revision or image changes (a Job's pod template is
    immutable, so Pulumi replaces it) — and then the model's replicas are running, possibly on every GPU node the
    group may have. It requests no GPU and leaves the replicas' room alone (``PREWARM_RESOURCES``), and:

    - **ReadWriteMany** (EFS): the volume mounts on any node in any zone, so the Job needs no GPU node at all. It
      gets no GPU toleration and no GPU-tier selector and runs on the general (system) nodes, leaving the GPU nodes to
      vLLM; the model's ``nodeSelector`` is for vLLM's nodes and does not apply either.
    - **ReadWriteOnce** (EBS): the volume attaches to one node at a time and lives in one zone. Before its first bind
      (``WaitForFirstConsumer``) the Job is the first consumer and decides that zone — so it must run on the model's
      GPU nodes, or the replicas could end up in a zone the volume is not in. Once bound, the PersistentVolume's node
      affinity keeps the Job in the volume's zone by itself; but while a replica runs, the volume is attached to that
      replica's node, and a Job pod on another node of the tier would hang on Multi-Attach. A required pod affinity
      to the replica would keep the first Job (no replica yet) Pending forever, so the Job *prefers* the node of a
      running replica: with ReadWriteOnce there is at most one replica (the config rejects more), so the preferred
      node is the attached one, and the Job fits beside the replica there. The spot and on-demand groups of a tier
      share labels, so a fallback node is as good a first home as a spot one.
    """
    if model.cache.access_mode == "ReadWriteMany":
        return {}
    replica_on_same_node = {
        "weight": 100,
        "podAffinityTerm": {
            "labelSelector": label_selector(selector_labels("inference", model.name)),
            "topologyKey": "kubernetes.io/hostname",
        },
    }
    return {
        "tolerations": gpu_tolerations(),
        "nodeSelector": pod_node_selector(model, placement),
        "affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [replica_on_same_node]}},
    }


@dataclass
class ModelCacheArgs:
    """Inputs of ``ModelCache``.

    Example::

        ModelCacheArgs(namespace="vllm", model=spec, placement=place_model(spec), image=VLLM_IMAGE)
    """

    namespace: pulumi.Input[str]
    """The namespace of the claim and the Job: the vLLM pods' (``vllm-infra:namespace``)."""
    model: ModelSpec
    """The model (``vllm-infra:models[]``): the repository, revision and the ``cache`` settings (storage class,
    access mode, size, pre-warm, protection)."""
    placement: GpuPlacement
    """Where the model runs: puts the pre-warm Job on its GPU nodes when the cache is ReadWriteOnce
    (``prewarm_placement``)."""
    image: str
    """The image that runs the download (``vllm-infra:vllmImage``): the vLLM image, so the Hub client matches the
    server's."""
    hf_token: SecretKeyRef | None = None
    """The Hugging Face token (``InferenceSecrets.hf_token``), needed for gated repositories such as meta-llama;
    None (the default): anonymous downloads."""


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

    args: ModelCacheArgs
    """The inputs the component was built from."""
    claim_name: pulumi.Output[str]
    """The PersistentVolumeClaim's name."""
    ready: pulumi.Resource
    """What a vLLM Deployment waits for: the pre-warm Job, or the claim without pre-warm."""

    def __init__(self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:model_cache:ModelCache", name, None, opts)
        self.args = args
        model = args.model
        labels = standard_labels("cache", model.name, {MODEL_LABEL: model.name})

        claim_spec: dict = {
            "accessModes": [model.cache.access_mode],
            "resources": {"requests": {"storage": gib_quantity(model.cache_size_gib)}},
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
                    "resources": PREWARM_RESOURCES,
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
            **prewarm_placement(model, args.placement),
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
                self,
                opts,
                custom_timeouts=pulumi.CustomTimeouts(create=minutes(timeout_seconds + 300)),
            ),
        )
