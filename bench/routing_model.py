"""Routing model: the routing bench's engines and workload in virtual time, to ask what *any* routing policy can
reach, not only the ones a balancer ships.

``bench/routing.py`` measures real balancers over simulated engines in real (scaled) time: about 25 s per row, so
it can try a handful of configurations. This module replays the same workload (``bench/workload.py``) over engines
that follow the same rules as ``bench/sim_engine.SimEngine`` (its :class:`~bench.sim_engine.PrefixCache`, its
:class:`~bench.sim_engine.EngineModel` costs, FIFO admission under ``max_running``, one prefill at a time, one
decode step to the first token) as a discrete-event simulation, in about a second per run with no sockets, so
policies can be swept over many seeds. Its numbers are engine-side (the "eng" columns of the routing bench): there
is no balancer or client overhead.

Policies (:class:`Policy`):

* :class:`LeastConn`: fewest requests in flight, ties in turn (nginx ``least_conn``; the guide's baseline);
* :class:`SessionHash`: a consistent-hash ring on the session id, optionally skipping engines at a cap of requests
  in flight and falling back to least-in-flight (the ``affinity`` strategy; its ring is not nginx's, so which
  sessions share an engine differs, and with it the sampling spread of one ring's imbalance);
* :class:`CacheAware`: vllm-router's documented ``cache_aware`` rule: when the engines are imbalanced (max - min
  in flight above ``balance_abs_threshold`` *and* max above ``balance_rel_threshold`` x min) the least-loaded
  engine; otherwise the engine whose tree of routed prompts matches the longest prefix, if the match covers more
  than ``cache_threshold`` of the prompt, else the engine with the smallest tree;
* :class:`BoundedPrefix`: a policy no balancer offers, stronger than any: it reads every engine's **actual** cache,
  keeps a session on its engine while that engine has served at most ``sticky_bound`` x the mean request count,
  and places other requests on the engine holding the longest cached prefix among those at most ``new_bound`` x
  the mean. It bounds the imbalance column directly, and sweeping its bounds traces how low TTFT p99 can go at a
  given imbalance;
* :class:`ClairvoyantPacking`: the other oracle: it knows the whole workload in advance and packs conversations
  onto engines so that each system prompt is prefilled cold on as few engines as a bound on the imbalance allows.

    PYTHONPATH=. python bench/routing_model.py                   # every policy, 10 seeds, about 3 minutes
    PYTHONPATH=. python bench/routing_model.py --seeds 3 --json /tmp/routing-model.json

It is not a test and asserts nothing; see bench/README.md ("Routing model").
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import functools
import hashlib
import heapq
import itertools
import json
import math
import statistics
import sys
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.routing import spread_cell  # noqa: E402
from bench.sim_engine import EngineModel, PrefixCache, block_hashes, reply_words, tokenize  # noqa: E402
from bench.workload import UserSession, Workload, WorkloadSpec, generate, history_messages  # noqa: E402
from tests.loopback.procs import percentile  # noqa: E402

__all__ = [
    "BoundedPrefix",
    "CacheAware",
    "ClairvoyantPacking",
    "LeastConn",
    "ModelEngine",
    "ModelResult",
    "Policy",
    "Request",
    "SessionHash",
    "simulate",
]


@dataclass
class Request:
    """One turn of one user as the engines see it: its prompt tokens and blocks, and what happened to it."""

    user: UserSession
    turn: int
    tokens: list[int]
    max_tokens: int
    arrived_ms: float
    blocks: list[int] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # the replies to the user's earlier turns
    engine: int = -1
    cached_tokens: int = 0
    ttft_ms: float = math.nan


class ModelEngine:
    """One engine in virtual time, with ``SimEngine``'s rules: a FIFO of requests waiting for one of
    ``max_running`` slots, a FIFO of admitted requests waiting for the one prefill at a time, the prefix-cache
    lookup when a prefill starts, the prompt cached when it ends, then one decode step to the first token (its time
    set by the requests running then), the rest in groups of ``stream_tokens_per_event``, and prompt + reply cached
    when the request completes."""

    def __init__(self, index: int, model: EngineModel) -> None:
        self.index = index
        self.model = model
        self.cache = PrefixCache(model.cache_blocks)
        self.running = 0  # admitted: waiting for the prefill, prefilling or decoding (SimEngine counts the same)
        self.requests = 0
        self.slot_queue: deque[Request] = deque()
        self.prefill_queue: deque[Request] = deque()
        self.prefilling = False

    @property
    def in_flight(self) -> int:
        """Requests sent to this engine and not yet complete (what a balancer counts as its connections)."""
        return self.running + len(self.slot_queue)

    def cached_prefix_blocks(self, blocks: Sequence[int]) -> int:
        """Leading blocks of ``blocks`` in the cache now, without touching its LRU order."""
        return _leading(blocks, self.cache)


def _leading(blocks: Sequence[int], held: Container[int]) -> int:
    """How many of ``blocks``, from the first, ``held`` contains (a prefix match in blocks)."""
    count = 0
    for block in blocks:
        if block not in held:
            break
        count += 1
    return count


class Policy(Protocol):
    """Chooses an engine for each request; ``choose`` may read the engines and must not change them."""

    name: str

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The index of the engine ``request`` goes to."""
        ...


@dataclass
class LeastConn:
    """Fewest requests in flight; ties go to the next engine in turn after the last choice (nginx ``least_conn``
    over equal weights)."""

    name: str = "least_conn"
    _last: int = -1

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The least-loaded engine, ties in turn."""
        count = len(engines)
        order = [(self._last + 1 + step) % count for step in range(count)]
        self._last = min(order, key=lambda index: engines[index].in_flight)
        return self._last


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class SessionHash:
    """A consistent-hash ring (``points`` per engine) on the user's session id. With ``cap``, an engine with
    ``cap`` requests in flight is passed over for the next one on the ring, and with every engine at its cap the
    request goes to the least in flight (the ``affinity`` strategy's ``max_conns`` and ``least_conn`` fallback)."""

    name: str = "session_hash"
    cap: int | None = None
    points: int = 160
    _ring: list[tuple[int, int]] = field(default_factory=list)

    def _walk(self, key: str, count: int) -> Iterator[int]:
        if len(self._ring) != count * self.points:
            self._ring = sorted((_hash64(f"engine-{e}-{p}"), e) for e in range(count) for p in range(self.points))
        start = bisect.bisect(self._ring, (_hash64(key), -1))
        for step in range(len(self._ring)):
            yield self._ring[(start + step) % len(self._ring)][1]

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The session's ring engine, or the next one under the cap, or the least in flight."""
        for index in self._walk(request.user.user_id, len(engines)):
            if self.cap is None or engines[index].in_flight < self.cap:
                return index
        return min(range(len(engines)), key=lambda index: engines[index].in_flight)


@dataclass
class CacheAware:
    """vllm-router's ``cache_aware`` as its source comment and docs describe it, with the router's tree of routed
    prompts modelled as the set of 16-token blocks routed to each engine (never evicted: the router does not see
    the engines' evictions). Defaults are the router's (``vllm_infra.balancing.router.RouterSettings``)."""

    name: str = "cache_aware"
    cache_threshold: float = 0.3
    balance_abs_threshold: int = 64
    balance_rel_threshold: float = 1.5
    _trees: list[set[int]] = field(default_factory=list)

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The least loaded when imbalanced, else the best prefix match above the threshold, else the smallest tree."""
        if not self._trees:
            self._trees = [set() for _ in engines]
        loads = [engine.in_flight for engine in engines]
        low, high = min(loads), max(loads)
        if high - low > self.balance_abs_threshold and high > self.balance_rel_threshold * low:
            choice = loads.index(low)
        else:
            matches = [_leading(request.blocks, tree) for tree in self._trees]
            best = max(range(len(engines)), key=lambda index: matches[index])
            if request.blocks and matches[best] / len(request.blocks) > self.cache_threshold:
                choice = best
            else:
                choice = min(range(len(engines)), key=lambda index: len(self._trees[index]))
        self._trees[choice].update(request.blocks)
        return choice


@dataclass
class BoundedPrefix:
    """The oracle family (no balancer has it): a session stays on its last engine while that engine has served at
    most ``sticky_bound`` x the mean requests per engine (counting this one); any other request goes, among the
    engines within ``new_bound`` x the mean, to the one whose **actual** cache holds the longest prefix of the
    prompt (ties: fewest in flight, then fewest served). Both bounds cap the imbalance column."""

    new_bound: float = 1.1
    sticky_bound: float = 1.15
    name: str = ""
    _home: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"bounded_prefix({self.new_bound:g}/{self.sticky_bound:g})"

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The session's engine while under the sticky bound, else the longest cached prefix under the new bound."""
        served = [engine.requests for engine in engines]
        mean_after = (sum(served) + 1) / len(engines)
        home = self._home.get(request.user.user_id)
        if home is not None and served[home] + 1 <= self.sticky_bound * mean_after:
            return home
        allowed = [i for i in range(len(engines)) if served[i] + 1 <= self.new_bound * mean_after]
        choice = max(
            allowed or range(len(engines)),
            key=lambda i: (engines[i].cached_prefix_blocks(request.blocks), -engines[i].in_flight, -served[i]),
        )
        self._home[request.user.user_id] = choice
        return choice


class ClairvoyantPacking:
    """A second oracle, of another kind: it knows every user's system prompt and number of turns **in advance** and
    packs whole conversations onto engines before the run, each engine filled to at most ``slack`` x the mean
    request count, keeping a system prompt's users on the engines that already hold it and opening another engine
    to a prompt only when those are full (largest prompts first, longest conversations first). Every system prompt
    is thus prefilled cold on as few engines as the bound allows, which is what ``cache_aware`` gets by ignoring
    the load."""

    def __init__(self, workload: Workload, engines: int, slack: float = 1.1) -> None:
        self.name = f"clairvoyant_packing({slack:g})"
        target = slack * workload.request_count / engines
        load = [0] * engines
        self._home: dict[str, int] = {}
        by_prompt: dict[int, list[UserSession]] = {}
        for user in workload.users:
            by_prompt.setdefault(user.system_prompt, []).append(user)
        for users in sorted(by_prompt.values(), key=lambda group: -sum(len(u.turns) for u in group)):
            holders: list[int] = []
            for user in sorted(users, key=lambda u: -len(u.turns)):
                room = [e for e in holders if load[e] + len(user.turns) <= target]
                engine = room[0] if room else min(range(engines), key=lambda e: load[e])
                if engine not in holders:
                    holders.append(engine)
                self._home[user.user_id] = engine
                load[engine] += len(user.turns)

    def choose(self, request: Request, engines: Sequence[ModelEngine]) -> int:
        """The engine packed for the request's user."""
        return self._home[request.user.user_id]


@dataclass(frozen=True)
class ModelResult:
    """One policy on one workload: hit rate (cached / prompt tokens), engine-side TTFT p50/p99 in simulated ms,
    imbalance (max / mean requests per engine), and every request's record for a closer look."""

    policy: str
    seed: int
    hit_rate: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    imbalance: float
    requests_per_engine: tuple[int, ...]
    records: tuple[Request, ...] = field(repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """The numbers without the records (for JSON)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "records"}


def simulate(
    workload: Workload,
    policy: Policy,
    *,
    engines: int = 4,
    model: EngineModel | None = None,
) -> ModelResult:
    """Replay ``workload`` through ``policy`` over ``engines`` fresh engines (:class:`ModelEngine`) in virtual
    time; ``model`` defaults to the routing bench's ``EngineModel()``.

    Users arrive at ``arrival_s``, send each turn's whole history (``history_messages``), and think ``think_s``
    after each reply, as ``bench/routing.py``'s client does.

    >>> small = generate(WorkloadSpec(users=20, max_requests=60))
    >>> result = simulate(small, LeastConn(), engines=2)
    >>> sum(result.requests_per_engine), result == simulate(small, LeastConn(), engines=2)
    (60, True)
    """
    model = model or EngineModel()
    pool = [ModelEngine(index, model) for index in range(engines)]
    events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
    order = itertools.count()
    done: list[Request] = []
    clock = [0.0]

    def at(delay_ms: float, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(events, (clock[0] + delay_ms, next(order), action, args))

    def send(user: UserSession, replies: list[str]) -> None:
        turn = len(replies)
        prompt = "\n".join(m["content"] for m in history_messages(workload, user, replies))
        tokens = tokenize(prompt)
        request = Request(user, turn, tokens, user.turns[turn].max_tokens, clock[0], block_hashes(tokens), replies)
        request.engine = policy.choose(request, pool)
        engine = pool[request.engine]
        engine.requests += 1
        engine.slot_queue.append(request)
        admit(engine)

    def admit(engine: ModelEngine) -> None:
        while engine.slot_queue and engine.running < model.max_running:
            engine.running += 1
            engine.prefill_queue.append(engine.slot_queue.popleft())
        if engine.prefill_queue and not engine.prefilling:
            request = engine.prefill_queue.popleft()
            engine.prefilling = True
            request.cached_tokens = engine.cache.lookup(request.tokens)
            at(model.prefill_ms(len(request.tokens) - request.cached_tokens), prefilled, engine, request)

    def prefilled(engine: ModelEngine, request: Request) -> None:
        engine.cache.insert(request.tokens)
        engine.prefilling = False
        admit(engine)
        words = reply_words(request.tokens, request.max_tokens)
        at(model.decode_step_ms(engine.running), decoded, engine, request, words, 1)

    def decoded(engine: ModelEngine, request: Request, words: list[str], sent: int) -> None:
        if sent == 1:
            request.ttft_ms = clock[0] - request.arrived_ms
        if sent < len(words):
            group = min(model.stream_tokens_per_event, len(words) - sent)
            at(model.decode_step_ms(engine.running) * group, decoded, engine, request, words, sent + group)
            return
        engine.cache.insert(request.tokens + tokenize(" ".join(words)))
        engine.running -= 1
        done.append(request)
        admit(engine)
        user, replies = request.user, [*request.replies, " ".join(words)]
        if len(replies) < len(user.turns):
            at(user.turns[len(replies)].think_s * 1000, send, user, replies)

    for user in workload.users:
        heapq.heappush(events, (user.arrival_s * 1000, next(order), send, (user, [])))
    while events:
        clock[0], _, action, args = heapq.heappop(events)
        action(*args)

    queries = sum(engine.cache.queries for engine in pool)
    hits = sum(engine.cache.hits for engine in pool)
    served = tuple(engine.requests for engine in pool)
    ttfts = [request.ttft_ms for request in done]
    return ModelResult(
        policy=policy.name,
        seed=workload.spec.seed,
        hit_rate=hits / queries if queries else math.nan,
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p99_ms=percentile(ttfts, 99),
        imbalance=max(served) / (sum(served) / len(served)),
        requests_per_engine=served,
        records=tuple(done),
    )


def tail(result: ModelResult, model: EngineModel, share: float = 0.01) -> dict[str, float]:
    """What the slowest ``share`` of requests are: how many, the part that are a user's first turn, their mean
    uncached prompt tokens, and their mean TTFT beyond the prefill of those tokens (queueing + first decode step)."""
    slowest = sorted(result.records, key=lambda r: r.ttft_ms, reverse=True)[
        : max(1, round(share * len(result.records)))
    ]
    return {
        "requests": len(slowest),
        "first_turn_share": sum(r.turn == 0 for r in slowest) / len(slowest),
        "mean_uncached_tokens": statistics.fmean(len(r.tokens) - r.cached_tokens for r in slowest),
        "mean_wait_ms": statistics.fmean(
            r.ttft_ms - model.prefill_ms(len(r.tokens) - r.cached_tokens) for r in slowest
        ),
    }


# The bounded_prefix sweep: (new_bound, sticky_bound) from tight to loose.
BOUNDS = (
    (1.0, 1.0),
    (1.1, 1.1),
    (1.1, 1.15),
    (1.15, 1.15),
    (1.2, 1.2),
    (1.3, 1.3),
    (1.45, 1.45),
    (1.6, 1.6),
    (2.0, 2.0),
)


# The clairvoyant_packing sweep: the bound on each engine's share, as a multiple of the mean.
SLACKS = (1.0, 1.05, 1.1, 1.15)


def policies() -> list[Callable[[Workload, int], Policy]]:
    """Factories (workload, engines) of the policies the table shows, in its order; a fresh policy per run, since
    policies keep state."""
    cap = EngineModel().max_running
    factories: list[Callable[[Workload, int], Policy]] = [
        lambda w, n: LeastConn(),
        lambda w, n: SessionHash(),
        lambda w, n: SessionHash(name=f"affinity(cap {cap})", cap=cap),
        lambda w, n: CacheAware(),
        lambda w, n: CacheAware(name="cache_aware(abs 4, rel 1.2)", balance_abs_threshold=4, balance_rel_threshold=1.2),
        lambda w, n: CacheAware(name="cache_aware(abs 1, rel 1.1)", balance_abs_threshold=1, balance_rel_threshold=1.1),
    ]
    factories += [functools.partial(_bounded, new_bound=a, sticky_bound=b) for a, b in BOUNDS]
    factories += [functools.partial(ClairvoyantPacking, slack=slack) for slack in SLACKS]
    return factories


def _bounded(workload: Workload, engines: int, *, new_bound: float, sticky_bound: float) -> Policy:
    return BoundedPrefix(new_bound=new_bound, sticky_bound=sticky_bound)


def main(argv: list[str] | None = None) -> int:
    """Run every policy of :func:`policies` on the workloads of ``--seeds`` consecutive seeds; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=WorkloadSpec().seed)
    parser.add_argument("--seeds", type=int, default=10, help="workloads of seed, seed+1, ... (1..50)")
    parser.add_argument("--engines", type=int, default=4)
    parser.add_argument("--user-arrival-rate", type=float, default=WorkloadSpec().user_arrival_rate)
    parser.add_argument("--cache-blocks", type=int, default=EngineModel().cache_blocks, help="per engine")
    parser.add_argument("--only", help="comma-separated policy names (default: all)")
    parser.add_argument("--json", type=Path, help="write every run's numbers here")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 50 or not 1 <= args.engines <= 64:
        parser.error("--seeds must be 1..50 and --engines 1..64")
    if args.user_arrival_rate <= 0 or args.cache_blocks < 1:
        parser.error("--user-arrival-rate must be positive and --cache-blocks at least 1")
    spec = WorkloadSpec(user_arrival_rate=args.user_arrival_rate)
    workloads = [generate(dataclasses.replace(spec, seed=args.seed + k)) for k in range(args.seeds)]
    model = EngineModel(cache_blocks=args.cache_blocks)
    wanted = set(args.only.split(",")) if args.only else None
    print(
        f"routing model: {args.engines} engines, {args.seeds} workloads "
        f"(seeds {args.seed}..{args.seed + args.seeds - 1}), "
        f"{workloads[0].request_count} requests each, {args.user_arrival_rate:g} users/s, {args.cache_blocks} cache "
        "blocks per engine; engine-side simulated ms; median [min-max] over the seeds"
    )
    runs: dict[str, list[ModelResult]] = {}
    for factory in policies():
        if wanted is not None and factory(workloads[0], args.engines).name not in wanted:
            continue
        results = [simulate(w, factory(w, args.engines), engines=args.engines, model=model) for w in workloads]
        runs[results[0].policy] = results
    if not runs:
        parser.error(f"--only matched no policy; the names: {', '.join(f(workloads[0], 1).name for f in policies())}")
    header = f"  {'policy':32} {'hit %':>18} {'TTFT p50':>15} {'TTFT p99':>17} {'imbalance':>18} {'tail':>24}"
    print(header)
    for name, results in runs.items():
        tails = [tail(result, model) for result in results]
        print(
            f"  {name:32} {spread_cell([r.hit_rate for r in results], 'pct'):>18} "
            f"{spread_cell([r.ttft_p50_ms for r in results], 'ms'):>15} "
            f"{spread_cell([r.ttft_p99_ms for r in results], 'ms'):>17} "
            f"{spread_cell([r.imbalance for r in results], 'ratio'):>18} "
            f"{statistics.median(t['first_turn_share'] for t in tails):>6.0%} first, "
            f"{statistics.median(t['mean_uncached_tokens'] for t in tails):>5.0f} uncached"
        )
    if args.json:
        payload = {name: [r.summary() | {"tail": tail(r, model)} for r in results] for name, results in runs.items()}
        args.json.write_text(json.dumps(payload, indent=1))
    reference = runs.get("cache_aware")
    if reference is None:
        return 0
    print("\nper seed: p99 minus cache_aware's p99 (ms) for the policies with every imbalance <= 1.15")
    for name, results in runs.items():
        if name == "cache_aware" or max(r.imbalance for r in results) > 1.15:
            continue
        gaps = [r.ttft_p99_ms - c.ttft_p99_ms for r, c in zip(results, reference, strict=True)]
        below = sum(gap < 0 for gap in gaps)
        print(f"  {name:32} below on {below} of {len(gaps)} seeds; " + " ".join(f"{gap:+.0f}" for gap in gaps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
