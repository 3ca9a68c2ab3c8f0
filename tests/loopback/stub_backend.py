"""A small OpenAI-compatible stand-in for a vLLM pod, for loopback tests and the balancer bench.

It speaks just enough of vLLM's HTTP surface for a balancer in front of it to behave as it would in front of
real pods: ``GET /health``, ``GET /v1/models``, ``GET /metrics``, ``POST /v1/chat/completions`` and
``POST /v1/completions`` (plain JSON or server-sent events with ``stream: true``, ending with ``data: [DONE]``).
It does no inference: it sleeps for a configurable time, then answers. What it records (per-backend request
count, the largest number of requests it held at once, the prompts it saw) is what the tests assert on, read
in-process via :meth:`StubBackend.stats` or over HTTP on ``GET /stub/stats``.

Latency is configurable per stub (``delay_ms``, ``chunk_delay_ms``, ``chunks``) and per request, so a test can
make uneven durations through any balancer: request headers ``X-Stub-Delay-Ms``, ``X-Stub-Chunk-Delay-Ms`` and
``X-Stub-Chunks`` win; the same three knobs are also read from the JSON body (``stub_delay_ms`` ...) because a
balancer may not forward unknown headers.

Every ``/v1/...`` route demands ``Authorization: Bearer <api_key>`` and answers anything else with vLLM 0.33's
``401 {"error": "Unauthorized"}``; ``/health``, ``/metrics``, ``/tokenize`` and the stub's own routes need no key,
exactly as vLLM's ``AuthenticationMiddleware`` guards only paths under ``/v1`` (vllm/entrypoints/openai/
server_utils.py: the scheme ``Bearer`` in any case, the key compared exactly).
A balancer that forgets to pass the key therefore fails here as it would in front of real pods.

Only the standard library is used. Everything binds to loopback addresses only; :meth:`StubBackend.kill` stops
a stub the way a crashing pod stops (listener gone, open connections cut mid-request), and
``python -m tests.loopback.stub_backend --port N --model M`` runs one as a separate process for the bench.
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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["DEFAULT_API_KEY", "StubBackend", "StubKilled", "main"]

# The key every stub enforces unless given another; tests send it as a real client (or nginx's edge) would.
DEFAULT_API_KEY = "sk-loopback-stub-key"

# Bounds that keep a mistaken test from turning a stub into a long-running load generator.
_MAX_DELAY_MS = 60_000
_MAX_CHUNKS = 512
_MAX_RECORDS = 20_000
_MAX_BODY = 256 * 1024 * 1024


class StubKilled(Exception):
    """Raised inside a request handler when its stub was killed while the request was in flight."""


def _require_loopback(host: str) -> None:
    """Refuse to bind anywhere but loopback: these stubs must never be reachable from another machine."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise ValueError(f"stub backends bind to loopback only, not {host!r}")


@dataclass
class _Record:
    """One request as the stub saw it."""

    path: str
    model: str | None
    prompt: str
    stream: bool
    delay_ms: int
    headers: dict[str, str]
    started: float
    finished: float | None = None
    completed: bool = False
    status: int = 0


@dataclass
class _Stats:
    """Mutable counters behind a lock; :meth:`StubBackend.stats` returns a copy."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    unauthorized: int = 0
    generation_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    records: list[_Record] = field(default_factory=list)


def _clamp_int(value: Any, default: int, upper: int) -> int:
    """Parse a knob from a header or body field, falling back to the stub default and clamping to ``upper``."""
    if value is None or value == "":
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return default
    return max(0, min(number, upper))


def _prompt_of(path: str, body: dict[str, Any]) -> str:
    """The text a balancer would route on: chat messages joined, or the completion prompt."""
    if path.endswith("/chat/completions"):
        parts: list[str] = []
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):  # OpenAI content parts
                parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
        return "\n".join(parts)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return "\n".join(str(p) for p in prompt)
    return str(prompt)


class _Handler(BaseHTTPRequestHandler):
    """Request handler; HTTP/1.1 with keep-alive, because nginx and the router pool upstream connections."""

    protocol_version = "HTTP/1.1"
    server: _Server

    # The default handler logs every request to stderr; the stats are the log here.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """Silenced: the stats are the log."""

    def setup(self) -> None:
        """Per connection: TCP_NODELAY and connection tracking (for kill)."""
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + the peer's delayed ACK add
        # ~40 ms to every response, which would swamp what a balancer adds (uvicorn sets it too).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stub._track(self.connection, add=True)

    def finish(self) -> None:
        """Untrack the connection, tolerating a socket the kill already shut."""
        try:
            super().finish()
        except OSError:
            pass  # the stub was killed and the socket is gone
        finally:
            self.server.stub._track(self.connection, add=False)

    def handle_one_request(self) -> None:
        """Serve one request unless the stub is dead; a kill mid-request just drops the connection."""
        # A killed stub answers nothing, even on a connection accepted in the instant before the kill.
        if self.server.stub.killed.is_set():
            self.close_connection = True
            return
        try:
            super().handle_one_request()
        except StubKilled:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    # ---- helpers -------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Stub-Backend", self.server.stub.name)
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Stub-Backend", self.server.stub.name)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _authorized(self, path: str) -> bool:
        """vLLM's rule: paths under /v1 need ``Authorization: <bearer, any case> <key, exact>``; 401 otherwise."""
        if not path.startswith("/v1") or self.command == "OPTIONS":
            return True
        stub = self.server.stub
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token == stub.api_key:
            return True
        with stub._stats.lock:
            stub._stats.unauthorized += 1
        self._send_json(401, {"error": "Unauthorized"})
        return False

    # ---- routes --------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """/health, /v1/models, /metrics, /stub/stats."""
        stub = self.server.stub
        path = urlsplit(self.path).path
        stub._count(path)
        if not self._authorized(path):
            return
        if path == "/health":
            # vLLM answers 200 with an empty body when the engine is up.
            self._send_text(200, "")
        elif path == "/v1/models":
            self._send_json(200, stub.models_payload())
        elif path == "/metrics":
            self._send_text(200, stub.metrics_text(), "text/plain; version=0.0.4")
        elif path == "/stub/stats":
            self._send_json(200, stub.stats())
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "NotFoundError", "code": 404}})

    def do_POST(self) -> None:
        """Completions, tokenizer endpoints, /stub/reset."""
        stub = self.server.stub
        split = urlsplit(self.path)
        path = split.path
        stub._count(path)
        try:
            raw = self._read_body()
        except ValueError as exc:
            self._send_json(413, {"error": {"message": str(exc), "type": "BadRequestError", "code": 413}})
            return
        if not self._authorized(path):
            return
        if path == "/stub/reset":
            stub.reset_stats()
            self._send_json(200, {"ok": True})
            return
        if path in ("/tokenize", "/v1/chat/completions/render", "/v1/completions/render"):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            self._tokenize(path, body if isinstance(body, dict) else {})
            return
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "NotFoundError", "code": 404}})
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            self._send_json(400, {"error": {"message": f"invalid JSON: {exc}", "type": "BadRequestError", "code": 400}})
            return
        self._generate(path, body, parse_qs(split.query))

    def _tokenize(self, path: str, body: dict[str, Any]) -> None:
        """vLLM's tokenizer endpoints, which vllm-router calls to route on token prefixes.

        A byte-level fake tokenizer (token id = byte value + 3) keeps what matters for routing: two prompts that
        share a text prefix share a token-id prefix. ``/tokenize`` answers ``{count, max_model_len, tokens}``;
        the ``/render`` endpoints answer ``{token_ids}`` like vLLM's render endpoints.
        """
        stub = self.server.stub
        model = body.get("model")
        if model is not None and model != stub.model:
            self._send_json(
                404,
                {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError", "code": 404}},
            )
            return
        text = _prompt_of("/v1/chat/completions" if "messages" in body else "/v1/completions", body)
        tokens = [b + 3 for b in text.encode()]
        if path == "/tokenize":
            self._send_json(200, {"count": len(tokens), "max_model_len": 4096, "tokens": tokens, "token_strs": None})
        else:
            self._send_json(200, {"token_ids": tokens})

    def _generate(self, path: str, body: dict[str, Any], _query: dict[str, list[str]]) -> None:
        stub = self.server.stub
        model = body.get("model")
        if model is not None and model != stub.model:
            # What vLLM answers for a model it does not serve: a balancer must never route it here.
            self._send_json(
                404,
                {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError", "code": 404}},
            )
            return
        header = self.headers.get
        delay_ms = _clamp_int(header("X-Stub-Delay-Ms", body.get("stub_delay_ms")), stub.delay_ms, _MAX_DELAY_MS)
        chunk_delay_ms = _clamp_int(
            header("X-Stub-Chunk-Delay-Ms", body.get("stub_chunk_delay_ms")), stub.chunk_delay_ms, _MAX_DELAY_MS
        )
        chunks = max(1, _clamp_int(header("X-Stub-Chunks", body.get("stub_chunks")), stub.chunks, _MAX_CHUNKS))
        stream = bool(body.get("stream"))
        record = _Record(
            path=path,
            model=model,
            prompt=_prompt_of(path, body),
            stream=stream,
            delay_ms=delay_ms,
            headers={k.lower(): v for k, v in self.headers.items()},
            started=time.time(),
        )
        stub._begin(record)
        try:
            with stub._capacity():
                stub._sleep(delay_ms / 1000)
                if stream:
                    self._stream(path, stub.model, chunks, chunk_delay_ms / 1000)
                else:
                    self._complete(path, stub.model, chunks, record.prompt)
            record.completed = True
            record.status = 200
        finally:
            stub._end(record)

    def _complete(self, path: str, model: str, chunks: int, prompt: str) -> None:
        stub = self.server.stub
        text = " ".join(f"tok{i}" for i in range(chunks))
        now = int(time.time())
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": chunks,
            "total_tokens": len(prompt.split()) + chunks,
        }
        if path.endswith("/chat/completions"):
            payload = {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": now,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
                "stub_backend": stub.name,
            }
        else:
            payload = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": now,
                "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": usage,
                "stub_backend": stub.name,
            }
        stub._check_alive()
        self._send_json(200, payload)

    def _stream(self, path: str, model: str, chunks: int, chunk_delay_s: float) -> None:
        stub = self.server.stub
        stub._check_alive()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Stub-Backend", stub.name)
        self.end_headers()
        self.wfile.flush()
        chat = path.endswith("/chat/completions")
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        now = int(time.time())
        for i in range(chunks):
            if i:
                stub._sleep(chunk_delay_s)
            last = i == chunks - 1
            if chat:
                delta: dict[str, Any] = {"content": f"tok{i} "}
                if i == 0:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": "stop" if last else None}
                event = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": now,
                    "model": model,
                    "choices": [choice],
                }
            else:
                event = {
                    "id": ident,
                    "object": "text_completion",
                    "created": now,
                    "model": model,
                    "choices": [{"index": 0, "text": f"tok{i} ", "finish_reason": "stop" if last else None}],
                }
            # stub_sent_at lets a client on the same host measure per-chunk delivery delay.
            event["stub_backend"] = stub.name
            event["stub_sent_at"] = time.time()
            stub._check_alive()
            self._write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
        stub._check_alive()
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a deeper accept backlog (bursts from a balancer) and a back-reference."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stub: StubBackend) -> None:
        self.stub = stub
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected when a stub is killed or a client goes away; stay quiet."""
        return


class StubBackend:
    """An in-process OpenAI-compatible stub server on an ephemeral 127.0.0.1 port.

    ``delay_ms`` is the default time before the answer (or before the first SSE chunk), ``chunk_delay_ms``
    the default gap between SSE chunks, ``chunks`` the default number of tokens, ``max_concurrency`` an optional
    cap on requests processed at once (further requests wait, as they would in a saturated engine), ``api_key``
    the key every ``/v1`` route requires (like ``vllm serve --api-key``; never disabled). Use as a
    context manager or call :meth:`start` / :meth:`stop`; :meth:`kill` simulates a pod dying mid-run.
    """

    def __init__(
        self,
        model: str = "stub-model",
        *,
        name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_ms: int = 0,
        chunk_delay_ms: int = 20,
        chunks: int = 8,
        max_concurrency: int | None = None,
        api_key: str = DEFAULT_API_KEY,
    ) -> None:
        _require_loopback(host)
        if not api_key:
            raise ValueError("stubs always enforce an API key, as the deployed vLLM pods do")
        self.api_key = api_key
        self.model = model
        self.host = host
        self.requested_port = port
        self.name = name or f"stub-{uuid.uuid4().hex[:6]}"
        self.delay_ms = delay_ms
        self.chunk_delay_ms = chunk_delay_ms
        self.chunks = chunks
        self.killed = threading.Event()
        self._stats = _Stats()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._connections_accepted = 0
        self._sem = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None
        self.created = int(time.time())

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> StubBackend:
        """Bind and serve in a background thread; returns self so ``StubBackend(...).start()`` chains."""
        if self._server is not None:
            raise RuntimeError("stub already started")
        self._server = _Server((self.host, self.requested_port), self)
        self._bound_port = int(self._server.server_address[1])
        # A short poll interval so stop()/kill() take milliseconds, not the default half second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"{self.name}-serve", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The bound port (an ephemeral one unless a port was requested); still known after a kill."""
        if self._bound_port is None:
            raise RuntimeError("stub not started")
        return self._bound_port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, the form an nginx ``server`` line takes."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and free the port: listener closed, open connections closed (FIN). For teardown."""
        self._shutdown(graceful=True)

    def kill(self) -> None:
        """Die like a crashed pod: in-flight requests are cut mid-way and new connections are refused."""
        self._shutdown(graceful=False)

    def _shutdown(self, *, graceful: bool) -> None:
        server = self._server
        if server is None:
            return
        self.killed.set()  # handlers stop writing and sleeping at once
        server.shutdown()
        server.server_close()  # listener closed: connects are refused from here on
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                if not graceful:
                    # RST instead of FIN, as the kernel does for a process that died with unread data.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> StubBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- statistics ----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A JSON-able snapshot: request counts, in-flight high-water mark, TCP connections accepted, prompts seen,
        per-request records."""
        s = self._stats
        with s.lock:
            return {
                "name": self.name,
                "model": self.model,
                "requests": s.requests,
                "unauthorized": s.unauthorized,
                "generation_requests": s.generation_requests,
                "in_flight": s.in_flight,
                "max_in_flight": s.max_in_flight,
                "connections": self._connections_accepted,
                "by_path": dict(s.by_path),
                "prompts": [r.prompt for r in s.records],
                "records": [
                    {
                        "path": r.path,
                        "model": r.model,
                        "stream": r.stream,
                        "delay_ms": r.delay_ms,
                        "started": r.started,
                        "finished": r.finished,
                        "completed": r.completed,
                        "headers": r.headers,
                        "prompt": r.prompt,
                    }
                    for r in s.records
                ],
            }

    @property
    def generation_requests(self) -> int:
        """How many completion requests reached this stub (served or cut)."""
        with self._stats.lock:
            return self._stats.generation_requests

    def reset_stats(self) -> None:
        """Zero every counter (the in-flight count is kept: those requests are still running)."""
        s = self._stats
        with self._conns_lock:
            self._connections_accepted = 0
        with s.lock:
            s.requests = 0
            s.unauthorized = 0
            s.generation_requests = 0
            s.max_in_flight = s.in_flight
            s.by_path = {}
            s.records = []

    def models_payload(self) -> dict[str, Any]:
        """The ``/v1/models`` answer, shaped like vLLM's."""
        return {
            "object": "list",
            "data": [
                {
                    "id": self.model,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "vllm",
                    "root": self.model,
                    "parent": None,
                    "max_model_len": 4096,
                    "permission": [],
                }
            ],
        }

    def metrics_text(self) -> str:
        """A few vLLM-named Prometheus gauges, enough for anything that scrapes load from ``/metrics``."""
        with self._stats.lock:
            running = self._stats.in_flight
        label = f'model_name="{self.model}"'
        return (
            f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{{label}}} {running}\n"
            f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{{{label}}} 0\n"
        )

    # ---- internals used by the handler ---------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
                self._connections_accepted += 1
            else:
                self._conns.discard(conn)

    def _count(self, path: str) -> None:
        s = self._stats
        with s.lock:
            s.requests += 1
            s.by_path[path] = s.by_path.get(path, 0) + 1

    def _begin(self, record: _Record) -> None:
        s = self._stats
        with s.lock:
            s.generation_requests += 1
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
            if len(s.records) < _MAX_RECORDS:
                s.records.append(record)

    def _end(self, record: _Record) -> None:
        s = self._stats
        with s.lock:
            s.in_flight -= 1
            record.finished = time.time()

    def _capacity(self) -> Any:
        stub = self

        class _Slot:
            def __enter__(self) -> None:
                if stub._sem is None:
                    return
                while not stub._sem.acquire(timeout=0.05):
                    stub._check_alive()

            def __exit__(self, *exc: object) -> None:
                if stub._sem is not None:
                    stub._sem.release()

        return _Slot()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.killed.wait(seconds):
            raise StubKilled()
        self._check_alive()

    def _check_alive(self) -> None:
        if self.killed.is_set():
            raise StubKilled()


def main(argv: list[str] | None = None) -> int:
    """Run one stub in the foreground until SIGINT/SIGTERM (used by ``bench/balancers.py``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = ephemeral; the bound port is printed)")
    parser.add_argument("--model", default="stub-model", help="model id served on /v1/models")
    parser.add_argument("--name", default=None, help="backend name reported in X-Stub-Backend")
    parser.add_argument("--delay-ms", type=int, default=0, help="default latency before the answer")
    parser.add_argument("--chunk-delay-ms", type=int, default=20, help="default gap between SSE chunks")
    parser.add_argument("--chunks", type=int, default=8, help="default number of tokens / SSE chunks")
    parser.add_argument("--max-concurrency", type=int, default=None, help="requests processed at once")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="key every /v1 route requires")
    args = parser.parse_args(argv)
    stub = StubBackend(
        args.model,
        name=args.name,
        host=args.host,
        port=args.port,
        delay_ms=args.delay_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        chunks=args.chunks,
        max_concurrency=args.max_concurrency,
        api_key=args.api_key,
    ).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # The parent reads this line to learn the port; flush so it is not stuck in a pipe buffer.
    print(json.dumps({"name": stub.name, "url": stub.url, "model": stub.model}), flush=True)
    stop.wait()
    stub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
