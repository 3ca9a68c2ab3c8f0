"""VllmDeployment: what the engine receives for the Deployment, Service and PodDisruptionBudget."""

from __future__ import annotations

import pytest

from tests.plans import container, plan_config, single_model_config
from vllm_infra import vllm_release
from vllm_infra.components.vllm import vllm_serve_args
from vllm_infra.config import ModelSpec


def test_gpu_limit_is_the_tensor_parallel_size(tmp_path):
    plan = plan_config(
        tmp_path,
        single_model_config(
            engine={"tensorParallelSize": 4}, resources={"cpu": "30", "memory": "150Gi", "shmSizeGib": 16}
        ),
    )
    resources = container(plan)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "4"
    assert resources["requests"]["nvidia.com/gpu"] == "4"
    assert "cpu" not in resources["limits"], "a CPU limit throttles the tokenizer"
    args = container(plan)["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "4"


def test_pods_tolerate_the_gpu_taint_and_get_memory_backed_shm(tmp_path):
    plan = plan_config(tmp_path, single_model_config(resources={"cpu": "3", "memory": "12Gi", "shmSizeGib": 3}))
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "3Gi"}
    mounts = {m["name"]: m["mountPath"] for m in container(plan)["volumeMounts"]}
    assert mounts["dshm"] == "/dev/shm"


def test_model_cache_is_mounted_as_the_hugging_face_cache(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    vllm = container(plan)
    env = {e["name"]: e for e in vllm["env"]}
    mount = next(m for m in vllm["volumeMounts"] if m["name"] == "model-cache")
    assert env["HF_HOME"]["value"] == mount["mountPath"]
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "model-cache")
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim.inputs["metadata"]["name"]
    # Pre-warmed: the pods never call the Hub, so a scale-out cannot be rate-limited.
    assert env["HF_HUB_OFFLINE"]["value"] == "1"
    assert "HF_TOKEN" not in env


def test_api_key_comes_from_the_secret_never_the_command_line(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    vllm = container(plan)
    env = {e["name"]: e for e in vllm["env"]}
    secret = plan.one("kubernetes:core/v1:Secret", "us-east-1-secrets-api-key")
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": secret.name,
        "key": "api-key",
    }
    assert "value" not in env["VLLM_API_KEY"]
    # Auto-named: a rotated key is a new Secret, and the new name in the pod template rolls the pods.
    assert "name" not in secret.inputs["metadata"]
    assert not any(arg.startswith("--api-key") for arg in vllm["args"])


def test_startup_budget_grows_with_model_size_and_pulumi_waits_as_long(tmp_path):
    small = plan_config(tmp_path, single_model_config(weightsGib=15))
    large = plan_config(tmp_path, single_model_config(model="meta-llama/Llama-3.1-70B-Instruct"))

    def budget(plan):
        probe = container(plan)["startupProbe"]
        return probe["failureThreshold"] * probe["periodSeconds"]

    assert budget(small) >= 300 + 10 * 15
    assert budget(large) >= 300 + 10 * 131  # 70B in bf16: ~131 GiB of weights
    # vLLM's own engine-start timeout must not fire before the probe budget does.
    env = {e["name"]: e.get("value") for e in container(large)["env"]}
    assert int(env["VLLM_ENGINE_READY_TIMEOUT_S"]) >= budget(large)
    deployment = large.one("kubernetes:apps/v1:Deployment")
    wait_minutes = int(deployment.custom_timeouts["create"].rstrip("m"))
    assert wait_minutes * 60 > budget(large)
    assert deployment.inputs["spec"]["progressDeadlineSeconds"] > budget(large)


def test_readiness_and_liveness_probe_health(tmp_path):
    vllm = container(plan_config(tmp_path, single_model_config()))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"] == {"path": "/health", "port": "http"}
    # A restart costs a full model load: liveness tolerates a minute and a half of slow /health answers.
    assert vllm["livenessProbe"]["failureThreshold"] * vllm["livenessProbe"]["periodSeconds"] >= 90


def test_termination_drains_in_flight_streams(tmp_path):
    plan = plan_config(tmp_path, single_model_config(lifecycle={"preStopSeconds": 20, "drainSeconds": 600}))
    vllm = container(plan)
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert vllm["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "20"]
    assert vllm["args"][vllm["args"].index("--shutdown-timeout") + 1] == "600"
    assert pod["terminationGracePeriodSeconds"] > 20 + 600


def test_rolling_update_never_drops_capacity_with_a_shared_cache(tmp_path):
    plan = plan_config(tmp_path, single_model_config(cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}))
    strategy = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_single_replica_on_a_read_write_once_cache_is_recreated_not_surged(tmp_path):
    plan = plan_config(tmp_path, single_model_config(cache={"accessMode": "ReadWriteOnce"}))
    assert plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["strategy"] == {"type": "Recreate"}
    assert any("ReadWriteOnce" in warning for warning in plan.warnings)


def test_service_and_disruption_budget_select_the_pods(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    deployment = plan.one("kubernetes:apps/v1:Deployment").inputs
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = plan.one("kubernetes:core/v1:Service").inputs["spec"]
    assert service["selector"] == selector
    assert service["ports"][0]["port"] == vllm_release.VLLM_PORT
    pdb = plan.one("kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]
    assert pdb["selector"]["matchLabels"] == selector
    assert pdb["maxUnavailable"] == 1


def test_image_is_the_pinned_release(tmp_path):
    vllm = container(plan_config(tmp_path, single_model_config()))
    assert vllm["image"] == f"vllm/vllm-openai:v{vllm_release.VLLM_VERSION}"


ENGINE_VARIANTS = [
    {},
    {"enablePrefixCaching": False, "enableChunkedPrefill": False, "maxNumBatchedTokens": 16384},
    {"quantization": "awq", "dtype": "float16", "kvCacheDtype": "fp8", "trustRemoteCode": True},
    {"otlpTracesEndpoint": "http://otel-collector.observability:4318/v1/traces", "enableLogRequests": True},
    {"maxModelLen": None, "maxNumBatchedTokens": None, "extraArgs": ["--enforce-eager", "--seed", "7"]},
]


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_every_emitted_flag_exists_in_the_pinned_release(engine):
    model = ModelSpec.model_validate(
        {"name": "m", "model": "org/m", "revision": "abc123", "weightsGib": 10, "engine": engine}
    )
    flags = [arg.split("=", 1)[0] for arg in vllm_serve_args(model, tensor_parallel_size=2) if arg.startswith("--")]
    unknown = [flag for flag in flags if flag not in vllm_release.known_flags()]
    assert not unknown, f"not flags of vLLM {vllm_release.VLLM_VERSION}: {unknown}"
    assert "--disable-log-requests" not in flags


def test_containers_meet_the_restricted_pod_security_standard(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"):
        pod = plan.one(kind).inputs["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch", "no recursive chown of weights"
        for item in pod["containers"]:
            context = item["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] == 2000
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert context["readOnlyRootFilesystem"] is True
            # With a read-only root every cache must point into a writable mount.
            writable = [m["mountPath"] for m in item["volumeMounts"]]
            env = {e["name"]: e.get("value") for e in item["env"]}
            for variable in ("HOME", "XDG_CACHE_HOME", "TRITON_CACHE_DIR", "HF_HOME"):
                assert any(env[variable].startswith(path) for path in writable), variable


def test_serve_args_of_a_default_engine_in_order():
    """The exact command line (order included: the diff tool and the pod spec history depend on it)."""
    model = ModelSpec.model_validate({"name": "m", "model": "org/m", "revision": "abc123", "weightsGib": 10})
    assert vllm_serve_args(model, tensor_parallel_size=2) == [
        "org/m",
        "--host", "0.0.0.0",
        "--port", "8000",
        "--served-model-name", "org/m",
        "--tensor-parallel-size", "2",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "256",
        "--enable-prefix-caching",
        "--enable-chunked-prefill",
        "--dtype", "auto",
        "--kv-cache-dtype", "auto",
        "--shutdown-timeout", "300",
        "--revision", "abc123",
        "--max-model-len", "8192",
        "--max-num-batched-tokens", "8192",
    ]  # fmt: skip


def test_serve_args_of_an_engine_with_every_setting_changed_in_order():
    model = ModelSpec.model_validate(
        {
            "name": "m",
            "model": "org/m",
            "servedModelName": "chat",
            "weightsGib": 10,
            "lifecycle": {"drainSeconds": 120},
            "engine": {
                "maxModelLen": None,
                "gpuMemoryUtilization": 0.85,
                "maxNumSeqs": 64,
                "maxNumBatchedTokens": None,
                "enablePrefixCaching": False,
                "enableChunkedPrefill": False,
                "quantization": "awq",
                "dtype": "float16",
                "kvCacheDtype": "fp8",
                "trustRemoteCode": True,
                "otlpTracesEndpoint": "http://otel-collector.observability:4318/v1/traces",
                "enableLogRequests": True,
                "extraArgs": ["--enforce-eager", "--seed", "7"],
            },
        }
    )
    assert vllm_serve_args(model, tensor_parallel_size=1, port=9000) == [
        "org/m",
        "--host", "0.0.0.0",
        "--port", "9000",
        "--served-model-name", "chat",
        "--tensor-parallel-size", "1",
        "--gpu-memory-utilization", "0.85",
        "--max-num-seqs", "64",
        "--no-enable-prefix-caching",
        "--no-enable-chunked-prefill",
        "--dtype", "float16",
        "--kv-cache-dtype", "fp8",
        "--shutdown-timeout", "120",
        "--quantization", "awq",
        "--trust-remote-code",
        "--otlp-traces-endpoint", "http://otel-collector.observability:4318/v1/traces",
        "--enable-log-requests",
        "--enforce-eager", "--seed", "7",
    ]  # fmt: skip
