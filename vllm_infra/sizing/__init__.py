"""GPU right-sizing for vLLM on AWS: which instance, how much tensor parallelism, what fits.

Turns the production advice "match the GPU to the model size, quantize to fit, use tensor
parallelism for large models" into arithmetic over two packaged catalogs (AWS GPU instance
types with prices, and popular models' architectures).

Typical use:
    >>> from vllm_infra.sizing import size_model, check_pinned, render_text, lookup_model
    >>> result = size_model(lookup_model("meta-llama/Llama-3.1-8B-Instruct"), max_model_len=8192)
    >>> result.choice.instance_type
    'g6.xlarge'
    >>> check_pinned("meta-llama/Llama-3.1-8B-Instruct", "g5.xlarge", 1, max_model_len=8192).fits
    True

All memory sizes are GiB (2**30 bytes); prices are USD/hour, on-demand, Linux, us-east-1.
"""

from vllm_infra.sizing.catalog import (
    GpuInstanceType,
    ModelArchitecture,
    UnknownCatalogEntryError,
    catalog_metadata,
    gpu_instances,
    lookup_instance_type,
    lookup_model,
    model_catalog,
)
from vllm_infra.sizing.memory import (
    GIB,
    MemoryBreakdown,
    bytes_per_parameter,
    compute_memory_breakdown,
    kv_cache_bytes_per_token,
    weight_bytes,
)
from vllm_infra.sizing.node_capacity import NodeAllocatable, ReplicaShare, node_allocatable, replica_share
from vllm_infra.sizing.quota import NodeGroupDemand, QuotaNeed, gpu_quota_needs
from vllm_infra.sizing.report import render_json, render_text
from vllm_infra.sizing.sizer import (
    FamilyRejection,
    InfeasibleSizing,
    SizingOption,
    SizingResult,
    check_pinned,
    size_model,
    valid_tensor_parallel_sizes,
)

__all__ = [
    "GIB",
    "FamilyRejection",
    "GpuInstanceType",
    "InfeasibleSizing",
    "MemoryBreakdown",
    "ModelArchitecture",
    "NodeAllocatable",
    "NodeGroupDemand",
    "QuotaNeed",
    "ReplicaShare",
    "SizingOption",
    "SizingResult",
    "UnknownCatalogEntryError",
    "bytes_per_parameter",
    "catalog_metadata",
    "check_pinned",
    "compute_memory_breakdown",
    "gpu_instances",
    "gpu_quota_needs",
    "kv_cache_bytes_per_token",
    "lookup_instance_type",
    "lookup_model",
    "model_catalog",
    "node_allocatable",
    "render_json",
    "render_text",
    "replica_share",
    "size_model",
    "valid_tensor_parallel_sizes",
    "weight_bytes",
]
