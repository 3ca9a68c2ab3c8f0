"""``scripts/check_affinity_srv.py``, the maintainer check of the affinity upstream's Kubernetes form (SRV records,
``resolve``), which needs nginx >= 1.27.3 and so runs outside the suite (CI has Debian's 1.22). What runs here, on
any nginx: its DNS responder answers the queries nginx will send the way CoreDNS does for a headless Service (the
packets are built and read by this test, not by the responder's code), and the script refuses an older nginx with
exit 2 instead of reporting a check it did not run."""

from __future__ import annotations

import importlib.util
import socket
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_affinity_srv.py"
SERVICE = "llama-pods.llm.svc.cluster.local"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_affinity_srv", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def query(name: str, qtype: int, ident: int = 0x1234) -> bytes:
    """A standard recursive query for ``name``, written out by hand."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)


def read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at ``offset``; (name, offset after it)."""
    labels: list[str] = []
    end = None
    while True:
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            end = end if end is not None else offset + 2
            offset = struct.unpack("!H", packet[offset : offset + 2])[0] & 0x3FFF
            continue
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length


def parse(packet: bytes) -> tuple[int, int, list[tuple[str, int, int, bytes]]]:
    """(id, rcode, answers as (owner, type, ttl, rdata))."""
    ident, flags, qdcount, ancount, _ns, _ar = struct.unpack("!HHHHHH", packet[:12])
    offset = 12
    for _ in range(qdcount):
        _name, offset = read_name(packet, offset)
        offset += 4
    answers = []
    for _ in range(ancount):
        owner, offset = read_name(packet, offset)
        rtype, _rclass, ttl, length = struct.unpack("!HHIH", packet[offset : offset + 10])
        offset += 10
        answers.append((owner, rtype, ttl, packet[offset : offset + length]))
        offset += length
    return ident, flags & 0x000F, answers


def test_srv_answers_one_target_per_pod_with_its_port(script) -> None:
    dns = script.HeadlessServiceDns([9101, 9102, 9103])
    try:
        ident, rcode, answers = parse(dns.answer(query(f"_http._tcp.{SERVICE}", 33, ident=0xBEEF)))
    finally:
        dns.sock.close()
    assert ident == 0xBEEF and rcode == 0
    targets = {}
    for owner, rtype, _ttl, rdata in answers:
        assert (owner, rtype) == (f"_http._tcp.{SERVICE}", 33)
        _priority, _weight, port = struct.unpack("!HHH", rdata[:6])
        target, _ = read_name(rdata, 6)
        targets[target] = port
    assert targets == {
        f"127-0-0-1-0.{SERVICE}": 9101,
        f"127-0-0-1-1.{SERVICE}": 9102,
        f"127-0-0-1-2.{SERVICE}": 9103,
    }


def test_a_records_for_targets_and_the_service_and_nxdomain_otherwise(script) -> None:
    dns = script.HeadlessServiceDns([9101], addresses=["127.0.7.1", "127.0.7.2"])
    try:
        _, rcode, target = parse(dns.answer(query(f"127-0-0-1-0.{SERVICE}", 1)))
        assert rcode == 0 and [socket.inet_ntoa(rdata) for *_, rdata in target] == ["127.0.0.1"]
        _, rcode, service = parse(dns.answer(query(SERVICE, 1)))
        assert rcode == 0 and [socket.inet_ntoa(rdata) for *_, rdata in service] == ["127.0.7.1", "127.0.7.2"]
        _, rcode, unknown = parse(dns.answer(query(f"other.{SERVICE}", 1)))
        assert rcode == 3 and unknown == []
    finally:
        dns.sock.close()
    assert dns.queries == [(f"127-0-0-1-0.{SERVICE}", 1), (SERVICE, 1), (f"other.{SERVICE}", 1)]


@pytest.mark.parametrize("version", ["1.22.1", "1.27.2"])
def test_the_script_refuses_an_nginx_without_resolve_and_checks_nothing(script, tmp_path, capsys, version) -> None:
    fake = tmp_path / "nginx"
    fake.write_text(f"#!/bin/sh\necho 'nginx version: nginx/{version}' >&2\n")
    fake.chmod(0o755)
    assert script.main(["--nginx", str(fake)]) == 2
    out, err = capsys.readouterr()
    assert f"nginx {version}" in err and ">= 1.27.3" in err
    assert "ok" not in out and "FAILED" not in out
