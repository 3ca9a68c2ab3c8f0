"""A deterministic chat workload for the routing bench: multi-turn users over shared system prompts and documents.

:func:`generate` turns a :class:`WorkloadSpec` (with its seed) into the same :class:`Workload` every time:

* ``system_prompts`` shared prompts of ``system_prompt_tokens`` words each (1-2k by default), chosen by each user
  with Zipf-like popularity (weight 1/rank^``popularity_exponent``), so a few prompts are hot and most are cold;
* ``documents`` shared documents; a user attaches one to its first message with probability ``document_share``
  (also Zipf-popular), as in "ask about this file";
* users arriving as a Poisson process (exponential gaps, mean ``1/user_arrival_rate`` s), each for a number of
  turns, sending its whole growing history every turn (system prompt, document, every message and reply so far) as
  OpenAI chat clients do, after an exponential think time;
* a total request cap (``max_requests``): turns past it are dropped, latest arrivals first.

Words are ``w<number>`` tokens, one simulated token each (``bench/sim_engine.py`` tokenises on whitespace). Each
user has an identity (:attr:`UserSession.user_id`), sent as ``X-Session-Id`` and the OpenAI ``user`` field, and
a source address: its own loopback address (``per-user``) or ``127.0.0.1`` for everyone (``single``, as when every
request arrives through one NLB address or one NAT gateway).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "SourceMode",
    "Turn",
    "UserSession",
    "Workload",
    "WorkloadSpec",
    "generate",
    "history_messages",
    "source_address",
]

SourceMode = Literal["per-user", "single"]


@dataclass(frozen=True)
class WorkloadSpec:
    """The workload's shape; every field has the bench's default. Times are simulated seconds."""

    seed: int = 20261203
    users: int = 200
    system_prompts: int = 8
    system_prompt_tokens: tuple[int, int] = (1000, 2000)
    popularity_exponent: float = 1.1
    documents: int = 16
    document_tokens: tuple[int, int] = (300, 1500)
    document_share: float = 0.3
    turns: tuple[int, int] = (2, 6)
    user_message_tokens: tuple[int, int] = (20, 150)
    max_tokens: tuple[int, int] = (16, 64)
    user_arrival_rate: float = 4.0  # users per simulated second
    think_time_mean_s: float = 4.0
    max_requests: int = 800

    def __post_init__(self) -> None:
        for name in ("system_prompt_tokens", "document_tokens", "turns", "user_message_tokens", "max_tokens"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {(low, high)}")
        if self.users < 1 or self.system_prompts < 1 or self.max_requests < 1:
            raise ValueError("users, system_prompts and max_requests must be at least 1")
        if not 0.0 <= self.document_share <= 1.0:
            raise ValueError("document_share must be within 0..1")
        if self.user_arrival_rate <= 0 or self.think_time_mean_s < 0:
            raise ValueError("user_arrival_rate must be positive and think_time_mean_s not negative")


@dataclass(frozen=True)
class Turn:
    """One request of a user: its new message, how many tokens to generate, and the think time before it."""

    message: str
    max_tokens: int
    think_s: float


@dataclass(frozen=True)
class UserSession:
    """One user: identity, arrival time, the shared prompt and document it uses, and its turns."""

    index: int
    user_id: str
    arrival_s: float
    system_prompt: int
    document: int | None
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Workload:
    """A generated workload: the shared texts and the users (in arrival order)."""

    spec: WorkloadSpec
    system_prompts: tuple[str, ...]
    documents: tuple[str, ...]
    users: tuple[UserSession, ...] = field(default_factory=tuple)

    @property
    def request_count(self) -> int:
        """Total requests (turns) of all users."""
        return sum(len(u.turns) for u in self.users)


def _words(rng: random.Random, count: int) -> str:
    return " ".join(f"w{rng.randrange(100_000)}" for _ in range(count))


def _zipf_weights(count: int, exponent: float) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def generate(spec: WorkloadSpec = WorkloadSpec()) -> Workload:
    """The workload of ``spec``: the same seed gives the same texts, users, times and turns.

    >>> w = generate(WorkloadSpec(users=3, max_requests=100))
    >>> w == generate(WorkloadSpec(users=3, max_requests=100)), len(w.users)
    (True, 3)
    """
    rng = random.Random(spec.seed)
    prompts = tuple(_words(rng, rng.randint(*spec.system_prompt_tokens)) for _ in range(spec.system_prompts))
    documents = tuple(_words(rng, rng.randint(*spec.document_tokens)) for _ in range(spec.documents))
    prompt_weights = _zipf_weights(spec.system_prompts, spec.popularity_exponent)
    document_weights = _zipf_weights(spec.documents, spec.popularity_exponent) if spec.documents else []
    users: list[UserSession] = []
    clock = 0.0
    for index in range(spec.users):
        clock += rng.expovariate(spec.user_arrival_rate)
        system_prompt = rng.choices(range(spec.system_prompts), weights=prompt_weights)[0]
        document = None
        if spec.documents and rng.random() < spec.document_share:
            document = rng.choices(range(spec.documents), weights=document_weights)[0]
        turns = tuple(
            Turn(
                message=_words(rng, rng.randint(*spec.user_message_tokens)),
                max_tokens=rng.randint(*spec.max_tokens),
                think_s=0.0
                if turn == 0
                else rng.expovariate(1.0 / spec.think_time_mean_s)
                if spec.think_time_mean_s > 0
                else 0.0,
            )
            for turn in range(rng.randint(*spec.turns))
        )
        users.append(UserSession(index, f"user-{index:04d}", round(clock, 6), system_prompt, document, turns))
    # The cap drops the latest arrivals' last turns first, so early users keep their whole conversations.
    excess = sum(len(u.turns) for u in users) - spec.max_requests
    for position in range(len(users) - 1, -1, -1):
        if excess <= 0:
            break
        user = users[position]
        keep = max(0, len(user.turns) - excess)
        excess -= len(user.turns) - keep
        users[position] = UserSession(
            user.index, user.user_id, user.arrival_s, user.system_prompt, user.document, user.turns[:keep]
        )
    return Workload(spec, prompts, documents, tuple(u for u in users if u.turns))


def history_messages(workload: Workload, user: UserSession, replies: list[str]) -> list[dict[str, str]]:
    """The chat messages of ``user``'s next turn, given the replies it has received so far (one per past turn).

    The first user message carries the document, if any, before the question.
    """
    turn_index = len(replies)
    if turn_index >= len(user.turns):
        raise ValueError(f"{user.user_id} has {len(user.turns)} turns; asked for turn {turn_index + 1}")
    messages = [{"role": "system", "content": workload.system_prompts[user.system_prompt]}]
    for past in range(turn_index + 1):
        content = user.turns[past].message
        if past == 0 and user.document is not None:
            content = workload.documents[user.document] + "\n" + content
        messages.append({"role": "user", "content": content})
        if past < turn_index:
            messages.append({"role": "assistant", "content": replies[past]})
    return messages


def source_address(user: UserSession, mode: SourceMode) -> str:
    """The loopback address ``user``'s requests come from: its own (``per-user``) or ``127.0.0.1`` (``single``).

    Linux routes all of 127.0.0.0/8 to the loopback interface, so a client can bind any of them.
    """
    if mode == "single":
        return "127.0.0.1"
    if mode != "per-user":
        raise ValueError(f"unknown source mode {mode!r}")
    return f"127.1.{user.index // 250}.{user.index % 250 + 1}"
