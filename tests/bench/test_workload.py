"""The routing bench's workload generator: reproducible for a seed, and of the specified shape."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from bench.workload import WorkloadSpec, generate, history_messages, source_address


def test_the_same_seed_gives_the_same_workload_and_another_seed_another() -> None:
    spec = WorkloadSpec(users=50, max_requests=1000)
    assert generate(spec) == generate(spec)
    assert generate(spec) != generate(WorkloadSpec(users=50, max_requests=1000, seed=spec.seed + 1))


def test_shape_of_the_default_workload() -> None:
    spec = WorkloadSpec(max_requests=5000)  # no cap: every user keeps its turns
    workload = generate(spec)
    assert len(workload.users) == 200
    assert len(workload.system_prompts) == 8
    assert all(1000 <= len(p.split()) <= 2000 for p in workload.system_prompts)
    assert all(300 <= len(d.split()) <= 1500 for d in workload.documents)
    assert all(2 <= len(u.turns) <= 6 for u in workload.users)
    assert len({u.user_id for u in workload.users}) == 200
    arrivals = [u.arrival_s for u in workload.users]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0
    # Poisson arrivals at 4 users/s: the mean gap is 0.25 s (200 samples: well within 0.18..0.32).
    gaps = [b - a for a, b in zip([0.0, *arrivals], arrivals, strict=False)]
    assert 0.18 < statistics.mean(gaps) < 0.32
    # Uneven popularity: the first prompt is the most used, and more than its fair share of 1/8.
    uses = Counter(u.system_prompt for u in workload.users)
    assert uses.most_common(1)[0][0] == 0 and uses[0] > 200 / 8 * 1.5
    with_document = sum(u.document is not None for u in workload.users)
    assert 30 < with_document < 90  # document_share 0.3 of 200
    assert all(u.turns[0].think_s == 0.0 and all(t.think_s > 0 for t in u.turns[1:]) for u in workload.users)
    assert all(16 <= t.max_tokens <= 64 for u in workload.users for t in u.turns)


def test_the_request_cap_trims_the_latest_users_first() -> None:
    uncapped = generate(WorkloadSpec(users=50, max_requests=5000))
    capped = generate(WorkloadSpec(users=50, max_requests=60))
    assert capped.request_count == 60 < uncapped.request_count
    kept = {u.index: u for u in capped.users}
    for user in uncapped.users[:10]:
        assert kept[user.index] == user  # early users keep their whole conversation
    assert max(kept) < uncapped.users[-1].index


def test_history_grows_with_each_turn_and_carries_the_document_first() -> None:
    workload = generate(WorkloadSpec(users=200, max_requests=5000))
    user = next(u for u in workload.users if u.document is not None and len(u.turns) >= 3)
    first = history_messages(workload, user, [])
    assert [m["role"] for m in first] == ["system", "user"]
    assert first[0]["content"] == workload.system_prompts[user.system_prompt]
    assert first[1]["content"] == workload.documents[user.document] + "\n" + user.turns[0].message
    third = history_messages(workload, user, ["r1", "r2"])
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert third[:2] == first  # the earlier turn is resent unchanged: a prefix the cache can hit
    assert [third[2]["content"], third[4]["content"], third[5]["content"]] == ["r1", "r2", user.turns[2].message]
    with pytest.raises(ValueError):
        history_messages(workload, user, ["r"] * len(user.turns))


def test_source_addresses_per_user_are_distinct_loopback_addresses_and_single_is_one() -> None:
    workload = generate(WorkloadSpec(users=300, max_requests=5000))
    per_user = {source_address(u, "per-user") for u in workload.users}
    assert len(per_user) == 300 and all(a.startswith("127.") for a in per_user)
    assert {source_address(u, "single") for u in workload.users} == {"127.0.0.1"}


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="turns"):
        WorkloadSpec(turns=(3, 2))
    with pytest.raises(ValueError, match="document_share"):
        WorkloadSpec(document_share=1.5)
