"""A simulated vLLM engine with a prefix cache, for the routing bench (``bench/routing.py``).

It speaks the HTTP a balancer needs from a vLLM pod: ``GET /health``, ``GET /v1/models``, ``GET /metrics``
(``vllm:num_requests_running``, ``vllm:num_requests_waiting``, ``vllm:prefix_cache_queries_total``,
``vllm:prefix_cache_hits_total``), streamed (SSE) and plain ``POST /v1/chat/completions`` / ``/v1/completions``, and
the tokenizer endpoints vllm-router calls for ``cache_aware`` (``/tokenize``, ``/v1/chat/completions/render``,
``/v1/completions/render``). Paths under ``/v1`` need ``Authorization: Bearer <key>`` (``401 {"error":
"Unauthorized"}`` otherwise), the rule of ``tests/loopback/stub_backend.py`` and of vLLM's
``AuthenticationMiddleware``. ``GET /sim/stats`` and ``POST /sim/reset`` are the simulator's own.

What it simulates, in *simulated* milliseconds multiplied by ``time_scale`` into real sleeps:

* **Tokens**: the prompt text split on whitespace, one token per word (:func:`tokenize`), the messages of a chat
  joined with newlines. The workload (``bench/workload.py``) writes its prompts as words, so this is exact.
* **Prefix cache**: vLLM's automatic prefix caching keeps KV blocks of 16 tokens, each identified by a hash chained
  over all tokens before it, and evicts the least recently used free block (vLLM docs, "Automatic Prefix Caching":
  block hash = hash(parent hash, block tokens); LRU eviction). :class:`PrefixCache` does that with a fixed
  capacity in blocks; only full blocks are cached, a prompt hits the longest run of leading cached blocks, and the
  prompt's and the generated tokens' blocks are cached afterwards. In-use blocks are not pinned (simplification).
* **Scheduling**: at most ``max_running`` requests run at once, the others wait FIFO (``num_requests_waiting``).
  Prefills run one at a time (the GPU is busy with one prefill batch); a prefill costs
  ``prefill_overhead_ms + prefill_ms_per_token x uncached tokens``. Decoding costs per token
  ``decode_ms_per_token + decode_ms_per_running x running requests`` (a bigger batch decodes each step slower).
  TTFT = waiting + prefill + the first decode step.

The default numbers are of the order of an 8B model on one A10G-class GPU (prefill several thousand tokens/s,
decode 10-30 ms per step); they are settings, not a claim about any GPU.

Run one per process: ``python -m bench.sim_engine --port 0 --name b0``; it prints ``{"name", "url"}`` and serves
until SIGTERM. It binds loopback addresses only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import socket
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BLOCK_TOKENS", "EngineModel", "PrefixCache", "SimEngine", "block_hashes", "reply_words", "tokenize"]

BLOCK_TOKENS = 16  # vLLM's default --block-size on CUDA
DEFAULT_API_KEY = "sk-loopback-stub-key"  # the key of tests/loopback/stub_backend.py, so clients share one key
_MAX_BODY = 64 * 1024 * 1024
_MAX_OUTPUT_TOKENS = 4096
_MAX_RECORDS = 50_000


def tokenize(text: str) -> list[int]:
    """Token ids of ``text``: one per whitespace-separated word, the word's CRC-32 (deterministic across runs).

    >>> tokenize("hello world") == tokenize(" hello\\nworld ")
    True
    """
    return [zlib.crc32(word.encode()) for word in text.split()]


def block_hashes(tokens: Sequence[int], block_tokens: int = BLOCK_TOKENS) -> list[int]:
    """Chained hashes of the full blocks of ``tokens``: block i's hash covers every token up to its end.

    Two prompts share block i's hash exactly when their first ``(i+1) x block_tokens`` tokens are equal, as in
    vLLM's prefix caching. A trailing partial block has no hash (it is not cached). Python's hash of a tuple of
    ints is not randomised per process, so hashes are the same in every run.
    """
    hashes: list[int] = []
    parent = 0
    for start in range(0, len(tokens) - block_tokens + 1, block_tokens):
        parent = hash((parent, tuple(tokens[start : start + block_tokens])))
        hashes.append(parent)
    return hashes


class PrefixCache:
    """An LRU set of KV blocks identified by chained hashes, with a capacity in blocks.

    :meth:`lookup` counts the prompt's tokens as queries and its leading cached blocks as hits (what vLLM exports
    as ``vllm:prefix_cache_queries`` / ``vllm:prefix_cache_hits``, in tokens) and marks those blocks used;
    :meth:`insert` adds blocks (most recently used last), evicting the least recently used beyond the capacity.

    >>> cache = PrefixCache(capacity_blocks=8)
    >>> cache.lookup(list(range(40)))   # cold: 0 of 40 tokens cached
    0
    >>> cache.insert(list(range(40)))   # 2 full blocks cached, the 8 trailing tokens not
    >>> cache.lookup(list(range(40)))
    32
    """

    def __init__(self, capacity_blocks: int, block_tokens: int = BLOCK_TOKENS) -> None:
        if capacity_blocks < 1 or block_tokens < 1:
            raise ValueError("capacity_blocks and block_tokens must be at least 1")
        self.capacity_blocks = capacity_blocks
        self.block_tokens = block_tokens
        self._blocks: OrderedDict[int, None] = OrderedDict()
        self.queries = 0
        self.hits = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self._blocks

    def lookup(self, tokens: Sequence[int]) -> int:
        """Tokens of ``tokens`` already cached (a multiple of the block size); counts queries and hits."""
        hit_blocks = 0
        for block_hash in block_hashes(tokens, self.block_tokens):
            if block_hash not in self._blocks:
                break
            self._blocks.move_to_end(block_hash)
            hit_blocks += 1
        hit_tokens = hit_blocks * self.block_tokens
        self.queries += len(tokens)
        self.hits += hit_tokens
        return hit_tokens

    def insert(self, tokens: Sequence[int]) -> None:
        """Cache every full block of ``tokens`` as most recently used, evicting the least recently used."""
        for block_hash in block_hashes(tokens, self.block_tokens):
            if block_hash in self._blocks:
                self._blocks.move_to_end(block_hash)
            else:
                self._blocks[block_hash] = None
        while len(self._blocks) > self.capacity_blocks:
            self._blocks.popitem(last=False)
            self.evictions += 1

    def lru_order(self) -> list[int]:
        """Block hashes from least to most recently used (the eviction order)."""
        return list(self._blocks)


@dataclass(frozen=True)
class EngineModel:
    """The simulated engine's timing and capacity, in simulated milliseconds.

    ``time_scale`` is real seconds per simulated second (0.2: one simulated ms sleeps 0.2 real ms), so a bench can
    run many simulated seconds in few real ones; a client divides the times it measures by the same factor.
    """

    # Llama-3.1-8B keeps 2 (K, V) x 32 layers x 8 KV heads x 128 dims x 2 bytes = 128 KiB per token (its
    # config.json); ~5 GiB left for KV on a 24 GiB A10G after 16 GiB of bf16 weights is ~40k tokens = 2500 blocks.
    cache_blocks: int = 2500
    max_running: int = 32  # vLLM --max-num-seqs (scaled down)
    prefill_overhead_ms: float = 8.0
    prefill_ms_per_token: float = 0.15
    decode_ms_per_token: float = 12.0
    decode_ms_per_running: float = 0.6
    stream_tokens_per_event: int = 8  # tokens per SSE event: fewer events keep the bench's CPU use low
    time_scale: float = 0.2

    def prefill_ms(self, uncached_tokens: int) -> float:
        """Simulated prefill time of a prompt with ``uncached_tokens`` tokens not in the cache."""
        return self.prefill_overhead_ms + self.prefill_ms_per_token * uncached_tokens

    def decode_step_ms(self, running: int) -> float:
        """Simulated time of one decode step (one token per running request) with ``running`` requests."""
        return self.decode_ms_per_token + self.decode_ms_per_running * max(1, running)


def reply_words(prompt_tokens: Sequence[int], count: int) -> list[str]:
    """The ``count`` words the engine "generates" for a prompt: a function of the prompt only, so runs repeat."""
    seed = zlib.crc32(repr(list(prompt_tokens[-64:])).encode() + str(len(prompt_tokens)).encode())
    return [f"a{(seed + 7919 * i) % 50021}" for i in range(count)]


def _prompt_text(body: dict[str, Any]) -> str:
    """The text that is tokenised: chat message contents joined by newlines, or the completion prompt."""
    if "messages" in body:
        parts: list[str] = []
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return "\n".join(parts)
    prompt = body.get("prompt", "")
    return "\n".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)


class SimEngine:
    """The engine state of one simulated pod: scheduler, prefix cache, counters. Thread-safe.

    :meth:`run` executes one request and calls ``emit(words, first)`` as tokens become available.
    """

    def __init__(self, model: EngineModel, *, sleep: Any = time.sleep, clock: Any = time.monotonic) -> None:
        self.model = model
        self._clock = clock
        self.ttft_ms: list[float] = []  # engine-side TTFT per request, simulated ms (bounded)
        self.cache = PrefixCache(model.cache_blocks)
        self._sleep = sleep
        self._lock = threading.Condition()
        self._prefill = threading.Lock()
        self._next_ticket = 0
        self._serving_ticket = 0
        self.running = 0
        self.waiting = 0
        self.requests = 0
        self.completed = 0
        self.output_tokens = 0

    def _real(self, sim_ms: float) -> None:
        self._sleep(sim_ms / 1000 * self.model.time_scale)

    def run(self, prompt: str, max_tokens: int, emit: Any) -> dict[str, int]:
        """Serve one request: wait for a running slot (FIFO), prefill, decode ``max_tokens`` tokens."""
        tokens = tokenize(prompt)
        arrived = self._clock()
        with self._lock:
            self.requests += 1
            ticket = self._next_ticket
            self._next_ticket += 1
            self.waiting += 1
            while ticket != self._serving_ticket or self.running >= self.model.max_running:
                self._lock.wait(timeout=1.0)
            self._serving_ticket += 1
            self.waiting -= 1
            self.running += 1
            self._lock.notify_all()
        try:
            with self._prefill:
                with self._lock:
                    hit = self.cache.lookup(tokens)
                self._real(self.model.prefill_ms(len(tokens) - hit))
                with self._lock:
                    self.cache.insert(tokens)
            words = reply_words(tokens, max_tokens)
            per_event = self.model.stream_tokens_per_event
            # The first event carries one token (TTFT = one decode step after the prefill), the rest a group each.
            events = [words[:1]] + [words[i : i + per_event] for i in range(1, len(words), per_event)]
            for index, group in enumerate(events):
                self._real(self.model.decode_step_ms(self.running) * len(group))
                if index == 0:
                    with self._lock:
                        if len(self.ttft_ms) < _MAX_RECORDS:
                            self.ttft_ms.append((self._clock() - arrived) / self.model.time_scale * 1000)
                emit(group, index == 0)
            with self._lock:
                self.cache.insert(tokens + tokenize(" ".join(words)))
                self.completed += 1
                self.output_tokens += len(words)
            return {"prompt_tokens": len(tokens), "cached_tokens": hit, "completion_tokens": len(words)}
        finally:
            with self._lock:
                self.running -= 1
                self._lock.notify_all()

    def stats(self) -> dict[str, Any]:
        """Counters as JSON: requests, completions, cache queries/hits (tokens), evictions, load now."""
        with self._lock:
            return {
                "requests": self.requests,
                "completed": self.completed,
                "output_tokens": self.output_tokens,
                "prefix_cache_queries": self.cache.queries,
                "prefix_cache_hits": self.cache.hits,
                "evictions": self.cache.evictions,
                "cached_blocks": len(self.cache),
                "running": self.running,
                "waiting": self.waiting,
                "model": asdict(self.model),
                "ttft_ms": list(self.ttft_ms),
            }

    def reset(self) -> None:
        """Empty the cache and zero the counters (between bench phases)."""
        with self._lock:
            self.cache = PrefixCache(self.model.cache_blocks)
            self.requests = self.completed = self.output_tokens = 0
            self.ttft_ms = []


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler (balancers pool upstream connections)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """Silenced: the counters are the log."""

    def setup(self) -> None:
        """TCP_NODELAY: headers and body go out in separate writes (see stub_backend.py)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Sim-Backend", self.server.name)
        self.end_headers()
        self.wfile.write(data)

    def _text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self, path: str) -> bool:
        # vLLM's rule: only /v1 paths need "Bearer <key>" (scheme in any case, key compared exactly).
        if not path.startswith("/v1"):
            return True
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token == self.server.api_key:
            return True
        self._json(401, {"error": "Unauthorized"})
        return False

    def do_GET(self) -> None:
        """/health, /v1/models, /metrics, /sim/stats."""
        path = urlsplit(self.path).path
        if not self._authorized(path):
            return
        engine = self.server.engine
        if path == "/health":
            self._text(200, "")
        elif path == "/v1/models":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": self.server.model_id, "object": "model", "owned_by": "vllm", "max_model_len": 32768}
                    ],
                },
            )
        elif path == "/metrics":
            s = engine.stats()
            label = f'{{model_name="{self.server.model_id}"}}'
            self._text(
                200,
                "".join(
                    [
                        "# TYPE vllm:num_requests_running gauge\n",
                        f"vllm:num_requests_running{label} {s['running']}\n",
                        "# TYPE vllm:num_requests_waiting gauge\n",
                        f"vllm:num_requests_waiting{label} {s['waiting']}\n",
                        "# TYPE vllm:prefix_cache_queries counter\n",
                        f"vllm:prefix_cache_queries_total{label} {s['prefix_cache_queries']}\n",
                        "# TYPE vllm:prefix_cache_hits counter\n",
                        f"vllm:prefix_cache_hits_total{label} {s['prefix_cache_hits']}\n",
                    ]
                ),
            )
        elif path == "/sim/stats":
            self._json(200, {"name": self.server.name, **engine.stats()})
        else:
            self._json(404, {"error": {"message": f"no route {path}", "type": "NotFoundError", "code": 404}})

    def do_POST(self) -> None:
        """Completions, tokenizer endpoints, /sim/reset."""
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._json(413, {"error": {"message": "request body too large", "code": 413}})
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        if not self._authorized(path):
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._json(400, {"error": {"message": f"invalid JSON: {exc}", "code": 400}})
            return
        if path == "/sim/reset":
            self.server.engine.reset()
            self._json(200, {"ok": True})
        elif path in ("/tokenize", "/v1/chat/completions/render", "/v1/completions/render"):
            tokens = tokenize(_prompt_text(body))
            if path == "/tokenize":
                self._json(200, {"count": len(tokens), "max_model_len": 32768, "tokens": tokens})
            else:
                self._json(200, {"token_ids": tokens})
        elif path in ("/v1/chat/completions", "/v1/completions"):
            if body.get("model") not in (None, self.server.model_id):
                self._json(
                    404,
                    {
                        "error": {
                            "message": f"The model `{body.get('model')}` does not exist.",
                            "type": "NotFoundError",
                            "code": 404,
                        }
                    },
                )
                return
            self._generate(path, body)
        else:
            self._json(404, {"error": {"message": f"no route {path}", "type": "NotFoundError", "code": 404}})

    def _generate(self, path: str, body: dict[str, Any]) -> None:
        chat = path.endswith("/chat/completions")
        try:
            max_tokens = max(1, min(int(body.get("max_tokens") or 16), _MAX_OUTPUT_TOKENS))
        except (TypeError, ValueError):
            max_tokens = 16
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        stream = bool(body.get("stream"))
        collected: list[str] = []
        if stream:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Sim-Backend", self.server.name)
            self.end_headers()
            self.wfile.flush()

        def emit(words: list[str], first: bool) -> None:
            text = "".join(" " + w for w in words)
            collected.append(text)
            if not stream:
                return
            if chat:
                delta: dict[str, Any] = {"content": text, **({"role": "assistant"} if first else {})}
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
            else:
                choice = {"index": 0, "text": text, "finish_reason": None}
            event = {
                "id": ident,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "model": self.server.model_id,
                "choices": [choice],
                "sim_backend": self.server.name,
            }
            data = b"data: " + json.dumps(event).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        usage = self.server.engine.run(_prompt_text(body), max_tokens, emit)
        text = "".join(collected)
        if stream:
            for data in (
                b"data: " + json.dumps({"id": ident, "choices": [], "usage": usage}).encode() + b"\n\n",
                b"data: [DONE]\n\n",
            ):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        message = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        self._json(
            200,
            {
                "id": ident,
                "object": "chat.completion" if chat else "text_completion",
                "model": self.server.model_id,
                "usage": usage,
                "choices": [{"index": 0, "finish_reason": "length", **message}],
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: SimEngine, name: str, model_id: str, api_key: str) -> None:
        self.engine = engine
        self.name = name
        self.model_id = model_id
        self.api_key = api_key
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client going away mid-stream is expected; stay quiet."""


def serve(
    engine: SimEngine,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "sim",
    model_id: str = "bench-model",
    api_key: str = DEFAULT_API_KEY,
) -> _Server:
    """Start serving ``engine`` on a loopback address in a daemon thread; returns the server (``shutdown()``)."""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the simulator binds to loopback only, not {host!r}")
    server = _Server((host, port), engine, name, model_id, api_key)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    """Serve one simulated engine in the foreground until SIGTERM/SIGINT; prints ``{"name", "url"}`` first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="sim")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--engine-json", default="{}", help="EngineModel fields as JSON, e.g. '{\"time_scale\": 0.5}'")
    args = parser.parse_args(argv)
    engine = SimEngine(EngineModel(**json.loads(args.engine_json)))
    server = serve(engine, port=args.port, name=args.name, model_id=args.model)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"name": args.name, "url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
