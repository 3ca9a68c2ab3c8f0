"""The engine flag table: what `extraArgs` may not repeat, and that every flag of the table exists in the pinned vLLM."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vllm_infra.config import EngineSpec

# Flags the library sets (or deliberately leaves to the environment); written by hand, not read from the table.
TYPED_FLAGS = {
    "--model": "models[].model",
    "--host": "(set by the library)",
    "--port": "(set by the library)",
    "--served-model-name": "models[].servedModelName",
    "--revision": "models[].revision",
    "--download-dir": "models[].cache",
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
}


@pytest.mark.parametrize(("flag", "setting"), sorted(TYPED_FLAGS.items()))
@pytest.mark.parametrize("spelling", ["{flag}=1", "{flag}"])
def test_extra_args_may_not_repeat_a_typed_setting(flag, setting, spelling):
    with pytest.raises(ValidationError) as raised:
        EngineSpec.model_validate({"extraArgs": [spelling.format(flag=flag)]})
    assert f"{flag} is a typed setting: use {setting} instead of extraArgs" in str(raised.value)
