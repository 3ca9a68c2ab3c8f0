"""The engine flag table: what `extraArgs` may not repeat, and that every flag of the table exists in the pinned
vLLM."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from tests.plans import PROJECT_DIR
from vllm_infra import vllm_release
from vllm_infra.config import EngineSpec, ModelSpec
from vllm_infra.config.engine_flags import ENGINE_FLAGS, ServeInputs, rendered_flags, serve_args

# Flags the library sets (or deliberately leaves to the environment); written by hand, not read from the table.
TYPED_FLAGS = {
    "--model": "models[].model",
    "--host": "(set by the library)",
    "--port": "(set by the library)",
    "--served-model-name": "models[].servedModelName",
    "--revision": "models[].revision",
    "--download-dir": "models[].cache",
    "--disable-log-stats": "observability",
    "--tensor-parallel-size": "engine.tensorParallelSize",
    "--max-model-len": "engine.maxModelLen",
    "--gpu-memory-utilization": "engine.gpuMemoryUtilization",
    "--max-num-seqs": "engine.maxNumSeqs",
    "--max-num-batched-tokens": "engine.maxNumBatchedTokens",
    "--enable-prefix-caching": "engine.enablePrefixCaching",
    "--no-enable-prefix-caching": "engine.enablePrefixCaching",
    "--enable-chunked-prefill": "engine.enableChunkedPrefill",
    "--no-enable-chunked-prefill": "engine.enableChunkedPrefill",
    "--quantization": "engine.quantization",
    "--dtype": "engine.dtype",
    "--kv-cache-dtype": "engine.kvCacheDtype",
    "--trust-remote-code": "engine.trustRemoteCode",
    "--otlp-traces-endpoint": "engine.otlpTracesEndpoint",
    "--enable-log-requests": "engine.enableLogRequests",
    "--shutdown-timeout": "lifecycle.drainSeconds",
    # The other spellings vLLM accepts for the same booleans (EnableDisableAction / BooleanOptionalAction): the last
    # one on the command line wins, so in extraArgs they would silently override the typed setting.
    "--disable-prefix-caching": "engine.enablePrefixCaching",
    "--disable-chunked-prefill": "engine.enableChunkedPrefill",
    "--no-trust-remote-code": "engine.trustRemoteCode",
    "--disable-log-requests": "engine.enableLogRequests",
    "--no-enable-log-requests": "engine.enableLogRequests",
}


# Flags the library never writes and extraArgs may not carry.
RESERVED = {"--download-dir", "--disable-log-stats"}


@pytest.mark.parametrize(("flag", "setting"), sorted(TYPED_FLAGS.items()))
@pytest.mark.parametrize("spelling", ["{flag}=1", "{flag}"])
def test_extra_args_may_not_repeat_a_typed_setting(flag, setting, spelling):
    with pytest.raises(ValidationError) as raised:
        EngineSpec.model_validate({"extraArgs": [spelling.format(flag=flag)]})
    if flag in RESERVED:
        # Never written by the library either: the message says why instead of naming a setting.
        assert f"{flag} cannot be set: " in str(raised.value) and "remove it from extraArgs" in str(raised.value)
    else:
        assert f"{flag} is a typed setting: use {setting} instead of extraArgs" in str(raised.value)


def test_every_flag_of_the_table_exists_in_the_pinned_release():
    spellings = {s for row in ENGINE_FLAGS for s in [*row.owned_spellings(), *row.written_spellings()]}
    unknown = sorted(s for s in spellings if s not in vllm_release.known_flags())
    assert not unknown, f"not flags of vLLM {vllm_release.VLLM_VERSION}: {unknown}"


def test_the_table_lists_each_flag_once():
    flags = [row.flag for row in ENGINE_FLAGS]
    assert len(flags) == len(set(flags))


def test_every_engine_setting_has_exactly_one_row_and_every_row_a_setting():
    """A new EngineSpec field without a flag row (or a row for a removed field) fails here."""
    fields = {f"engine.{info.alias}" for name, info in EngineSpec.model_fields.items() if name != "extra_args"}
    rows = [row.setting for row in ENGINE_FLAGS if row.setting.startswith("engine.")]
    assert sorted(rows) == sorted(fields)


def test_rendered_flags_are_the_ones_serve_args_can_write():
    assert list(rendered_flags()) == [
        "--host", "--port", "--served-model-name", "--tensor-parallel-size", "--gpu-memory-utilization",
        "--max-num-seqs", "--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
        "--no-enable-chunked-prefill", "--dtype", "--kv-cache-dtype", "--shutdown-timeout", "--revision",
        "--max-model-len", "--max-num-batched-tokens", "--quantization", "--trust-remote-code",
        "--otlp-traces-endpoint", "--enable-log-requests",
    ]  # fmt: skip


def test_reserved_and_positional_flags_are_never_written():
    model = ModelSpec.model_validate({"name": "m", "model": "org/m", "weightsGib": 10})
    args = serve_args(ServeInputs(model, tensor_parallel_size=1))
    assert args[0] == "org/m"
    assert "--model" not in args and "--download-dir" not in args and "--disable-log-stats" not in args


@pytest.mark.parametrize("extra", [["--disable-log-stats"], ["--disable-log-stats=true"]])
def test_extra_args_cannot_switch_off_the_metrics_everything_reads(extra):
    # vLLM 0.33.0 publishes no vllm:* series without log stats: the HPA, the alerts and the dashboard would go blind.
    with pytest.raises(ValueError) as raised:
        ModelSpec.model_validate({"name": "m", "model": "org/m", "weightsGib": 10, "engine": {"extraArgs": extra}})
    message = str(raised.value)
    assert "--disable-log-stats cannot be set" in message and "vllm:num_requests_running" in message
    assert "autoscaler" in message


README_ROWS = {
    match.group(1): match.group(0)
    for match in re.finditer(r"^\| `models\[\]\.([\w.]+)` \|.*$", (PROJECT_DIR / "README.md").read_text(), re.MULTILINE)
}


@pytest.mark.parametrize(
    "row", [row for row in ENGINE_FLAGS if row.setting.startswith(("engine.", "lifecycle."))], ids=lambda row: row.flag
)
def test_the_readme_config_reference_names_the_flags_of_each_engine_setting(row):
    readme_row = README_ROWS.get(row.setting)
    assert readme_row is not None, f"README.md has no `models[].{row.setting}` row"
    missing = [spelling for spelling in row.written_spellings() if f"`{spelling}`" not in readme_row]
    assert not missing, f"the `models[].{row.setting}` row of README.md does not name {missing}"


def test_every_engine_row_of_the_readme_is_a_setting_of_the_table():
    settings = {row.setting for row in ENGINE_FLAGS}
    documented = {key for key in README_ROWS if key.startswith("engine.") and key != "engine.extraArgs"}
    assert documented <= settings, sorted(documented - settings)
