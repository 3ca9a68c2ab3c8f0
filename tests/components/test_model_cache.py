"""ModelCache: the claim's size and protection, and the pre-warm Job the Deployment waits on."""

from __future__ import annotations

import math

from tests.offline.kube_schema import validate_object
from tests.plans import TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.offline.render import manifest


def test_claim_is_sized_from_the_weights_with_headroom(tmp_path):
    plan = plan_config(tmp_path, single_model_config(weightsGib=140, cache={"storageClass": "gp3"}))
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == f"{math.ceil(140 * 1.25 + 10)}Gi"
    assert claim.inputs["spec"]["storageClassName"] == "gp3"
    assert claim.inputs["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_claim_size_and_class_can_be_set(tmp_path):
    plan = plan_config(tmp_path, single_model_config(cache={"sizeGib": 500}))
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert "storageClassName" not in claim.inputs["spec"], "None means the cluster's default class"


def test_claim_is_protected_from_accidental_deletion(tmp_path):
    assert plan_config(tmp_path, single_model_config()).one("kubernetes:core/v1:PersistentVolumeClaim").protect
    unprotected = plan_config(tmp_path, single_model_config(cache={"protect": False}))
    assert not unprotected.one("kubernetes:core/v1:PersistentVolumeClaim").protect


def test_prewarm_job_downloads_the_pinned_revision_with_the_token_from_the_secret(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    job = plan.one("kubernetes:batch/v1:Job")
    pod = job.inputs["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["MODEL_ID"]["value"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert env["MODEL_REVISION"]["value"] == "0e9e39f249a16976918f6564b8830bc894c89659"
    token_secret = plan.one("kubernetes:core/v1:Secret", "us-east-1-secrets-hf-token")
    assert (
        env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == token_secret.name
    )  # auto-named: the reference follows the Secret
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim")
    volume = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert volume == claim.inputs["metadata"]["name"]
    assert job.custom_timeouts["create"]


def test_deployment_waits_for_the_prewarm_job(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    job = plan.one("kubernetes:batch/v1:Job")
    # The Deployment itself, not only its component: a component's depends_on does not reach its children.
    assert job.urn in plan.one("kubernetes:apps/v1:Deployment").depends_on


def test_without_prewarm_there_is_no_job_and_pods_download_with_the_token(tmp_path):
    plan = plan_config(tmp_path, single_model_config(cache={"prewarm": False}))
    assert plan.by_type("kubernetes:batch/v1:Job") == []
    deployment = plan.one("kubernetes:apps/v1:Deployment").inputs
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "HF_HUB_OFFLINE" not in env
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"


def shared_cache_config():
    config = single_model_config(cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}, replicas=2)
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    return config


def test_prewarm_job_requests_no_gpu_and_little_enough_to_fit_beside_a_replica(tmp_path):
    for config in (single_model_config(), shared_cache_config()):
        resources = plan_config(tmp_path, config).one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["spec"][
            "containers"][0]["resources"]  # fmt: skip
        assert "nvidia.com/gpu" not in resources["requests"] and "nvidia.com/gpu" not in resources.get("limits", {})
        assert resources["requests"] == {"cpu": "500m", "memory": "1024Mi"}


def test_with_a_shared_cache_the_prewarm_job_leaves_the_gpu_nodes_alone(tmp_path):
    pod = plan_config(tmp_path, shared_cache_config()).one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["spec"]
    # An EFS volume mounts anywhere: no GPU-tier selector, no GPU toleration — the Job runs on the system nodes.
    assert "nodeSelector" not in pod and "tolerations" not in pod and "affinity" not in pod


def test_with_a_node_local_cache_the_prewarm_job_follows_the_replica_to_its_node(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    job = plan.one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["spec"]
    replica = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]
    # Before the first bind the Job decides the volume's zone: on the tier's GPU nodes, like the replica.
    assert job["nodeSelector"] == replica["spec"]["nodeSelector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in job["tolerations"]
    # A re-run while the replica holds the volume goes to the replica's node (preferred: the first run has none).
    (term,) = job["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= replica["metadata"]["labels"].items()
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in job["affinity"]["podAffinity"]
    validate_object(manifest(plan.one("kubernetes:batch/v1:Job")))
