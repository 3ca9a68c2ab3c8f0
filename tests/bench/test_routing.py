"""The routing bench's own logic: the candidate nginx configs and the ratio table."""

from __future__ import annotations

import pytest

from bench.routing import (
    BASELINE,
    STRATEGIES,
    PhaseResult,
    format_spread,
    format_table,
    main,
    median_result,
    replace_upstream_method,
)
from vllm_infra.balancing.nginx import NginxSettings, UpstreamServer, render_nginx_conf


def test_candidates_replace_the_one_least_conn_line_of_the_generated_config() -> None:
    conf = render_nginx_conf(
        NginxSettings(), [UpstreamServer(host="127.0.0.1", port=9001)], resolver=None, api_key_check=False
    )
    changed = replace_upstream_method(conf, "hash $http_x_session_id consistent;")
    assert "least_conn;" not in changed
    assert changed.count("        hash $http_x_session_id consistent;\n") == 1
    with pytest.raises(RuntimeError, match="least_conn"):
        replace_upstream_method(changed, "hash $remote_addr consistent;")


def test_every_strategy_has_a_unique_name_and_the_baseline_runs_first() -> None:
    names = [s.name for s in STRATEGIES]
    assert len(set(names)) == len(names) and names[0] == BASELINE
    assert {s.source_mode for s in STRATEGIES} == {"per-user", "single"}


def test_table_reports_ratios_against_the_baseline() -> None:
    base = PhaseResult(
        BASELINE,
        "b",
        ok=10,
        hit_rate=0.5,
        ttft_p50_ms=200,
        ttft_p99_ms=800,
        throughput_rps=4,
        imbalance=1.0,
        requests_per_engine=[5, 5],
    )
    other = PhaseResult(
        "other",
        "o",
        ok=10,
        hit_rate=0.75,
        ttft_p50_ms=100,
        ttft_p99_ms=1000,
        throughput_rps=5,
        imbalance=1.5,
        requests_per_engine=[3, 7],
    )
    failed = PhaseResult("broken", "x", failure="nginx is not installed")
    table = format_table([base, other, failed])
    ratio_line = next(line for line in table.splitlines() if line.strip().startswith("other") and "hit +" in line)
    assert "hit +25.0 pt" in ratio_line
    assert "TTFT p50  x0.50" in ratio_line and "p99  x1.25" in ratio_line
    assert "throughput  x1.25" in ratio_line and "imbalance  x1.50" in ratio_line
    assert "broken                           not run: nginx is not installed" in table


def test_requests_identify_the_user_by_header_and_body_field_or_not_at_all() -> None:
    from bench.routing import request_identity
    from bench.workload import UserSession

    user = UserSession(7, "user-0007", 0.0, 0, None, ())
    assert request_identity(user, "session") == ({"X-Session-Id": "user-0007"}, {"user": "user-0007"})
    assert request_identity(user, "user") == ({}, {"user": "user-0007"})
    assert request_identity(user, "none") == ({}, {})


def test_the_affinity_rows_cover_every_key_and_source_mode_with_settings() -> None:
    rows = [s for s in STRATEGIES if s.kind == "affinity"]
    assert all(s.affinity is not None for s in rows)
    assert {(s.keys, s.source_mode) for s in rows} >= {
        ("session", "per-user"),
        ("session", "single"),
        ("user", "single"),
        ("none", "per-user"),
        ("none", "single"),
    }
    # Every other row sends the session header and the user field, as before.
    assert {s.keys for s in STRATEGIES if s.kind != "affinity"} == {"session"}


def test_affinity_rows_render_the_strategys_extension_on_the_generated_config() -> None:
    from vllm_infra.balancing.affinity import affinity_extension

    row = next(s for s in STRATEGIES if s.name == "affinity")
    servers = [UpstreamServer(host="127.0.0.1", port=p) for p in (9001, 9002)]
    ext = affinity_extension(row.affinity, NginxSettings(), servers, cap=32)
    conf = render_nginx_conf(NginxSettings(), servers, resolver=None, api_key_check=False, extension=ext)
    assert "server 127.0.0.1:9001 max_conns=32 max_fails=3 fail_timeout=30s;" in conf


def test_the_rows_the_goals_are_judged_on_are_the_repeated_ones() -> None:
    assert {s.name for s in STRATEGIES if s.decides_goal} == {
        BASELINE,
        "affinity",
        "affinity-no-key-single-source",
        "nginx-hash-session",
        "router-cache_aware",
        "router-sticky_least_loaded",
    }
    # The collapse row keys on nothing the client sends, from one address: only the conversation key can spread it.
    collapse = next(s for s in STRATEGIES if s.name == "affinity-no-key-single-source")
    assert (collapse.keys, collapse.source_mode) == ("none", "single") and collapse.affinity.first_message_key
    without = next(s for s in STRATEGIES if s.name == "affinity-no-conversation-no-key-single-source")
    assert not without.affinity.first_message_key and (without.keys, without.source_mode) == ("none", "single")


def _run(name: str, hit: float, p99: float, imbalance: float, per_engine: list[int]) -> PhaseResult:
    return PhaseResult(
        name, "d", sent=10, ok=9, errors=1, hit_rate=hit, ttft_p99_ms=p99, imbalance=imbalance,
        requests_per_engine=per_engine, wall_s=2.0,
    )  # fmt: skip


def test_a_repeated_row_is_the_median_of_each_column_and_the_sum_of_the_counts() -> None:
    runs = [
        _run("a", 0.90, 300.0, 1.30, [13, 7]),
        _run("a", 0.80, 900.0, 1.10, [11, 9]),
        _run("a", 0.85, 320.0, 1.20, [12, 8]),
        PhaseResult("a", "d", failure="engine did not start"),
    ]
    row = median_result(runs)
    assert (row.hit_rate, row.ttft_p99_ms, row.imbalance) == (0.85, 320.0, 1.20)
    assert (row.sent, row.ok, row.errors, row.wall_s) == (30, 27, 3, 6.0)
    assert row.requests_per_engine == [12, 8]  # the run whose imbalance is the median
    assert row.failure is None
    only_failures = [PhaseResult("b", "d", failure="x"), PhaseResult("b", "d", failure="y")]
    assert median_result(only_failures).failure == "x"


def test_the_spread_table_shows_median_and_min_max_of_repeated_rows_only() -> None:
    runs = {
        "repeated": [_run("repeated", 0.9, 300.0, 1.3, [1]), _run("repeated", 0.8, 500.0, 1.1, [1])],
        "once": [_run("once", 0.5, 100.0, 1.0, [1])],
    }
    table = format_spread(runs)
    (line,) = [row for row in table.splitlines() if row.strip().startswith("repeated")]
    assert "85.0 [80.0-90.0]" in line and "400 [300-500]" in line and "1.20 [1.10-1.30]" in line
    assert "once" not in table
    assert format_spread({"once": runs["once"]}) == ""


@pytest.mark.parametrize("repeat", ["0", "10"])
def test_repeat_is_bounded(repeat, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--repeat", repeat, "--only", BASELINE])
    assert "--repeat 1..9" in capsys.readouterr().err
