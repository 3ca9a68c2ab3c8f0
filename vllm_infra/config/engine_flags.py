"""The one table of ``vllm serve`` flags the library owns: which setting writes each flag and how its value renders.

Everything else about engine flags is generated from :data:`ENGINE_FLAGS`:

* the vLLM container args (:func:`serve_args`, behind ``vllm_infra.components.vllm.vllm_serve_args``);
* the flags ``engine.extraArgs`` may not repeat (:func:`owned_flags`, ``vllm_infra.config.engine.OWNED_FLAGS``),
  each mapped to the setting to use instead;
* what the tests check against the pinned release (every spelling in the table exists in
  ``vllm_infra/data/vllm_surface_0.33.0.json``) and against the README's ``models[].engine.*`` rows.

Adding a typed engine setting is one field on ``EngineSpec`` plus one row here (a test fails until both exist).

Example::

    EngineFlag("--max-num-seqs", "engine.maxNumSeqs", Render.VALUE, "model.engine.max_num_seqs")
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vllm_infra import vllm_release

if TYPE_CHECKING:
    from vllm_infra.config.model import ModelSpec

__all__ = ["ENGINE_FLAGS", "EngineFlag", "Render", "ServeInputs", "owned_flags", "rendered_flags", "serve_args"]

#: vLLM listens on every address of the pod; the Service and NetworkPolicies decide who reaches it.
LISTEN_HOST = "0.0.0.0"


class Render(enum.Enum):
    """How a table row turns its value into command-line words."""

    #: The value alone, as the positional argument (``vllm serve org/model``); ``--model`` is then never written.
    POSITIONAL = "positional"
    #: ``--flag VALUE``; nothing when the value is None.
    VALUE = "value"
    #: ``--enable-x`` when true, ``--no-enable-x`` when false: both states are written so the pod spec says what runs.
    BOOL_PAIR = "bool-pair"
    #: ``--x`` when true, nothing when false (vLLM's default is false).
    SWITCH = "switch"
    #: Never written: the library provides it another way (e.g. the environment); ``extraArgs`` may not set it.
    RESERVED = "reserved"


@dataclass(frozen=True)
class ServeInputs:
    """What the args are rendered from: the model's settings and the values resolved outside the config.

    - ``model``: the validated ``ModelSpec``.
    - ``tensor_parallel_size``: the resolved size (``GpuPlacement.tensor_parallel_size``), never ``"auto"``.
    - ``port``: the container port vLLM listens on.
    """

    model: ModelSpec
    tensor_parallel_size: int
    port: int = vllm_release.VLLM_PORT
    host: str = LISTEN_HOST


def _general(value: float) -> str:
    # "0.9", not "0.90" or "0.9000000000000001": the shortest form, as the pod spec has always shown it.
    return f"{value:g}"


@dataclass(frozen=True)
class EngineFlag:
    """One ``vllm serve`` flag the library owns.

    - ``flag``: the canonical spelling (for ``BOOL_PAIR`` the true one, ``--enable-x``).
    - ``setting``: what a user sets instead, as ``extraArgs`` errors name it (``engine.maxModelLen``).
    - ``render``: how the value becomes words (:class:`Render`).
    - ``source``: dotted attribute path into :class:`ServeInputs` (``model.engine.max_model_len``); None for
      ``RESERVED``.
    - ``format``: value to string for ``VALUE`` / ``POSITIONAL`` (``str`` unless said otherwise).
    - ``reason``: for ``RESERVED``, why ``extraArgs`` may not set it (the error message says so).
    """

    flag: str
    setting: str
    render: Render
    source: str | None = None
    format: Callable[[Any], str] = str
    reason: str | None = None

    @property
    def false_flag(self) -> str | None:
        """The spelling written when a ``BOOL_PAIR`` is false (``--no-enable-x``); None for other renders."""
        return self._negated() if self.render is Render.BOOL_PAIR else None

    def _negated(self) -> str:
        return "--no-" + self.flag.removeprefix("--")

    def value(self, inputs: ServeInputs) -> Any:
        """The row's value for ``inputs`` (the attribute at ``source``)."""
        assert self.source is not None, f"{self.flag} is reserved: it has no value"
        return operator.attrgetter(self.source)(inputs)

    def render_words(self, inputs: ServeInputs) -> list[str]:
        """The command-line words of this row for ``inputs`` (possibly none)."""
        if self.render is Render.RESERVED:
            return []
        value = self.value(inputs)
        if self.render is Render.POSITIONAL:
            return [self.format(value)]
        if self.render is Render.VALUE:
            return [] if value is None else [self.flag, self.format(value)]
        if self.render is Render.BOOL_PAIR:
            return [self.flag if value else self._negated()]
        return [self.flag] if value else []  # SWITCH

    def written_spellings(self) -> list[str]:
        """Every flag spelling this row can put on the command line."""
        if self.render in (Render.POSITIONAL, Render.RESERVED):
            return []
        return [self.flag, self._negated()] if self.render is Render.BOOL_PAIR else [self.flag]

    def owned_spellings(self) -> list[str]:
        """Every spelling ``extraArgs`` may not use because it would fight this row: the flag and, for a boolean, each
        negation vLLM accepts (argparse keeps the last occurrence, and extraArgs come last, so ``--disable-x`` there
        would silently override ``enableX``).

        vLLM 0.33.0 registers booleans with ``EnableDisableAction`` (``vllm/utils/argparse_utils.py``): ``--x`` also
        takes ``--no-x``, and ``--enable-x`` / ``--disable-x`` negate each other (see ``vllm_infra.vllm_release``).
        """
        if self.render not in (Render.BOOL_PAIR, Render.SWITCH):
            return [self.flag]
        name = self.flag.removeprefix("--")
        spellings = [self.flag, f"--no-{name}"]
        for prefix, opposite in (("enable-", "disable-"), ("disable-", "enable-")):
            if name.startswith(prefix):
                spellings.append(f"--{opposite}{name.removeprefix(prefix)}")
        return spellings


# Row order is the order of the args: keep it, or every existing pod spec shows a spurious change (and the plan
# diff reports moved flags). Rows that may render nothing come after the ones that always render.
ENGINE_FLAGS: tuple[EngineFlag, ...] = (
    EngineFlag("--model", "models[].model", Render.POSITIONAL, "model.model"),
    EngineFlag("--host", "(set by the library)", Render.VALUE, "host"),
    EngineFlag("--port", "(set by the library)", Render.VALUE, "port"),
    EngineFlag("--served-model-name", "models[].servedModelName", Render.VALUE, "model.served_name"),
    EngineFlag("--tensor-parallel-size", "engine.tensorParallelSize", Render.VALUE, "tensor_parallel_size"),
    EngineFlag(
        "--gpu-memory-utilization", "engine.gpuMemoryUtilization", Render.VALUE,
        "model.engine.gpu_memory_utilization", _general,
    ),
    EngineFlag("--max-num-seqs", "engine.maxNumSeqs", Render.VALUE, "model.engine.max_num_seqs"),
    EngineFlag(
        "--enable-prefix-caching", "engine.enablePrefixCaching", Render.BOOL_PAIR, "model.engine.enable_prefix_caching"
    ),
    EngineFlag(
        "--enable-chunked-prefill", "engine.enableChunkedPrefill", Render.BOOL_PAIR,
        "model.engine.enable_chunked_prefill",
    ),
    EngineFlag("--dtype", "engine.dtype", Render.VALUE, "model.engine.dtype"),
    EngineFlag("--kv-cache-dtype", "engine.kvCacheDtype", Render.VALUE, "model.engine.kv_cache_dtype"),
    EngineFlag("--shutdown-timeout", "lifecycle.drainSeconds", Render.VALUE, "model.lifecycle.drain_seconds"),
    EngineFlag("--revision", "models[].revision", Render.VALUE, "model.revision"),
    EngineFlag("--max-model-len", "engine.maxModelLen", Render.VALUE, "model.engine.max_model_len"),
    EngineFlag(
        "--max-num-batched-tokens", "engine.maxNumBatchedTokens", Render.VALUE, "model.engine.max_num_batched_tokens"
    ),
    EngineFlag("--quantization", "engine.quantization", Render.VALUE, "model.engine.quantization"),
    EngineFlag("--trust-remote-code", "engine.trustRemoteCode", Render.SWITCH, "model.engine.trust_remote_code"),
    EngineFlag(
        "--otlp-traces-endpoint", "engine.otlpTracesEndpoint", Render.VALUE, "model.engine.otlp_traces_endpoint"
    ),
    EngineFlag("--enable-log-requests", "engine.enableLogRequests", Render.SWITCH, "model.engine.enable_log_requests"),
    # Weights live in HF_HOME on the model cache volume (components/model_cache.py); a --download-dir elsewhere would
    # bypass the pre-warmed cache and, with HF_HUB_OFFLINE=1, fail to load.
    EngineFlag("--download-dir", "models[].cache", Render.RESERVED,
               reason="weights are served from the model cache (models[].cache), which HF_HOME points at"),
    # vLLM 0.33.0 adds its PrometheusStatLogger only when stats are logged (vllm/v1/engine/async_llm.py: no
    # StatLoggerManager without log_stats; vllm/v1/metrics/loggers.py): --disable-log-stats takes every vllm:* series
    # away from /metrics, and with it the autoscaler's signal, the SLO alerts and the dashboard.
    EngineFlag("--disable-log-stats", "observability", Render.RESERVED,
               reason="it removes vLLM's Prometheus metrics (vllm:num_requests_running and the rest), which the "
                      "autoscaler, the SLO alerts and the dashboard read"),
)  # fmt: skip


def serve_args(inputs: ServeInputs) -> list[str]:
    """The ``vllm serve`` args for ``inputs``: every row of :data:`ENGINE_FLAGS` in order, then ``engine.extraArgs``.

    >>> from vllm_infra.config import ModelSpec
    >>> serve_args(ServeInputs(ModelSpec(name="m", model="org/m", weights_gib=1), 1))[:3]
    ['org/m', '--host', '0.0.0.0']
    """
    args = [word for row in ENGINE_FLAGS for word in row.render_words(inputs)]
    return args + list(inputs.model.engine.extra_args)


def owned_flags() -> dict[str, str]:
    """Every flag spelling ``engine.extraArgs`` may not use, mapped to the setting to use instead.

    >>> owned_flags()["--max-model-len"]
    'engine.maxModelLen'
    """
    return {spelling: row.setting for row in ENGINE_FLAGS for spelling in row.owned_spellings()}


def reserved_reasons() -> dict[str, str]:
    """Flags ``engine.extraArgs`` may never carry, mapped to why.

    >>> sorted(reserved_reasons())
    ['--disable-log-stats', '--download-dir']
    """
    return {row.flag: row.reason or f"the library owns it ({row.setting})" for row in ENGINE_FLAGS
            if row.render is Render.RESERVED}  # fmt: skip


def rendered_flags() -> Iterator[str]:
    """Every flag spelling :func:`serve_args` can write (besides ``extraArgs``), in table order."""
    for row in ENGINE_FLAGS:
        yield from row.written_spellings()
