"""The routing model (bench/routing_model.py): its engines keep SimEngine's rules, its policies do what they say."""

from __future__ import annotations

import json

import pytest

from bench.routing_model import (
    BoundedPrefix,
    CacheAware,
    ClairvoyantPacking,
    LeastConn,
    ModelEngine,
    Request,
    SessionHash,
    main,
    simulate,
)
from bench.sim_engine import EngineModel, SimEngine, block_hashes, tokenize
from bench.workload import Turn, UserSession, Workload, WorkloadSpec, generate, history_messages
from tests.bench.test_sim_engine import FakeTime

MODEL = EngineModel(cache_blocks=64)


def words(start: int, count: int) -> str:
    return " ".join(f"w{i}" for i in range(start, start + count))


def workload_of(*users: UserSession) -> Workload:
    return Workload(WorkloadSpec(), (words(0, 200), words(1000, 120)), (words(5000, 90),), tuple(users))


def user(index: int, *, arrival_s: float = 0.0, turns: int = 3, system_prompt: int = 0) -> UserSession:
    return UserSession(
        index,
        f"user-{index}",
        arrival_s,
        system_prompt,
        0 if index % 2 else None,
        tuple(Turn(words(100 * index + 10_000 + 40 * t, 30), 12, 0.0 if t == 0 else 1.5) for t in range(turns)),
    )


def test_one_users_turns_take_the_ttft_and_cache_hits_the_threaded_sim_engine_gives() -> None:
    """One user at a time has no concurrency, so the model must match SimEngine to the float."""
    session = user(1, turns=4)
    workload = workload_of(session)
    fake = FakeTime()
    engine = SimEngine(MODEL, sleep=fake.sleep, clock=fake.clock)
    replies: list[str] = []
    cached = []
    for turn in session.turns:
        prompt = "\n".join(m["content"] for m in history_messages(workload, session, replies))
        pieces: list[str] = []
        usage = engine.run(prompt, turn.max_tokens, lambda group, first, into=pieces: into.extend(group))
        cached.append(usage["cached_tokens"])
        replies.append(" ".join(pieces))

    result = simulate(workload, LeastConn(), engines=1, model=MODEL)

    assert [r.ttft_ms for r in result.records] == pytest.approx(engine.stats()["ttft_ms"])
    assert [r.cached_tokens for r in result.records] == cached
    assert cached[0] == 0 and all(hit > 0 for hit in cached[1:])
    assert result.hit_rate == pytest.approx(engine.cache.hits / engine.cache.queries)


def test_a_request_arriving_during_a_prefill_waits_for_it() -> None:
    first, second = user(0, turns=1), user(2, turns=1, system_prompt=1)
    workload = workload_of(first, second)
    sizes = [len(tokenize("\n".join(m["content"] for m in history_messages(workload, u, [])))) for u in (first, second)]

    result = simulate(workload, LeastConn(), engines=1, model=MODEL)

    by_user = {r.user.user_id: r.ttft_ms for r in result.records}
    step_with_two_running = MODEL.decode_step_ms(2)
    assert by_user["user-0"] == pytest.approx(MODEL.prefill_ms(sizes[0]) + step_with_two_running)
    assert by_user["user-2"] == pytest.approx(
        MODEL.prefill_ms(sizes[0]) + MODEL.prefill_ms(sizes[1]) + step_with_two_running
    )


def test_a_full_engine_queues_requests_until_a_slot_frees() -> None:
    users = [user(2 * i, turns=1) for i in range(3)]
    result = simulate(workload_of(*users), LeastConn(), engines=1, model=EngineModel(cache_blocks=64, max_running=1))
    ttfts = sorted(r.ttft_ms for r in result.records)
    # With one slot the second request cannot even start its prefill before the first has decoded all 12 tokens.
    assert ttfts[1] - ttfts[0] > 11 * MODEL.decode_step_ms(1)


def engines(in_flight: list[int], served: list[int] | None = None) -> list[ModelEngine]:
    pool = [ModelEngine(i, MODEL) for i in range(len(in_flight))]
    for engine, count, total in zip(pool, in_flight, served or in_flight, strict=True):
        engine.running, engine.requests = count, total
    return pool


def request_of(session: UserSession, text: str) -> Request:
    tokens = tokenize(text)
    return Request(session, 0, tokens, 8, 0.0, block_hashes(tokens))


def test_least_conn_takes_the_fewest_in_flight_and_turns_on_ties() -> None:
    policy = LeastConn()
    probe = request_of(user(0), words(0, 32))
    assert policy.choose(probe, engines([2, 0, 1])) == 1
    idle = engines([0, 0, 0])
    assert [policy.choose(probe, idle) for _ in range(4)] == [2, 0, 1, 2]


def test_session_hash_keeps_a_session_and_passes_over_an_engine_at_its_cap() -> None:
    policy = SessionHash()
    pool = engines([0, 0, 0, 0])
    homes = {policy.choose(request_of(user(i), words(0, 32)), pool) for i in range(40)}
    assert len(homes) > 1, "forty sessions on one engine: the ring does not spread"
    session = request_of(user(7), words(0, 32))
    home = policy.choose(session, pool)
    assert all(policy.choose(session, pool) == home for _ in range(5))

    capped = SessionHash(cap=3)
    loads = [0, 0, 0, 0]
    loads[home] = 3
    assert capped.choose(session, engines(loads)) != home
    assert capped.choose(session, engines([3, 3, 4, 3])) == 0  # every engine at its cap: the least in flight


def test_cache_aware_follows_the_prefix_unless_imbalanced_and_fills_the_smallest_tree_otherwise() -> None:
    policy = CacheAware(balance_abs_threshold=2, balance_rel_threshold=1.5)
    shared = words(0, 160)
    pool = engines([0, 0, 0])
    first = policy.choose(request_of(user(0), shared + " " + words(900, 16)), pool)
    # Most of the prompt was routed to `first`: above cache_threshold, it goes there again.
    assert policy.choose(request_of(user(1), shared + " " + words(950, 16)), pool) == first
    # An unrelated prompt goes to an engine with an empty tree, not to `first`.
    assert policy.choose(request_of(user(2), words(3000, 64)), pool) != first
    # Imbalanced (max - min = 4 > 2 and 4 > 1.5 x 0): the least loaded, whatever the prefix.
    loads = [4, 4, 4]
    loads[first] = 4
    loads[(first + 1) % 3] = 0
    assert policy.choose(request_of(user(3), shared), engines(loads)) == (first + 1) % 3


def test_bounded_prefix_reads_the_engines_caches_and_holds_the_bound() -> None:
    shared = words(0, 160)
    pool = engines([0, 0, 0], served=[10, 10, 10])
    pool[2].cache.insert(tokenize(shared))
    policy = BoundedPrefix(new_bound=1.1, sticky_bound=1.1)
    session = request_of(user(0), shared + " " + words(700, 20))
    assert policy.choose(session, pool) == 2  # the longest cached prefix
    pool[2].requests = 13  # 14 > 1.1 x (34 / 3): over the bound, the session moves
    assert policy.choose(session, pool) != 2


def test_the_tightest_bound_keeps_the_imbalance_within_one_request_per_engine_of_even() -> None:
    workload = generate(WorkloadSpec(users=40, max_requests=150))
    result = simulate(workload, BoundedPrefix(new_bound=1.0, sticky_bound=1.0), engines=3)
    assert sum(result.requests_per_engine) == workload.request_count
    assert max(result.requests_per_engine) - min(result.requests_per_engine) <= 1
    unbounded = simulate(workload, BoundedPrefix(new_bound=50.0, sticky_bound=50.0), engines=3)
    assert unbounded.imbalance > result.imbalance


def test_a_prompt_is_cached_once_prefilled_so_a_request_queued_behind_it_hits_its_shared_prefix() -> None:
    first, second = user(0, turns=1), user(2, turns=1)  # the same 200-word system prompt, no document
    result = simulate(workload_of(first, second), LeastConn(), engines=1, model=MODEL)
    cached = {r.user.user_id: r.cached_tokens for r in result.records}
    assert cached == {"user-0": 0, "user-2": 192}  # the 12 full blocks of the system prompt


def test_clairvoyant_packing_fills_engines_to_the_slack_and_opens_few_engines_per_prompt() -> None:
    workload = generate(WorkloadSpec(users=60, max_requests=240))
    packing = ClairvoyantPacking(workload, 4, slack=1.1)
    result = simulate(workload, packing, engines=4)
    assert result.imbalance <= 1.1 + 1e-9
    engines_per_prompt: dict[int, set[int]] = {}
    for record in result.records:
        engines_per_prompt.setdefault(record.user.system_prompt, set()).add(record.engine)
    # Every conversation stays on its engine, and the prompts together open at most one extra engine per engine:
    # a prompt spills to a new engine only when the ones holding it are full.
    assert all(len({r.engine for r in result.records if r.user is u}) == 1 for u in workload.users)
    assert sum(len(held) for held in engines_per_prompt.values()) <= len(engines_per_prompt) + 4


def test_the_json_is_written_whichever_policies_are_chosen(tmp_path, capsys) -> None:
    out = tmp_path / "model.json"
    assert main(["--seeds", "1", "--only", "least_conn", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())
    assert list(runs) == ["least_conn"]
    assert sum(runs["least_conn"][0]["requests_per_engine"]) == generate(WorkloadSpec()).request_count
    assert "least_conn" in capsys.readouterr().out
