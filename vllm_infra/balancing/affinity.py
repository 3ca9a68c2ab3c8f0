"""Session affinity with a load cap, as nginx configuration: the settings of the ``affinity`` balancer strategy and
the lines it adds to the generated ``nginx.conf`` (:func:`affinity_extension`).

Each request gets an **affinity key**: the session header (``X-Session-Id`` by default), else the OpenAI ``user`` field
of the JSON body, else the **conversation** (the first characters of the body's first user message: chat clients resend
the whole history every turn, so it is the same in every turn of a conversation and differs between conversations, and
clients behind one address or NAT still spread), else the client address (behind the project's NLB, which preserves
client addresses, or behind an ALB through ``real_ip_from``, that is the real client). The body keys need the body in
memory: one larger than ``client_body_buffer_size`` (plus the quarter nginx may add when the length is known) is spooled
to a file, ``$request_body`` is empty, and the request falls through to the client address; so a conversation whose
history outgrows the buffer moves once, to its address's pod. nginx's ``hash <key> consistent`` sends a key to the same
pod every time, so a conversation's growing prefix stays in one pod's prefix cache; adding or removing a pod moves only
the keys on its part of the ring.

**Load cap.** Every pod has ``max_conns`` (requests in flight from this nginx pod; the upstream ``zone`` shares the
count between the nginx workers). A pod at its cap is skipped and the key spills to the next pod on the ring
(``ngx_http_upstream_get_chash_peer``: a pod at ``max_conns`` is passed over like a failed one; after 20 ring
points nginx falls back to round robin among the pods under their cap). When *every* pod is at its cap, nginx
answers 502 "no live upstreams" before anything reached the client; ``error_page 502`` then hands the request to
a named location that proxies to the ordinary ``least_conn`` upstream **without caps** (``fallback: least_conn``,
the request waits in vLLM's queue as it would without affinity) or answers 503 with ``Retry-After``
(``fallback: reject``). nginx reads the whole body first (``proxy_request_buffering on``), so the fallback sends
the same request; nginx applies ``error_page`` only while no response has started, so a stream that began is
never replayed.

**Pods as ring members.** With ``resolve``, every address nginx resolves from one ``server`` name carries that
name, and nginx builds the consistent-hash ring from names, so a plain ``server <headless> resolve`` is one ring
member and the hash degenerates into weighted round robin over the pods (``ngx_http_upstream_update_chash`` hashes
``peer->server``, which the zone module sets to the template's name for A records). The upstream therefore asks
for the headless Service's SRV records (``service=http``: ``_http._tcp.<service>``, the named port): each pod is its
own SRV target (``<pod-ip-dashed>.<service>.<namespace>.svc.cluster.local``), so each pod is a ring member, and
every nginx replica builds the same ring from the same names, whatever order DNS answers in.

Every directive used is in open-source nginx at the version the image pins (``NGINX_IMAGE``, 1.29.8): ``hash ...
consistent`` and ``max_conns`` (ngx_http_upstream_hash_module, ngx_http_upstream), ``resolve`` and ``service=``
(open source since 1.27.3), ``map`` with regular expressions and named captures, ``$request_body`` (available
once the body is read into memory, which is before an upstream is chosen), ``error_page`` to a named location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from vllm_infra.balancing.nginx import NginxConfExtension, NginxSettings, UpstreamServer

__all__ = [
    "FIRST_MESSAGE_KEY_CHARS",
    "SRV_PORT_NAME",
    "AffinitySettings",
    "affinity_extension",
    "affinity_upstream_name",
    "load_cap",
]

# The headless Service's port name; its SRV records are _http._tcp.<service>.<namespace>.svc.cluster.local.
SRV_PORT_NAME = "http"
# An HTTP header name nginx can turn into $http_<name>: a token of letters, digits and '-' (RFC 9110 allows more,
# but '_' and others are dropped or ambiguous in nginx's variable names).
_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
# The OpenAI `user` field of a JSON body (a string without quotes or backslashes, at most 256 characters). A key
# needs `"user"` directly followed by ':' ; inside a JSON string a quote is escaped, so message text cannot match.
_USER_FIELD_REGEX = r'"user"\s*:\s*"(?<vllm_user>[^"\\\\]{1,256})"'
# The first user message of a chat body, as nginx.conf text (nginx's parser turns each `\\` of a quoted string into
# one backslash, so _JSON_CHAR reaches PCRE as `(?:[^"\\]|\\.)`: one character of a JSON string). Chat clients resend
# the whole history every turn, so the first user message is the same in every turn of a conversation and differs
# between conversations. The body's leftmost `{` that opens a user message wins, whether `role` or `content` comes
# first (a branch reset: both branches set `vllm_first`). The key is the first FIRST_MESSAGE_KEY_CHARS characters of
# the content as JSON-escaped text. Possessive quantifiers keep the match linear in the body size: nginx runs it on
# every body up to client_body_buffer_size. Content given as a list of parts (`[{"type":"text",...}]`) does not match.
FIRST_MESSAGE_KEY_CHARS = 256
_JSON_CHAR = r'(?:[^"\\\\]|\\\\.)'
_FIRST_MESSAGE_REGEX = (
    r'\{\s*(?|"role"\s*:\s*"user"\s*,\s*"content"\s*:\s*"'
    rf"(?<vllm_first>{_JSON_CHAR}{{1,{FIRST_MESSAGE_KEY_CHARS}}}+)"
    r'|"content"\s*:\s*"'
    rf"(?<vllm_first>{_JSON_CHAR}{{1,{FIRST_MESSAGE_KEY_CHARS}}}+){_JSON_CHAR}*+"
    r'"\s*,\s*"role"\s*:\s*"user")'
)


class AffinitySettings(BaseModel):
    """Tunables of the ``affinity`` strategy (``vllm-infra:balancer.affinity``); the generated ``nginx.conf`` is the
    ``nginx`` strategy's (``balancer.nginx`` applies) plus a capped consistent-hash upstream in front of it.

    Example::

        balancer:
          strategy: affinity
          affinity:
            sessionHeader: X-Session-Id
            firstMessageKey: true        # keyless chats: the first user message
            maxInFlightPerPod: auto      # ceil(engine.maxNumSeqs / balancer.replicas)
            fallback: least_conn
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )

    session_header: str | None = Field(
        default="X-Session-Id",
        description=(
            "Request header whose value keys the affinity (one conversation or user per value); None = no header. "
            "Letters, digits and '-'."
        ),
    )
    body_user_field: bool = Field(
        default=True,
        description=(
            "Without the header, key on the OpenAI `user` field of the JSON body (bodies up to "
            "nginx.clientBodyBufferSizeKb, which nginx holds in memory)."
        ),
    )
    first_message_key: bool = Field(
        default=True,
        description=(
            "Without header and `user`, key on the conversation: the first "
            f"{FIRST_MESSAGE_KEY_CHARS} characters of the first user message of a chat body, which clients resend "
            "unchanged every turn (so one NLB address does not put every conversation on one pod). Bodies larger "
            "than nginx.clientBodyBufferSizeKb are not in memory and fall through to the client address."
        ),
    )
    client_address_fallback: bool = Field(
        default=True,
        description=(
            "Without header and `user`, key on the client address (the NLB preserves it); false = spread such "
            "requests round robin."
        ),
    )
    max_in_flight_per_pod: int | Literal["auto"] = Field(
        default="auto",
        description=(
            "Requests in flight one nginx pod sends one vLLM pod before its keys spill to the next pod on the ring; "
            "'auto' = ceil(engine.maxNumSeqs / balancer.replicas), so the balancer pods together fill a pod's batch "
            "before spilling."
        ),
    )
    fallback: Literal["least_conn", "reject"] = Field(
        default="least_conn",
        description=(
            "When every pod is at its cap: least_conn = the least-loaded pod, uncapped (the request queues in vLLM); "
            "reject = 503 with Retry-After."
        ),
    )

    @field_validator("session_header")
    @classmethod
    def _valid_header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER.match(value):
            raise ValueError(
                f"{value!r} is not a header name nginx can read: use letters, digits and '-' starting with a letter "
                "(e.g. X-Session-Id), or null for no header"
            )
        return value

    @field_validator("max_in_flight_per_pod")
    @classmethod
    def _valid_cap(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 4096:
            raise ValueError(f"got {value}; use 1..4096 requests, or 'auto' (engine.maxNumSeqs / balancer.replicas)")
        return value


def load_cap(settings: AffinitySettings, *, max_num_seqs: int, replicas: int) -> int:
    """The ``max_conns`` of each pod in one nginx pod's affinity upstream.

    Each nginx pod counts only its own requests (the ``zone`` is shared by its workers, not between pods), so with
    ``replicas`` balancer pods fed evenly by the NLB a vLLM pod sees about ``replicas x cap`` requests from affinity
    routing. ``auto`` makes that the engine's batch, ``max_num_seqs``: a pod is filled to what it runs at once, and
    only then do its keys spill.

    >>> load_cap(AffinitySettings(), max_num_seqs=256, replicas=2)
    128
    >>> load_cap(AffinitySettings(max_in_flight_per_pod=8), max_num_seqs=256, replicas=2)
    8
    """
    if settings.max_in_flight_per_pod != "auto":
        return settings.max_in_flight_per_pod
    return max(1, math.ceil(max_num_seqs / max(1, replicas)))


def affinity_upstream_name(nginx: NginxSettings) -> str:
    """The capped upstream's name: the nginx upstream's name with ``_affinity``."""
    return f"{nginx.upstream_name}_affinity"


def _key_maps(settings: AffinitySettings) -> list[str]:
    """The ``map`` blocks defining ``$vllm_affinity_key``: the header, else the body's ``user``, else the first user
    message, else the address. Each map falls through to the next choice on an empty value, so a body nginx spooled
    to a file (``$request_body`` empty) is keyed by the address."""
    last = "$remote_addr" if settings.client_address_fallback else '""'
    lines: list[str] = []
    if settings.first_message_key:
        lines += [
            "    # The conversation: the start of the first user message, which every turn resends unchanged.",
            "    map $request_body $vllm_affinity_first_message {",
            '        default "";',
            f"        '~{_FIRST_MESSAGE_REGEX}' $vllm_first;",
            "    }",
            "    map $vllm_affinity_first_message $vllm_affinity_conversation_key {",
            f'        "" {last};',
            "        default $vllm_affinity_first_message;",
            "    }",
        ]
        last = "$vllm_affinity_conversation_key"
    if settings.body_user_field:
        lines += [
            "    # The OpenAI `user` field of the body; $request_body is set once nginx holds the whole body in",
            "    # memory, which is before it picks a pod (proxy_request_buffering on).",
            "    map $request_body $vllm_affinity_user {",
            '        default "";',
            f"        '~{_USER_FIELD_REGEX}' $vllm_user;",
            "    }",
            "    map $vllm_affinity_user $vllm_affinity_body_key {",
            f'        "" {last};',
            "        default $vllm_affinity_user;",
            "    }",
        ]
        last = "$vllm_affinity_body_key"
    if settings.session_header is not None:
        variable = "$http_" + settings.session_header.lower().replace("-", "_")
        lines += [
            f"    # The affinity key: the {settings.session_header} header, else the next choice.",
            f"    map {variable} $vllm_affinity_key {{",
            f'        "" {last};',
            f"        default {variable};",
            "    }",
        ]
    else:
        lines += [
            "    # The affinity key (no session header configured).",
            "    map $host $vllm_affinity_key {",
            f"        default {last};",
            "    }",
        ]
    return lines


def affinity_extension(
    settings: AffinitySettings,
    nginx: NginxSettings,
    servers: Sequence[UpstreamServer],
    *,
    cap: int,
) -> NginxConfExtension:
    """The lines the ``affinity`` strategy adds to ``render_nginx_conf``'s output for ``servers`` (Kubernetes: the
    headless Service with ``resolve=True``, written as its SRV records; loopback: one ``127.0.0.1:PORT`` each).

    The front door proxies to the capped consistent-hash upstream; the ordinary upstream (``least_conn``, no caps)
    still serves ``/health``, the model probe and the fallback.

    >>> ext = affinity_extension(AffinitySettings(), NginxSettings(), [UpstreamServer(host="127.0.0.1", port=9001)],
    ...                          cap=4)
    >>> ext.front_door_lines
    ('            error_page 502 = @vllm_affinity_fallback;', '            proxy_pass http://vllm_backends_affinity;')
    """
    if not servers:
        raise ValueError("at least one upstream server is required")
    if not 1 <= cap <= 4096:
        raise ValueError(f"cap must be 1..4096, got {cap}")
    name = affinity_upstream_name(nginx)
    http = _key_maps(settings)
    http += [
        "",
        "    # Consistent hashing on the affinity key with a per-pod cap: a pod at max_conns is skipped and the key",
        "    # spills to the next pod on the ring. One ring member per pod, the same ring in every nginx replica.",
        f"    upstream {name} {{",
        f"        zone {name} {nginx.zone_size_kb}k;",
        "        hash $vllm_affinity_key consistent;",
    ]
    for server in servers:
        # SRV records: one named target per pod (see the module docstring); the port comes from the record.
        address = f"{server.host} service={SRV_PORT_NAME} resolve" if server.resolve else server.address()
        http.append(
            f"        server {address} max_conns={cap} max_fails={nginx.max_fails} "
            f"fail_timeout={nginx.fail_timeout_s}s;"
        )
    http += [
        f"        keepalive {nginx.keepalive};",
        f"        keepalive_timeout {nginx.keepalive_timeout_s}s;",
        f"        keepalive_requests {nginx.keepalive_requests};",
        "    }",
        "",
    ]
    front_door = (
        "            error_page 502 = @vllm_affinity_fallback;",
        f"            proxy_pass http://{name};",
    )
    server_lines = [
        "",
        "        # Every pod at its cap (nginx's 502 before any byte reached the client), or every pod failing.",
    ]
    if settings.fallback == "least_conn":
        server_lines += [
            "        # The least-loaded pod, uncapped: the request queues in vLLM as it would without affinity.",
            "        location @vllm_affinity_fallback {",
            "            add_header X-Accel-Buffering no always;",
            f"            proxy_pass http://{nginx.upstream_name};",
            "        }",
        ]
    else:
        server_lines += [
            "        location @vllm_affinity_fallback {",
            "            default_type application/json;",
            "            add_header Retry-After 1 always;",
            (
                '            return 503 \'{"error":{"message":"Every model server is at its load cap; retry '
                'shortly","type":"server_error","code":"overloaded"}}\';'
            ),
            "        }",
        ]
    return NginxConfExtension(http_lines=tuple(http), front_door_lines=front_door, server_lines=tuple(server_lines))
