"""The routing bench's simulated engine: prefix cache accounting, LRU eviction, timing model, HTTP surface."""

from __future__ import annotations

import json

import pytest

from bench.sim_engine import (
    BLOCK_TOKENS,
    DEFAULT_API_KEY,
    EngineModel,
    PrefixCache,
    SimEngine,
    block_hashes,
    reply_words,
    serve,
    tokenize,
)
from tests.loopback.procs import request, stream


def words(start: int, count: int) -> str:
    return " ".join(f"w{i}" for i in range(start, start + count))


def test_tokenize_is_one_token_per_word_and_deterministic() -> None:
    assert len(tokenize("a b\nc  d")) == 4
    assert tokenize("a b") == tokenize(" a\tb ")
    assert tokenize("a b") != tokenize("b a")
    # CRC-32 of b"a": fixed across processes and runs (no per-process hash seed).
    assert tokenize("a") == [0xE8B7BE43]


def test_block_hashes_cover_full_blocks_only_and_chain_the_prefix() -> None:
    tokens = list(range(3 * BLOCK_TOKENS + 5))
    assert len(block_hashes(tokens)) == 3
    other = [*range(BLOCK_TOKENS), 999, *range(BLOCK_TOKENS + 1, 3 * BLOCK_TOKENS)]
    # Same first block, different second block: every later block differs too, although block 3 is equal.
    ours, theirs = block_hashes(tokens), block_hashes(other)
    assert ours[0] == theirs[0]
    assert ours[1] != theirs[1] and ours[2] != theirs[2]


def test_lookup_counts_leading_cached_blocks_as_hits_in_tokens() -> None:
    cache = PrefixCache(capacity_blocks=100)
    prompt = list(range(50))  # 3 full blocks + 2 tokens
    assert cache.lookup(prompt) == 0
    cache.insert(prompt)
    assert len(cache) == 3
    assert cache.lookup(prompt) == 48
    longer = prompt + list(range(1000, 1030))  # shares the 48 cached tokens, then new ones
    assert cache.lookup(longer) == 48
    diverging = [7, *prompt[1:]]  # first token differs: nothing matches although the rest is equal
    assert cache.lookup(diverging) == 0
    assert cache.queries == 50 + 50 + 80 + 50
    assert cache.hits == 0 + 48 + 48 + 0


def test_a_miss_stops_the_match_even_if_later_blocks_are_cached() -> None:
    cache = PrefixCache(capacity_blocks=100)
    prompt = list(range(4 * BLOCK_TOKENS))
    cache.insert(prompt)
    first_block = block_hashes(prompt)[0]
    cache._blocks.pop(first_block)  # evicted in between
    assert cache.lookup(prompt) == 0


def test_eviction_drops_the_least_recently_used_block_first() -> None:
    cache = PrefixCache(capacity_blocks=2)
    a, b, c = ([n] * BLOCK_TOKENS for n in (1, 2, 3))
    cache.insert(a)
    cache.insert(b)
    assert cache.lookup(a) == BLOCK_TOKENS  # a becomes the most recently used
    cache.insert(c)  # over capacity: b, the least recently used, goes
    assert cache.lookup(b) == 0
    assert cache.lookup(a) == BLOCK_TOKENS
    assert cache.lookup(c) == BLOCK_TOKENS
    assert cache.evictions == 1
    assert cache.lru_order() == block_hashes(a) + block_hashes(c)


def test_a_prompt_larger_than_the_cache_keeps_only_its_last_blocks() -> None:
    cache = PrefixCache(capacity_blocks=2)
    prompt = list(range(4 * BLOCK_TOKENS))
    cache.insert(prompt)
    assert cache.lru_order() == block_hashes(prompt)[2:]
    assert cache.lookup(prompt) == 0  # the leading blocks are gone, so nothing matches


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PrefixCache(capacity_blocks=0)


class RecordingSleep:
    """Stands in for time.sleep: records the requested real durations, sleeps not at all."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_prefill_time_is_proportional_to_the_uncached_tokens() -> None:
    model = EngineModel(prefill_overhead_ms=10.0, prefill_ms_per_token=0.5, time_scale=1.0)
    sleep = RecordingSleep()
    engine = SimEngine(model, sleep=sleep)
    prompt = words(0, 100)  # 6 full blocks = 96 cacheable tokens
    engine.run(prompt, 1, lambda *_: None)
    assert sleep.calls[0] == pytest.approx((10.0 + 0.5 * 100) / 1000)
    sleep.calls.clear()
    usage = engine.run(prompt, 1, lambda *_: None)
    assert usage["cached_tokens"] == 96
    assert sleep.calls[0] == pytest.approx((10.0 + 0.5 * 4) / 1000)


def test_time_scale_multiplies_every_sleep() -> None:
    sleeps = {}
    for scale in (1.0, 0.2):
        sleep = RecordingSleep()
        SimEngine(EngineModel(time_scale=scale), sleep=sleep).run(words(0, 40), 10, lambda *_: None)
        sleeps[scale] = sleep.calls
    assert [s * 0.2 for s in sleeps[1.0]] == pytest.approx(sleeps[0.2])


def test_decode_step_slows_with_the_running_batch() -> None:
    model = EngineModel(decode_ms_per_token=10.0, decode_ms_per_running=2.0)
    assert model.decode_step_ms(1) == 12.0
    assert model.decode_step_ms(8) == 26.0


def test_run_emits_one_token_first_then_groups_and_caches_the_reply() -> None:
    model = EngineModel(stream_tokens_per_event=4, time_scale=1.0)
    sleep = RecordingSleep()
    engine = SimEngine(model, sleep=sleep)
    events: list[tuple[list[str], bool]] = []
    prompt = words(0, 40)
    engine.run(prompt, 10, lambda group, first: events.append((list(group), first)))
    assert [len(g) for g, _ in events] == [1, 4, 4, 1]
    assert [first for _, first in events] == [True, False, False, False]
    reply = [w for g, _ in events for w in g]
    assert reply == reply_words(tokenize(prompt), 10)
    # The next turn (prompt + reply + new message) hits the blocks of prompt + reply: 48 of its 40+10+20 tokens.
    next_turn = prompt + "\n" + " ".join(reply) + "\n" + words(500, 20)
    assert engine.run(next_turn, 1, lambda *_: None)["cached_tokens"] == 48
    stats = engine.stats()
    assert stats["requests"] == 2 and stats["completed"] == 2 and stats["output_tokens"] == 11
    assert stats["running"] == 0 and stats["waiting"] == 0


@pytest.fixture()
def server():
    engine = SimEngine(EngineModel(time_scale=0.001))
    srv = serve(engine, name="t0")
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def test_v1_paths_need_the_api_key_and_health_metrics_do_not(server: str) -> None:
    assert request("GET", server + "/v1/models").status == 401
    assert request("GET", server + "/v1/models", headers={"Authorization": f"bearer {DEFAULT_API_KEY}"}).status == 200
    assert request("GET", server + "/v1/models", headers={"Authorization": "Bearer wrong"}).status == 401
    assert request("POST", server + "/v1/chat/completions", body={"messages": []}).status == 401
    assert request("GET", server + "/health").status == 200
    assert request("GET", server + "/metrics").status == 200


def test_streamed_chat_counts_cache_hits_in_metrics(server: str) -> None:
    body = {
        "model": "bench-model",
        "messages": [{"role": "system", "content": words(0, 64)}, {"role": "user", "content": words(100, 3)}],
        "max_tokens": 5,
    }
    first = stream(server + "/v1/chat/completions", body, headers=AUTH)
    assert first.status == 200 and first.done
    contents = [
        json.loads(p)["choices"][0]["delta"].get("content") for _, p in first.events if json.loads(p)["choices"]
    ]
    assert len(" ".join(contents).split()) == 5
    assert stream(server + "/v1/chat/completions", body, headers=AUTH).done
    metrics = request("GET", server + "/metrics").body.decode()
    assert 'vllm:num_requests_running{model_name="bench-model"} 0' in metrics
    assert 'vllm:num_requests_waiting{model_name="bench-model"} 0' in metrics
    assert 'vllm:prefix_cache_queries_total{model_name="bench-model"} 134' in metrics
    assert 'vllm:prefix_cache_hits_total{model_name="bench-model"} 64' in metrics


def test_render_endpoint_returns_the_engine_tokens(server: str) -> None:
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "x y z"}]}
    answer = request("POST", server + "/v1/chat/completions/render", body=body, headers=AUTH)
    assert answer.json() == {"token_ids": tokenize("x y z")}
    assert request("POST", server + "/tokenize", body=body).json()["count"] == 3
    other = request("POST", server + "/v1/chat/completions", body={**body, "model": "other"}, headers=AUTH)
    assert other.status == 404


class FakeTime:
    """A clock that advances only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_engine_ttft_is_prefill_plus_one_decode_step_in_simulated_ms() -> None:
    model = EngineModel(
        prefill_overhead_ms=10.0,
        prefill_ms_per_token=0.5,
        decode_ms_per_token=20.0,
        decode_ms_per_running=1.0,
        time_scale=0.2,
    )
    fake = FakeTime()
    engine = SimEngine(model, sleep=fake.sleep, clock=fake.clock)
    engine.run(words(0, 100), 5, lambda *_: None)
    assert engine.stats()["ttft_ms"] == pytest.approx([10.0 + 0.5 * 100 + 21.0])
