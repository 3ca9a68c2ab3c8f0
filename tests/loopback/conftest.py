"""Fixtures for the loopback tests: stub backends, a real nginx and a real vllm-router on 127.0.0.1.

nginx and vllm-router are real programs. Outside CI a missing one skips the tests that need it, with the reason;
under CI (``CI=true``) it fails them, because ``.ci/run`` must install both. Everything a fixture starts it stops
at teardown, by the handle it started.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from vllm_infra.balancing.nginx import UpstreamServer
from vllm_infra.balancing.router import KubernetesDiscovery, StaticWorkers

from .procs import (
    NginxProcess,
    RouterProcess,
    find_binary,
    in_ci,
    make_workdir,
    missing_message,
    start_nginx,
    start_router,
)
from .stub_backend import StubBackend

NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def require_binary(name: str, extra_paths: Sequence[str] = ()) -> str:
    """Path of a real program; skip without it, except under CI where its absence is a failure."""
    path = find_binary(name, extra_paths)
    if path is None:
        if in_ci():
            pytest.fail(missing_message(name), pytrace=False)
        pytest.skip(missing_message(name))
    return path


def servers_for(stubs: Sequence[StubBackend]) -> list[UpstreamServer]:
    """nginx upstream servers for stubs: their 127.0.0.1 address, no run-time resolution."""
    return [UpstreamServer(host="127.0.0.1", port=stub.port, resolve=False) for stub in stubs]


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """The nginx executable (PATH or /usr/sbin/nginx)."""
    return require_binary("nginx", NGINX_PATHS)


@pytest.fixture(scope="session")
def router_bin() -> str:
    """The ``vllm-router`` console script."""
    return require_binary("vllm-router")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A per-test directory under /tmp for configs, pid files, temp files and logs; removed afterwards."""
    path = make_workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_stubs() -> Iterator[Callable[..., list[StubBackend]]]:
    """``make_stubs(n, model=..., **stub_kwargs)`` starts n stubs on ephemeral 127.0.0.1 ports."""
    started: list[StubBackend] = []

    def factory(count: int, model: str = "stub-model", *, prefix: str = "stub", **kwargs: Any) -> list[StubBackend]:
        new = [StubBackend(model, name=f"{prefix}{len(started) + i}", **kwargs).start() for i in range(count)]
        started.extend(new)
        return new

    yield factory
    for stub in started:
        stub.stop()


@pytest.fixture
def nginx(nginx_bin: str, workdir: Path) -> Iterator[Callable[..., NginxProcess]]:
    """``nginx(servers, **options)`` renders the production config for ``servers`` and runs real nginx on it.

    Options are those of :func:`procs.start_nginx` (``api_key_check``, ``api_key``, ``conf_transform``, and any
    :class:`NginxSettings` field). Each call gets its own directory, so several can run side by side.
    """
    started: list[NginxProcess] = []

    def factory(servers: Sequence[UpstreamServer], **options: Any) -> NginxProcess:
        sub = workdir / f"nginx{len(started)}"
        sub.mkdir(mode=0o755)
        sub.chmod(0o755)
        proc = start_nginx(nginx_bin, sub, servers, **options)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()


@pytest.fixture
def router(router_bin: str, workdir: Path) -> Iterator[Callable[..., RouterProcess]]:
    """``router(workers, multi_model=False, env=None, **settings)`` runs real vllm-router with :func:`router_args`."""
    started: list[RouterProcess] = []

    def factory(
        workers: StaticWorkers | KubernetesDiscovery,
        *,
        multi_model: bool = False,
        env: dict[str, str] | None = None,
        **settings: Any,
    ) -> RouterProcess:
        proc = start_router(router_bin, workdir, workers, multi_model=multi_model, env=env, **settings)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()
