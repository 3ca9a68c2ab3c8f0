"""The policy rules as plain functions: each catches what it should, names the field and the fix, and stays quiet
on compliant, unknown or unrelated resources. The library's own plans pass every mandatory rule."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from tests.plans import plan_config, single_model_config
from tests.policies import factories as f
from vllm_infra.offline.tree import plan_json
from vllm_infra.policies import (
    ALL_POLICIES,
    EnforcementLevel,
    Resource,
    api_key_from_secret,
    autoscaled_replicas_unset,
    autoscaler_bounds,
    evaluate,
    gpu_limit_matches_parallelism,
    images_pinned,
    model_cache_protected,
    network_policy_selects_vllm,
    pdb_covers_deployments,
    policy_named,
    resources_from_plan,
    secret_values_are_secrets,
    vllm_probes,
)
from vllm_infra.policies.kube import parse_flags, parse_image, selector_matches

GPU_FIELD = 'spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]'


def messages(violations) -> list[str]:
    return [v.message for v in violations]


# --- the registry ---------------------------------------------------------------------------------------------------


def test_registry_names_are_unique_and_every_policy_is_described():
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names))
    for policy in ALL_POLICIES:
        assert policy.description and policy.scope in {"resource", "stack"}
        assert policy_named(policy.name) is policy


def test_every_rule_is_mandatory_but_the_twins_of_explicit_opt_outs():
    advisory = [p.name for p in ALL_POLICIES if p.enforcement is EnforcementLevel.ADVISORY]
    assert advisory == ["model-cache-protected-opted-out", "vllm-network-policy-opted-out"]


# --- the library's own plans ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library_plan(tmp_path_factory):
    return plan_config(tmp_path_factory.mktemp("policies"), single_model_config())


def test_library_plan_passes_every_mandatory_rule(library_plan):
    assert evaluate(library_plan.resources) == []


def test_plan_json_document_evaluates_like_the_plan(library_plan):
    # "[secret]" in plan_json becomes a secret marker again, so Secrets still pass the secret-values rule.
    assert evaluate(resources_from_plan(plan_json(library_plan))) == evaluate(library_plan.resources)


def test_unprotected_model_cache_in_a_real_plan_is_caught_as_the_configs_explicit_choice(tmp_path):
    plan = plan_config(tmp_path, single_model_config(cache={"protect": False}))
    found = [v for v in evaluate(plan.resources) if v.policy.startswith("model-cache-protected")]
    assert [(v.policy, v.mandatory) for v in found] == [("model-cache-protected-opted-out", False)]
    assert "protect=True" in found[0].message and found[0].urn.endswith("-cache")


def test_evaluate_is_deterministic():
    resources = [f.deployment("b", replicas=2.0), f.deployment("a"), f.hpa({"maxReplicas": 3.0})]
    assert evaluate(resources) == evaluate(list(reversed(resources)))


# --- GPU limit = parallelism ----------------------------------------------------------------------------------------


def test_gpu_limit_must_equal_tensor_parallel_size():
    (violation,) = gpu_limit_matches_parallelism(f.deployment(containers=[f.vllm_container(tp=2, gpus="1")]))
    assert GPU_FIELD in violation.message
    assert "--tensor-parallel-size 2" in violation.message and "set it to 2" in violation.message


@pytest.mark.parametrize("gpus", ["4", 4, 4.0])
def test_gpu_limit_accepts_engine_number_shapes(gpus):
    assert gpu_limit_matches_parallelism(f.deployment(containers=[f.vllm_container(tp=4, gpus=gpus)])) == []


@pytest.mark.parametrize(
    "args, gpus, ok",
    [
        (["m", "--tensor-parallel-size=4"], "4", True),
        (["m", "-tp", "2"], "2", True),
        (["m", "--tensor_parallel_size", "2"], "1", False),
        (["m", "--tensor-parallel-size", "2", "--pipeline-parallel-size", "2"], "4", True),
        (["m", "--tensor-parallel-size", "2", "--pipeline-parallel-size", "2"], "2", False),
        (["m"], "1", True),  # --tensor-parallel-size defaults to 1
        (["m", "--tensor-parallel-size", "8", "--distributed-executor-backend", "ray"], "4", True),  # multi-node
        (["m", "--data-parallel-size", "2"], "2", True),
        (["m", "--data-parallel-size", "4", "--data-parallel-rank", "1"], "1", True),  # one rank per pod
    ],
)
def test_gpu_limit_reads_the_command_line_like_vllm(args, gpus, ok):
    container = f.vllm_container(gpus=gpus, args=args)
    assert (gpu_limit_matches_parallelism(f.deployment(containers=[container])) == []) is ok


def test_missing_gpu_limit_is_a_violation():
    container = f.vllm_container(tp=2, resources={"requests": {"cpu": "3"}})
    (message,) = messages(gpu_limit_matches_parallelism(f.deployment(containers=[container])))
    assert "is not set" in message and "set it to 2" in message


def test_gpu_rule_ignores_other_images_and_the_prewarm_job():
    other = f.vllm_container(image="nginx:1.27", resources={})
    prewarm = f.vllm_container(command=["python3", "-c", "print(1)"], resources={})
    assert gpu_limit_matches_parallelism(f.deployment(containers=[other, prewarm])) == []


def test_shell_wrapped_vllm_serve_is_checked():
    container = f.vllm_container(command=["/bin/sh", "-c"], args=["exec vllm serve org/m --tensor-parallel-size 2"],
                                 gpus="1")  # fmt: skip
    assert len(gpu_limit_matches_parallelism(f.deployment(containers=[container]))) == 1


# --- probes ---------------------------------------------------------------------------------------------------------


def test_probes_missing_are_named():
    resource = f.with_container(f.deployment(), startupProbe=None, livenessProbe=None)
    (message,) = messages(vllm_probes(resource))
    assert "containers[0].startupProbe" in message and "containers[0].livenessProbe" in message
    assert "readinessProbe" not in message and "add an httpGet probe" in message


def test_probes_present_pass():
    assert vllm_probes(f.deployment()) == []


# --- images pinned --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image", ["nginx", "nginx:latest", "nginx:", "localhost:5000/team/app", "ghcr.io/o/app:latest"]
)
def test_unpinned_images_are_violations(image):
    container = {"name": "side", "image": image}
    (message,) = messages(images_pinned(f.deployment(containers=[f.vllm_container(), container])))
    assert f"containers[1].image '{image}'" in message and "pin a release tag" in message


@pytest.mark.parametrize("image", ["nginx:1.27", "localhost:5000/team/app:v2", "vllm/vllm-openai@sha256:" + "a" * 64])
def test_pinned_images_pass(image):
    assert images_pinned(f.deployment(containers=[f.vllm_container(image=image)])) == []


def test_init_containers_and_cronjobs_are_checked():
    inputs = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "warm"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "main", "image": "busybox:1.36"}],
        }}}}},
    }  # fmt: skip
    (message,) = messages(images_pinned(Resource("kubernetes:batch/v1:CronJob", inputs, "urn:x", "warm")))
    assert "spec.jobTemplate.spec.template.spec.initContainers[0].image 'busybox'" in message


def test_unknown_image_is_not_judged():
    assert images_pinned(f.deployment(containers=[f.vllm_container(image=rpc.UNKNOWN)])) == []


def test_parse_image_tells_a_registry_port_from_a_tag():
    assert parse_image("registry:5000/vllm/vllm-openai").tag is None
    assert parse_image("registry:5000/vllm/vllm-openai:v1@sha256:ab").digest == "sha256:ab"


# --- API key ---------------------------------------------------------------------------------------------------------


def test_api_key_from_secret_key_ref_passes():
    assert api_key_from_secret(f.deployment()) == []


@pytest.mark.parametrize("value", ["sk-literal", rpc.wrap_rpc_secret("sk-secret-but-inline")])
def test_api_key_literal_env_value_is_a_violation(value):
    env = [{"name": "VLLM_API_KEY", "value": value}]
    (message,) = messages(api_key_from_secret(f.with_container(f.deployment(), env=env)))
    assert "env[0]" in message and "literal value" in message and "secretKeyRef" in message


@pytest.mark.parametrize("flag", [["--api-key", "sk-1"], ["--api-key=sk-1"]])
def test_api_key_on_the_command_line_is_a_violation(flag):
    container = f.vllm_container(args=["org/m", *flag])
    found = messages(api_key_from_secret(f.deployment(containers=[container])))
    assert any("--api-key" in m and "remove it" in m for m in found)


def test_missing_api_key_is_a_violation():
    (message,) = messages(api_key_from_secret(f.with_container(f.deployment(), env=[])))
    assert "has no VLLM_API_KEY" in message and "secretKeyRef" in message


# --- Secret values ---------------------------------------------------------------------------------------------------


def test_literal_secret_values_are_violations():
    resource = f.secret(string_data={"api-key": "sk-plain", "ok": rpc.wrap_rpc_secret("x")}, data={"token": "aGk="})
    assert messages(secret_values_are_secrets(resource)) == [
        'data["token"] is a plain value; pass it as a Pulumi secret (pulumi.Config().require_secret(...) or '
        "pulumi.Output.secret(...))",
        'stringData["api-key"] is a plain value; pass it as a Pulumi secret (pulumi.Config().require_secret(...) or '
        "pulumi.Output.secret(...))",
    ]


def test_secret_values_pass_when_marked_per_value_or_as_a_whole_map():
    assert secret_values_are_secrets(f.secret()) == []
    assert secret_values_are_secrets(f.secret(string_data=rpc.wrap_rpc_secret({"k": "v"}))) == []


def test_redacted_plan_json_secret_counts_as_a_secret():
    entry = {"urn": "urn:s", "type": "kubernetes:core/v1:Secret", "name": "s",
             "inputs": {"apiVersion": "v1", "kind": "Secret", "stringData": {"k": "[secret]"}}}  # fmt: skip
    assert evaluate([entry], [secret_values_are_secrets]) == []


# --- autoscaler bounds ------------------------------------------------------------------------------------------------


def test_sane_hpa_passes():
    spec = {"minReplicas": 1.0, "maxReplicas": 4.0, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300.0}}}
    assert autoscaler_bounds(f.hpa(spec)) == []


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"minReplicas": 0.0, "maxReplicas": 2.0}, "spec.minReplicas is 0; set it to at least 1"),
        ({"minReplicas": 3.0, "maxReplicas": 2.0}, "spec.maxReplicas 2 is below spec.minReplicas 3"),
        ({"maxReplicas": 2.0, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30.0}}},
         "spec.behavior.scaleDown.stabilizationWindowSeconds is 30 s; set it to at least 60 s"),
        ({"minReplicas": 1.0}, "spec.maxReplicas is not set"),
    ],
)  # fmt: skip
def test_hpa_bounds(spec, expected):
    (message,) = messages(autoscaler_bounds(f.hpa(spec)))
    assert message.startswith(expected)


@pytest.mark.parametrize("typed", [True, False], ids=["crd-type", "custom-resource"])
def test_keda_scale_to_zero_must_be_explicit(typed):
    (message,) = messages(autoscaler_bounds(f.scaled_object({"maxReplicaCount": 2.0}, typed=typed)))
    assert "minReplicaCount is not set" in message and "to 0 to opt into scale-to-zero explicitly" in message
    assert autoscaler_bounds(f.scaled_object({"minReplicaCount": 0.0, "maxReplicaCount": 2.0}, typed=typed)) == []


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"minReplicaCount": 3.0, "maxReplicaCount": 2.0}, "spec.maxReplicaCount 2 is below spec.minReplicaCount 3"),
        ({"minReplicaCount": 1.0, "cooldownPeriod": 30.0}, "spec.cooldownPeriod is 30 s"),
        ({"minReplicaCount": 1.0, "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
            "stabilizationWindowSeconds": 10.0}}}}}, "spec.advanced.horizontalPodAutoscalerConfig"),
    ],
)  # fmt: skip
def test_keda_bounds(spec, expected):
    (message,) = messages(autoscaler_bounds(f.scaled_object(spec)))
    assert message.startswith(expected)


# --- model cache protected --------------------------------------------------------------------------------------------


def test_model_cache_claims_must_be_protected():
    (message,) = messages(model_cache_protected(f.cache_claim(protect=False)))
    assert "'llama-cache' is not protected" in message and "protect=True" in message
    assert model_cache_protected(f.cache_claim(protect=True)) == []
    assert model_cache_protected(f.cache_claim(protect=False, component="logs")) == []


# --- stack rules ------------------------------------------------------------------------------------------------------


def test_pdb_must_select_every_vllm_deployment():
    deployment = f.deployment()
    assert pdb_covers_deployments([deployment, f.pdb()]) == []
    (violation,) = pdb_covers_deployments([deployment])
    assert violation.urn == deployment.urn and "no PodDisruptionBudget selects" in violation.message
    # A PDB in another namespace, or selecting other pods, does not count.
    assert len(pdb_covers_deployments([deployment, f.pdb(namespace="other")])) == 1
    assert len(pdb_covers_deployments([deployment, f.pdb(selector={"matchLabels": {"app": "web"}})])) == 1


def test_pdb_match_expressions_and_unknown_selectors():
    expression = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["vllm"]}]}
    assert pdb_covers_deployments([f.deployment(), f.pdb(selector=expression)]) == []
    # Not known until apply: not judged, rather than failed.
    assert pdb_covers_deployments([f.deployment(), f.pdb(selector={"matchLabels": {"app": rpc.UNKNOWN}})]) == []


def test_non_vllm_deployments_need_no_pdb():
    web = f.deployment("web", containers=[{"name": "web", "image": "nginx:1.27"}])
    assert pdb_covers_deployments([web]) == []


def test_network_policy_rule_is_mandatory_and_honours_empty_selectors():
    (violation,) = network_policy_selects_vllm([f.deployment()])
    assert violation.enforcement is EnforcementLevel.MANDATORY and violation.mandatory
    assert network_policy_selects_vllm([f.deployment(), f.network_policy()]) == []
    assert network_policy_selects_vllm([f.deployment(), f.network_policy(pod_selector={})]) == []


def test_autoscaled_deployment_must_not_set_replicas():
    scaler = f.hpa({"minReplicas": 1.0, "maxReplicas": 4.0})
    (violation,) = autoscaled_replicas_unset([f.deployment(replicas=2.0), scaler])
    assert "spec.replicas is 2" in violation.message and "HorizontalPodAutoscaler 'llama-hpa'" in violation.message
    assert autoscaled_replicas_unset([f.deployment(replicas=None), scaler]) == []
    assert autoscaled_replicas_unset([f.deployment(replicas=2.0, ignore_changes=("spec.replicas",)), scaler]) == []
    assert autoscaled_replicas_unset([f.deployment(replicas=2.0)]) == []  # no autoscaler: replicas are ours


def test_keda_owns_a_deployment_by_default_kind():
    keda = f.scaled_object({"minReplicaCount": 1.0})
    (violation,) = autoscaled_replicas_unset([f.deployment(replicas=1.0), keda])
    assert "ScaledObject 'llama-keda'" in violation.message


# --- helpers ----------------------------------------------------------------------------------------------------------


def test_parse_flags_last_wins_and_negative_numbers_are_values():
    assert parse_flags(["--x", "1", "--x=2", "--offset", "-1", "--switch"]) == {
        "--x": "2", "--offset": "-1", "--switch": None}  # fmt: skip


def test_selector_operators():
    labels = {"a": "1"}
    assert selector_matches({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}, labels) is True
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, labels) is False
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, labels) is None


def test_plan_json_unknowns_are_not_judged():
    resource = f.deployment(containers=[f.vllm_container(image="[unknown]")])
    entry = {"urn": resource.urn, "type": resource.type, "name": resource.name, "inputs": dict(resource.inputs)}
    assert evaluate([entry], [images_pinned]) == []


def test_unknown_gpu_limit_is_not_judged():
    container = f.vllm_container(tp=2, resources={"limits": {"nvidia.com/gpu": rpc.UNKNOWN}})
    assert gpu_limit_matches_parallelism(f.deployment(containers=[container])) == []
