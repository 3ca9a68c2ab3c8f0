"""The ``affinity`` strategy: registered as the default, its settings validated with messages naming the key, its
cap sized from the engine's batch and the balancer replicas, and its nginx.conf in a planned stack."""

from __future__ import annotations

import re

import pytest

from tests.plans import TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.balancers import strategy_for
from vllm_infra.balancing.affinity import AffinitySettings, affinity_extension, load_cap
from vllm_infra.balancing.nginx import NginxSettings, UpstreamServer, render_nginx_conf
from vllm_infra.config import ConfigError
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.program import InvalidStackConfig

K8S_HOST = "llama-8b-pods.llm.svc.cluster.local"


def load_balanced(balancer: dict | None = None, **model_overrides) -> dict:
    config = single_model_config(cache={"accessMode": "ReadWriteMany"}, **model_overrides)
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE, **(balancer or {})}
    return config


def problems_of(tmp_path, config) -> list[str]:
    with pytest.raises((ConfigError, InvalidStackConfig)) as raised:
        plan_config(tmp_path, config)
    return raised.value.problems


def planned_nginx_conf(plan) -> str:
    (config_map,) = [c for c in plan.by_type("kubernetes:core/v1:ConfigMap") if "nginx.conf" in c.inputs["data"]]
    return config_map.inputs["data"]["nginx.conf"]


def test_affinity_is_the_default_strategy_and_keeps_the_nginx_edge() -> None:
    strategy = strategy_for(BalancerSpec().strategy)
    assert strategy.name == "affinity"
    assert strategy.edge_health_check and not strategy.routes_by_model and not strategy.wakes_from_zero
    assert strategy.settings_field == "affinity" and strategy.settings_model is AffinitySettings
    assert strategy.kubernetes_api_rules == ()
    assert strategy.traffic(BalancerSpec(), multi_model=False).ports == [8080]


@pytest.mark.parametrize(
    ("affinity", "key", "words"),
    [
        ({"sessionHeader": "X Session"}, "vllm-infra:balancer.affinity.sessionHeader", "letters, digits and '-'"),
        ({"sessionHeader": "x_session"}, "vllm-infra:balancer.affinity.sessionHeader", "e.g. X-Session-Id"),
        ({"maxInFlightPerPod": 0}, "vllm-infra:balancer.affinity.maxInFlightPerPod", "1..4096"),
        ({"maxInFlightPerPod": "lots"}, "vllm-infra:balancer.affinity.maxInFlightPerPod", "auto"),
        ({"fallback": "random"}, "vllm-infra:balancer.affinity.fallback", "least_conn"),
        ({"sessionHeadr": "X-Session-Id"}, "vllm-infra:balancer.affinity.sessionHeadr", "sessionHeader"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(tmp_path, affinity, key, words) -> None:
    problems = problems_of(tmp_path, load_balanced({"strategy": "affinity", "affinity": affinity}))
    assert len(problems) == 1, problems
    assert problems[0].startswith(key + ":"), problems[0]
    assert words in problems[0]


@pytest.mark.parametrize(
    ("cap", "max_num_seqs", "replicas", "expected"),
    [("auto", 256, 2, 128), ("auto", 255, 2, 128), ("auto", 256, 3, 86), ("auto", 1, 4, 1), (8, 256, 2, 8)],
)
def test_the_cap_shares_the_engine_batch_among_the_balancer_replicas(cap, max_num_seqs, replicas, expected) -> None:
    settings = AffinitySettings(max_in_flight_per_pod=cap)
    assert load_cap(settings, max_num_seqs=max_num_seqs, replicas=replicas) == expected


def test_kubernetes_ring_members_are_the_headless_services_srv_targets() -> None:
    """With `resolve` on an A record every pod carries the one server name, and nginx's ring is built from names;
    the SRV form (no port: it comes from the record) gives one ring member per pod."""
    server = UpstreamServer(host=K8S_HOST, port=8000, resolve=True)
    ext = affinity_extension(AffinitySettings(), NginxSettings(), [server], cap=64)
    conf = render_nginx_conf(
        NginxSettings(), [server], resolver="kube-dns.kube-system.svc.cluster.local", api_key_check=True, extension=ext
    )
    assert f"server {K8S_HOST} service=http resolve max_conns=64 max_fails=3 fail_timeout=30s;" in conf
    # The least_conn upstream (health, probe, fallback) is the nginx strategy's, unchanged.
    assert f"server {K8S_HOST}:8000 resolve max_fails=3 fail_timeout=30s;" in conf
    front_door = conf[conf.index("        location / {") :]
    assert "error_page 502 = @vllm_affinity_fallback;" in front_door
    assert "proxy_pass http://vllm_backends_affinity;" in front_door
    fallback = front_door[front_door.index("location @vllm_affinity_fallback") :]
    assert "proxy_pass http://vllm_backends;" in fallback.split("}")[0]


def test_key_maps_follow_the_settings() -> None:
    servers = [UpstreamServer(host="127.0.0.1", port=9001)]

    def maps(**settings) -> str:
        return "\n".join(affinity_extension(AffinitySettings(**settings), NginxSettings(), servers, cap=4).http_lines)

    default = maps()
    assert "map $http_x_session_id $vllm_affinity_key" in default and "map $request_body" in default
    assert '"" $remote_addr;' in default
    # The chain: header -> user field -> first user message -> address, each falling through on "".
    assert '"" $vllm_affinity_body_key;' in default
    assert '"" $vllm_affinity_conversation_key;' in default.split("map $vllm_affinity_user")[1]
    conversation = default.split("map $vllm_affinity_first_message $vllm_affinity_conversation_key")[1]
    assert conversation.split("}")[0].split() == [
        "{",
        '""',
        "$remote_addr;",
        "default",
        "$vllm_affinity_first_message;",
    ]
    no_conversation = maps(first_message_key=False)
    assert "$vllm_affinity_first_message" not in no_conversation and '"" $remote_addr;' in no_conversation
    custom = maps(
        session_header="X-Conversation", body_user_field=False, first_message_key=False, client_address_fallback=False
    )
    assert "map $http_x_conversation $vllm_affinity_key" in custom
    assert "$request_body" not in custom and "$remote_addr" not in custom
    assert "$http_" not in maps(session_header=None) and "map $host $vllm_affinity_key" in maps(session_header=None)
    reject = affinity_extension(AffinitySettings(fallback="reject"), NginxSettings(), servers, cap=4).server_lines
    assert any("return 503" in line for line in reject) and not any("proxy_pass" in line for line in reject)


def test_planned_stack_caps_each_pod_at_its_share_of_max_num_seqs(tmp_path) -> None:
    config = load_balanced({"replicas": 2}, engine={"maxNumSeqs": 64})
    conf = planned_nginx_conf(plan_config(tmp_path, config))  # strategy not set: the default
    (server,) = re.findall(r"^\s*server (\S+ service=http resolve max_conns=\d+) ", conf, flags=re.MULTILINE)
    assert server.endswith("max_conns=32")
    assert "location = /healthz/model" in conf  # the nginx edge health check multi-region relies on
    assert "hash $vllm_affinity_key consistent;" in conf


def test_planned_cap_can_be_set(tmp_path) -> None:
    config = load_balanced({"strategy": "affinity", "replicas": 3, "affinity": {"maxInFlightPerPod": 5}})
    conf = planned_nginx_conf(plan_config(tmp_path, config))
    assert re.search(r"service=http resolve max_conns=5 ", conf)


def test_the_nginx_strategy_is_unchanged_by_the_affinity_settings(tmp_path) -> None:
    """Affinity settings on an nginx stack change nothing: the nginx strategy has no affinity upstream."""
    plain = planned_nginx_conf(plan_config(tmp_path, load_balanced({"strategy": "nginx"})))
    other = tmp_path / "other"
    other.mkdir()
    with_settings = planned_nginx_conf(
        plan_config(other, load_balanced({"strategy": "nginx", "affinity": {"maxInFlightPerPod": 5}}))
    )
    assert plain == with_settings
    assert "vllm_affinity" not in plain and "least_conn;" in plain
