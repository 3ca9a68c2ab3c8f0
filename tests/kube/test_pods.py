"""Pod-spec pieces: the GPU toleration matches the GPU nodes' taint, emptyDir volumes are bounded, every cache of a
read-only container points into the scratch directory — and together with the probes and security contexts they
make a Pod the Kubernetes schema accepts."""

from __future__ import annotations

from tests.offline.kube_schema import validate_object
from vllm_infra.kube.pods import (
    GPU_RESOURCE,
    SCRATCH,
    empty_dir_volume,
    gpu_tolerations,
    scratch_env,
    scratch_volume,
)
from vllm_infra.kube.probes import http_probe, startup_probe
from vllm_infra.kube.security import pod_security_context, restricted_security_context


def test_the_gpu_toleration_tolerates_the_gpu_nodes_taint():
    assert GPU_RESOURCE == "nvidia.com/gpu"
    assert gpu_tolerations() == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_an_empty_dir_is_bounded_and_may_live_in_memory():
    assert empty_dir_volume("dshm", 8, memory=True) == {
        "name": "dshm",
        "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"},
    }
    assert empty_dir_volume("nginx-tmp", 2) == {"name": "nginx-tmp", "emptyDir": {"sizeLimit": "2Gi"}}


def test_the_scratch_volume_is_a_disk_backed_empty_dir():
    assert scratch_volume(20) == {"name": "scratch", "emptyDir": {"sizeLimit": "20Gi"}}


def test_every_cache_directory_is_under_the_scratch_directory():
    env = {variable["name"]: variable["value"] for variable in scratch_env()}
    assert SCRATCH == "/tmp"
    assert {"HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"} <= env.keys()
    assert all(value.startswith("/tmp/") for value in env.values()), env
    assert all(set(variable) == {"name", "value"} for variable in scratch_env())


def test_the_pieces_make_a_valid_pod():
    validate_object({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "vllm", "namespace": "vllm"},
        "spec": {
            "containers": [{
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.11.0",
                "env": scratch_env(),
                "ports": [{"name": "http", "containerPort": 8000}],
                "startupProbe": startup_probe("/health", "http", 600),
                "readinessProbe": http_probe("/health", "http", period_seconds=5, timeout_seconds=5,
                                             failure_threshold=3),
                "securityContext": restricted_security_context(2000, True),
                "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}, {"name": "dshm", "mountPath": "/dev/shm"}],
            }],
            "securityContext": pod_security_context(2000),
            "tolerations": gpu_tolerations(),
            "volumes": [scratch_volume(20), empty_dir_volume("dshm", 8, memory=True)],
        },
    })  # fmt: skip
