#!/usr/bin/env python3
"""Maintainer check: the ``affinity`` upstream exactly as Kubernetes renders it works on real nginx >= 1.27.3.

The test suite runs on CI's nginx (Debian 12's 1.22), which has neither ``resolve`` nor ``service=`` in open source
(both arrived in 1.27.3), so the Kubernetes form of the affinity upstream,

    upstream vllm_backends_affinity {
        hash $vllm_affinity_key consistent;
        server <headless-service> service=http resolve max_conns=N ...;
    }

cannot load there. This script proves on a newer nginx (the image pins 1.29.8) the two things the design rests on:

1. **srv-ring**: with the SRV form every pod of the headless Service is its own consistent-hash ring member: nginx
   asks for ``_http._tcp.<service>``, a session key sticks to one pod, and 40 keys spread over all three pods;
2. **a-record-ring** (why not the A form): with ``server <service>:<port> resolve`` every resolved pod carries the
   one server name, nginx builds the ring from names, and one key is spread over every pod (round robin).

It runs three stub backends (``tests/loopback/stub_backend.py``) on 127.0.0.1 and a small DNS responder that
answers like CoreDNS for a headless Service (one SRV target per pod, each target's A record), renders the library's
configuration with ``vllm_infra.balancing.affinity``, starts the given nginx on it, sends requests, and stops
everything it started. Exit 0 = both checks passed, 1 = a check failed (the report says which and why), 2 = the nginx
is older than 1.27.3 (nothing was checked).

Run it from the repository root, with an nginx >= 1.27.3 binary (nginx.org's packages, or the pinned image's
binary copied out: ``docker create --name n nginx:1.29.8 && docker cp n:/usr/sbin/nginx /tmp/nginx``; that one
needs the image's shared libraries, so run the script inside the image or a matching Debian)::

    PYTHONPATH=. python scripts/check_affinity_srv.py --nginx /path/to/nginx-1.29.8
    PYTHONPATH=. python scripts/check_affinity_srv.py              # the nginx on PATH / in /usr/sbin

Run it when the nginx pin (``NGINX_IMAGE``), the affinity upstream's ``server`` line or the headless Service's
port name changes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.loopback.procs import NginxProcess, find_binary, make_workdir, request, start_nginx, wait_until  # noqa: E402
from tests.loopback.stub_backend import DEFAULT_API_KEY, StubBackend  # noqa: E402
from vllm_infra.balancing.affinity import SRV_PORT_NAME, AffinitySettings, affinity_extension  # noqa: E402
from vllm_infra.balancing.nginx import (  # noqa: E402
    NGINX_MIN_VERSION_FOR_RESOLVE,
    NginxConfExtension,
    NginxSettings,
    UpstreamServer,
)

SERVICE = "llama-pods.llm.svc.cluster.local"
TYPE_A, TYPE_SRV, CLASS_IN = 1, 33, 1
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def encode_name(name: str) -> bytes:
    """A domain name in DNS wire format (length-prefixed labels, then a zero byte)."""
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"


def decode_question(packet: bytes) -> tuple[str, int, int]:
    """(name, type, end offset) of the first question of a DNS query."""
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    qtype, _qclass = struct.unpack("!HH", packet[offset + 1 : offset + 5])
    return ".".join(labels), qtype, offset + 5


class HeadlessServiceDns:
    """A UDP DNS responder on 127.0.0.1 answering like CoreDNS for the headless Service ``SERVICE``:
    ``_http._tcp.<SERVICE>`` SRV has one target per pod (``127-0-0-1-<i>.<SERVICE>``, port = that pod's port),
    each target's A record is 127.0.0.1, the Service name's own A records are ``addresses``; other names NXDOMAIN.
    Use it as a context manager (it serves in a thread until exit)."""

    def __init__(self, ports: Sequence[int], addresses: Sequence[str] = ()) -> None:
        self.targets = {f"127-0-0-1-{i}.{SERVICE}": port for i, port in enumerate(ports)}
        self.addresses = list(addresses)
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
        """The response to one query: the question echoed, then the records (TTL 5 s, names compressed to the
        question's); NXDOMAIN for names it does not know."""
        name, qtype, end = decode_question(query)
        self.queries.append((name, qtype))
        records: list[tuple[int, bytes]] = []
        if qtype == TYPE_SRV and name == f"_{SRV_PORT_NAME}._tcp.{SERVICE}":
            records = [
                (TYPE_SRV, struct.pack("!HHH", 0, 1, port) + encode_name(target))
                for target, port in self.targets.items()
            ]
        elif qtype == TYPE_A and name in self.targets:
            records = [(TYPE_A, socket.inet_aton("127.0.0.1"))]
        elif qtype == TYPE_A and name == SERVICE:
            records = [(TYPE_A, socket.inet_aton(address)) for address in self.addresses]
        known = name in (f"_{SRV_PORT_NAME}._tcp.{SERVICE}", SERVICE) or name in self.targets
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


def nginx_version(nginx_bin: str) -> tuple[int, ...]:
    """``nginx -v``'s version, e.g. (1, 29, 8)."""
    done = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, timeout=10, check=True)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", done.stderr + done.stdout)
    if found is None:
        raise RuntimeError(f"{nginx_bin} -v printed no version: {done.stderr!r}")
    return tuple(int(part) for part in found.groups())


def backend_for(url: str, key: str) -> str | None:
    """The stub that answered one chat completion keyed by ``X-Session-Id: key`` (None unless 200)."""
    response = request(
        "POST",
        url + "/v1/chat/completions",
        {"model": "stub-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}", "X-Session-Id": key},
        timeout=10,
    )
    return response.headers.get("x-stub-backend") if response.status == 200 else None


def _run_nginx(
    nginx_bin: str, workdir: Path, dns: HeadlessServiceDns, port: int, transform: Callable[[str], str] | None = None
) -> NginxProcess:
    kube = [UpstreamServer(host=SERVICE, port=port, resolve=True)]

    def extension(settings: NginxSettings) -> NginxConfExtension:
        ext = affinity_extension(AffinitySettings(), settings, kube, cap=64)
        if transform is None:
            return ext
        return replace(ext, http_lines=tuple(transform(line) for line in ext.http_lines))

    return start_nginx(nginx_bin, workdir, kube, resolver=f"127.0.0.1:{dns.port}", extension=extension)


def check_srv_ring(nginx_bin: str, workdir: Path) -> str | None:
    """Check 1 (see the module docstring); None when it holds, else what went wrong."""
    stubs = [StubBackend("stub-model", name=f"pod{i}").start() for i in range(3)]
    proc: NginxProcess | None = None
    try:
        with HeadlessServiceDns([s.port for s in stubs]) as dns:
            proc = _run_nginx(nginx_bin, workdir, dns, 8000)
            url = proc.url
            # nginx resolves at run time: wait until the SRV targets are peers.
            if not wait_until(lambda: backend_for(url, "probe") is not None, timeout=15):
                return "no backend answered within 15 s:\n" + proc.error_log()
            if (f"_{SRV_PORT_NAME}._tcp.{SERVICE}", TYPE_SRV) not in dns.queries:
                return f"nginx never asked for the SRV records; it asked {dns.queries}"
            for key in ("conversation-a", "conversation-b"):
                seen = {backend_for(url, key) for _ in range(6)}
                if len(seen) != 1:
                    return f"key {key!r} reached {sorted(map(str, seen))}, not one pod"
            spread = {backend_for(url, f"conversation-{i}") for i in range(40)}
            if spread != {s.name for s in stubs}:
                return f"40 keys reached {sorted(map(str, spread))}, not all three pods"
            return None
    finally:
        if proc is not None:
            proc.stop()
        for stub in stubs:
            stub.stop()


def check_a_record_ring(nginx_bin: str, workdir: Path) -> str | None:
    """Check 2 (see the module docstring): the A form spreads one key; None when it does, else what happened."""
    addresses = ["127.0.7.1", "127.0.7.2", "127.0.7.3"]
    first = StubBackend("stub-model", name="pod0", host=addresses[0]).start()
    stubs = [first] + [
        StubBackend("stub-model", name=f"pod{i}", host=a, port=first.port).start()
        for i, a in enumerate(addresses[1:], start=1)
    ]
    proc: NginxProcess | None = None
    srv_form = f"{SERVICE} service={SRV_PORT_NAME} resolve"
    try:
        with HeadlessServiceDns([], addresses) as dns:
            proc = _run_nginx(
                nginx_bin,
                workdir,
                dns,
                first.port,
                transform=lambda line: line.replace(srv_form, f"{SERVICE}:{first.port} resolve"),
            )
            url = proc.url
            if not wait_until(lambda: backend_for(url, "probe") is not None, timeout=15):
                return "no backend answered within 15 s:\n" + proc.error_log()
            seen = {backend_for(url, "conversation-a") for _ in range(6)}
            if len(seen) != 3:
                return f"one key reached {sorted(map(str, seen))}; expected all three pods (one ring member)"
            return None
    finally:
        if proc is not None:
            proc.stop()
        for stub in stubs:
            stub.stop()


CHECKS: dict[str, Callable[[str, Path], str | None]] = {
    "srv-ring": check_srv_ring,
    "a-record-ring": check_a_record_ring,
}


def main(argv: list[str] | None = None) -> int:
    """Run the checks against ``--nginx`` (default: nginx on PATH or in /usr/sbin); print one line per check."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nginx", default=None, help="an nginx >= 1.27.3 binary")
    args = parser.parse_args(argv)
    nginx_bin = args.nginx or find_binary("nginx", NGINX_PATHS)
    if nginx_bin is None:
        print("no nginx found: pass --nginx /path/to/nginx (>= 1.27.3)", file=sys.stderr)
        return 2
    version = nginx_version(nginx_bin)
    wanted = ".".join(map(str, NGINX_MIN_VERSION_FOR_RESOLVE))
    if version < NGINX_MIN_VERSION_FOR_RESOLVE:
        print(
            f"{nginx_bin} is nginx {'.'.join(map(str, version))}; the SRV form needs nginx >= {wanted} "
            "(resolve and service= in open source). Nothing checked; pass --nginx with a newer binary.",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for name, check in CHECKS.items():
        workdir = make_workdir("vllm-infra-srv-check-")
        try:
            problem = check(nginx_bin, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"{name}: {'ok' if problem is None else 'FAILED: ' + problem}")
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
