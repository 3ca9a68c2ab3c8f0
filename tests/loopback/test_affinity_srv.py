"""The affinity upstream as Kubernetes renders it (``server <headless> service=http resolve max_conns=N``), on real
nginx resolving SRV records from a small DNS responder on 127.0.0.1 that answers like CoreDNS for a headless
Service: one SRV target per pod, each target's A record. It checks that every pod is its own consistent-hash ring
member (keys stick, and spread over all pods). Needs nginx >= 1.27.3 (``resolve``/``service=`` in open source);
skipped with an older one (Debian 12's 1.22), like the pinned image's 1.29.8 it runs when such an nginx is first on
PATH."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Self

import pytest

from vllm_infra.balancing.affinity import AffinitySettings, affinity_extension
from vllm_infra.balancing.nginx import NGINX_MIN_VERSION_FOR_RESOLVE, UpstreamServer

from .procs import request, wait_until
from .stub_backend import DEFAULT_API_KEY

pytestmark = pytest.mark.slow

SERVICE = "llama-pods.llm.svc.cluster.local"
TYPE_A, TYPE_SRV, CLASS_IN = 1, 33, 1


def _encode_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"


def _decode_question(packet: bytes) -> tuple[str, int, int]:
    """(name, type, end offset) of the first question of a DNS query."""
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    qtype, _qclass = struct.unpack("!HH", packet[offset + 1 : offset + 5])
    return ".".join(labels), qtype, offset + 5


class HeadlessServiceDns:
    """Answers ``_http._tcp.<SERVICE>`` SRV with one target per pod (``<ip-dashed-and-index>.<SERVICE>``, port = the
    stub's port) and each target's A record (127.0.0.1), as CoreDNS does for a headless Service's named port."""

    def __init__(self, ports: list[int], addresses: list[str] | None = None) -> None:
        self.targets = {f"127-0-0-1-{i}.{SERVICE}": port for i, port in enumerate(ports)}
        self.addresses = addresses or []  # the Service name's own A records (one per pod)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def answer(self, query: bytes) -> bytes:
        """The response to one query (NXDOMAIN for names it does not know)."""
        name, qtype, end = _decode_question(query)
        self.queries.append((name, qtype))
        records: list[tuple[int, bytes]] = []
        if qtype == TYPE_SRV and name == f"_http._tcp.{SERVICE}":
            records = [
                (TYPE_SRV, struct.pack("!HHH", 0, 1, port) + _encode_name(target))
                for target, port in self.targets.items()
            ]
        elif qtype == TYPE_A and name in self.targets:
            records = [(TYPE_A, socket.inet_aton("127.0.0.1"))]
        elif qtype == TYPE_A and name == SERVICE:
            records = [(TYPE_A, socket.inet_aton(address)) for address in self.addresses]
        known = name in (f"_http._tcp.{SERVICE}", SERVICE) or name in self.targets
        flags = 0x8180 if known else 0x8183  # response, recursion desired+available; rcode NXDOMAIN if unknown
        header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], flags, 1, len(records), 0, 0)
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, 5, len(rdata)) + rdata for rtype, rdata in records
        )
        return header + query[12:end] + answers

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            self.sock.sendto(self.answer(query), peer)


@pytest.fixture
def dns(make_stubs) -> Iterator[tuple[HeadlessServiceDns, list]]:
    stubs = make_stubs(3)
    with HeadlessServiceDns([s.port for s in stubs]) as server:
        yield server, stubs


def _nginx_version(nginx_bin: str) -> tuple[int, ...]:
    done = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, timeout=10, check=True)
    return tuple(int(part) for part in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", done.stderr).groups())


def backend_for(url: str, key: str) -> str | None:
    response = request(
        "POST",
        url + "/v1/chat/completions",
        {"model": "stub-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}", "X-Session-Id": key},
        timeout=10,
    )
    return response.headers.get("x-stub-backend") if response.status == 200 else None


def test_each_pod_of_the_headless_service_is_its_own_ring_member(nginx, nginx_bin, dns, workdir: Path) -> None:
    if _nginx_version(nginx_bin) < NGINX_MIN_VERSION_FOR_RESOLVE:
        pytest.skip("nginx < 1.27.3 has no resolve/service= (the image pins 1.29.8; put such an nginx on PATH)")
    server, stubs = dns
    kube = [UpstreamServer(host=SERVICE, port=8000, resolve=True)]
    proc = nginx(
        kube,
        resolver=f"127.0.0.1:{server.port}",
        extension=lambda settings: affinity_extension(AffinitySettings(), settings, kube, cap=64),
    )
    # nginx resolves at run time: wait until the SRV targets are peers.
    assert wait_until(lambda: backend_for(proc.url, "probe") is not None, timeout=15), proc.error_log()
    assert (f"_http._tcp.{SERVICE}", TYPE_SRV) in server.queries
    for key in ("conversation-a", "conversation-b"):
        assert len({backend_for(proc.url, key) for _ in range(6)}) == 1
    spread = {backend_for(proc.url, f"conversation-{i}") for i in range(40)}
    assert spread == {s.name for s in stubs}, spread


def test_a_records_would_make_the_ring_one_member(nginx, nginx_bin, workdir: Path) -> None:
    """Why the SRV form: with ``server <name>:<port> resolve`` every resolved pod carries the one name, nginx builds
    the ring from names, and ``hash ... consistent`` spreads one key over every pod (weighted round robin)."""
    if _nginx_version(nginx_bin) < NGINX_MIN_VERSION_FOR_RESOLVE:
        pytest.skip("nginx < 1.27.3 has no resolve (the image pins 1.29.8; put such an nginx on PATH)")
    from .stub_backend import StubBackend

    addresses = ["127.0.7.1", "127.0.7.2", "127.0.7.3"]
    first = StubBackend("stub-model", name="pod0", host=addresses[0]).start()
    stubs = [first] + [
        StubBackend("stub-model", name=f"pod{i}", host=a, port=first.port).start()
        for i, a in enumerate(addresses[1:], start=1)
    ]
    try:
        with HeadlessServiceDns([], addresses) as server:
            kube = [UpstreamServer(host=SERVICE, port=first.port, resolve=True)]

            def a_record_form(settings):
                ext = affinity_extension(AffinitySettings(), settings, kube, cap=64)
                srv = f"{SERVICE} service=http resolve"
                lines = tuple(line.replace(srv, f"{SERVICE}:{first.port} resolve") for line in ext.http_lines)
                return replace(ext, http_lines=lines)

            proc = nginx(kube, resolver=f"127.0.0.1:{server.port}", extension=a_record_form)
            assert wait_until(lambda: backend_for(proc.url, "probe") is not None, timeout=15), proc.error_log()
            assert len({backend_for(proc.url, "conversation-a") for _ in range(6)}) == 3
    finally:
        for stub in stubs:
            stub.stop()
