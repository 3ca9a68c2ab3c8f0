"""Every Prometheus metric the vLLM server process can register, with its type, read statically from the wheel.

:class:`MetricExtractor` scans each ``vllm/**.py`` that constructs a ``prometheus_client`` Counter / Gauge /
Histogram -- directly, through vLLM's ``_counter_cls`` / ``_gauge_cls`` / ``_histogram_cls`` indirection, or
through the KV-offload ``Offloading*Metadata`` definitions -- and resolves each name with :mod:`.string_eval`.
Names are keyed as ``prometheus_client`` exposes them: a Counter registered as ``vllm:x`` or ``vllm:x_total`` is
``vllm:x_total``. As a completeness check, every quoted ``"vllm:<name>"`` string in the wheel must be one of the
series found (or on the reviewed list below). Example::

    MetricExtractor(Wheel(path)).run()  # {"vllm:kv_cache_usage_perc": "gauge", ...}
"""

from __future__ import annotations

import ast
import re

from tools.vllm_surface.errors import Unresolvable, fail, where
from tools.vllm_surface.sources import Module, Wheel, class_attribute
from tools.vllm_surface.string_eval import StringEval

# --------------------------------------------------------------------------
# Reviewed exceptions. Each entry was read by a person; the extraction fails if
# an entry no longer matches anything, so the list cannot silently rot.
# --------------------------------------------------------------------------

#: Metric constructor call sites whose name is a parameter (pass-through
#: helpers). Keyed by (wheel path, enclosing function name).
PASS_THROUGH_METRIC_SITES: dict[tuple[str, str], str] = {
    (
        "vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py",
        "_create_metric",
    ): "builds the metrics described by the Offloading*Metadata definitions, which are collected separately",
}

#: Offloading*Metadata definitions whose names come from a package that is not
#: part of the wheel. Keyed by (wheel path, enclosing function name).
EXTERNAL_METADATA_SITES: dict[tuple[str, str], str] = {
    (
        "vllm/v1/kv_offload/tiering/kvcr/manager.py",
        "_kvcr_metric_definitions",
    ): "names are constants of the optional external `kvcr` package",
}

#: ``vllm:`` string constants that are not metric names of their own.
NON_METRIC_VLLM_STRINGS: dict[str, str] = {
    "vllm:spec_decode": "prefix test on /metrics lines in vllm/benchmarks/serve.py",
    "vllm:diffusion": "prefix test on /metrics lines in vllm/benchmarks/serve.py",
}

#: Files that must each register metrics in a healthy extraction.
EXPECTED_METRIC_SOURCES = ("vllm/v1/metrics/loggers.py", "vllm/v1/spec_decode/metrics.py")

PROM_TYPES = {
    "Counter": "counter",
    "Gauge": "gauge",
    "Histogram": "histogram",
    "Summary": "summary",
    "Info": "info",
    "Enum": "enum",
}
#: vLLM's convention: metric classes are looked up through these attributes so
#: that the Ray stat logger can swap in wrappers. Checked against
#: PrometheusStatLogger below.
CLS_ATTRS = {"_counter_cls": "counter", "_gauge_cls": "gauge", "_histogram_cls": "histogram"}
METADATA_TYPES = {
    "OffloadingCounterMetadata": "counter",
    "OffloadingGaugeMetadata": "gauge",
    "OffloadingHistogramMetadata": "histogram",
}
#: a whole quoted string constant that looks like a vLLM metric name
VLLM_STRING_RE = re.compile(r"[\"'](vllm:[A-Za-z_][A-Za-z0-9_]*)[\"']")


class MetricExtractor:
    """Collects the metrics of a wheel: ``run`` returns exposed name -> type; ``metrics``/``origin`` keep the
    registered names."""

    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self.sev = StringEval(wheel)
        self.metrics: dict[str, str] = {}  # registered name -> type
        self.origin: dict[str, str] = {}
        self.used_pass_through: set[tuple[str, str]] = set()
        self.used_external: set[tuple[str, str]] = set()
        self.vllm_strings: dict[str, str] = {}

    def run(self) -> dict[str, str]:
        """Scan the whole wheel and return the exposed metric names and types; fails on anything not understood."""
        self.check_convention()
        for path in self.wheel.py_files():
            text = self.wheel.text(path)
            if "vllm:" in text:
                for m in VLLM_STRING_RE.finditer(text):
                    self.vllm_strings.setdefault(m.group(1), path)
            markers = ("prometheus_client", *CLS_ATTRS, *(m + "(" for m in METADATA_TYPES))
            if not any(k in text for k in markers):
                continue
            self.scan(self.wheel.module_at(path, record=False))
        for key in PASS_THROUGH_METRIC_SITES:
            if key not in self.used_pass_through:
                fail(f"reviewed pass-through metric site {key} no longer exists; review the allowlist")
        for key in EXTERNAL_METADATA_SITES:
            if key not in self.used_external:
                fail(f"reviewed external metric site {key} no longer exists; review the allowlist")
        if len(self.metrics) < 30:
            fail(f"only {len(self.metrics)} metrics found")
        for path in EXPECTED_METRIC_SOURCES:
            if not any(o.startswith(path + ":") for o in self.origin.values()):
                fail(f"{path}: registered no metric")
        exposed = self.exposed()
        self.check_completeness(exposed)
        return exposed

    def check_convention(self) -> None:
        """Fail unless the metadata classes and ``PrometheusStatLogger._*_cls`` attributes are the ones this tool
        maps."""
        # KV-offload metrics are declared as {name: Offloading<Type>Metadata(...)}:
        # the metadata classes must be exactly the ones this script maps to types.
        base = self.wheel.module("vllm.v1.kv_offload.base")
        declared = set()
        for node in base.tree.body:
            if isinstance(node, ast.ClassDef) and "OffloadingMetricMetadata" in {ast.unparse(b) for b in node.bases}:
                declared.add(node.name)
        if declared != set(METADATA_TYPES):
            fail(
                f"vllm/v1/kv_offload/base.py: metric metadata classes are {sorted(declared)}, "
                f"this script knows {sorted(METADATA_TYPES)}"
            )
        mod = self.wheel.module("vllm.v1.metrics.loggers")
        cls = mod.resolve("PrometheusStatLogger")
        if cls.kind != "class":
            fail("loggers.py: PrometheusStatLogger not found")
        for attr, kind in CLS_ATTRS.items():
            b = class_attribute(cls, attr)
            if b is None or b.node is None:
                fail(f"PrometheusStatLogger.{attr} not found")
            assert b is not None and b.node is not None and b.mod is not None
            q = b.mod.qualify(b.node).qualname  # type: ignore[arg-type]
            if PROM_TYPES.get(q.rsplit(".", 1)[-1]) != kind or not q.startswith("prometheus_client"):
                fail(f"PrometheusStatLogger.{attr} is {q}, expected a prometheus_client {kind}")

    def add(self, name: str, kind: str, origin: str) -> None:
        """Record metric ``name`` of ``kind``; fails on an unsupported type or a name registered with two types."""
        if kind not in {"counter", "gauge", "histogram"}:
            fail(f"{origin}: metric {name} has unsupported type {kind}")
        if name in self.metrics and self.metrics[name] != kind:
            fail(f"metric {name} registered as {self.metrics[name]} ({self.origin[name]}) and {kind} ({origin})")
        self.metrics.setdefault(name, kind)
        self.origin.setdefault(name, origin)

    def scan(self, mod: Module) -> None:
        """Record every metric constructed or declared in ``mod``."""
        aliases: dict[str, str] = {}
        prom_modules: set[str] = set()
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "prometheus_client":
                for a in node.names:
                    if a.name in PROM_TYPES:
                        aliases[a.asname or a.name] = PROM_TYPES[a.name]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "prometheus_client":
                        prom_modules.add(a.asname or a.name)

        def ctor_kind(func: ast.expr) -> str | None:
            if isinstance(func, ast.Name) and func.id in aliases:
                return aliases[func.id]
            if isinstance(func, ast.Attribute):
                if isinstance(func.value, ast.Name) and func.value.id in prom_modules and func.attr in PROM_TYPES:
                    return PROM_TYPES[func.attr]
                if func.attr in CLS_ATTRS:
                    return CLS_ATTRS[func.attr]
            return None

        # every call, with its innermost enclosing function (one pass)
        calls: list[tuple[ast.Call, ast.FunctionDef | ast.AsyncFunctionDef | None]] = []

        def visit(node: ast.AST, fn: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, child)
                    continue
                if isinstance(child, ast.Call):
                    calls.append((child, fn))
                visit(child, fn)

        visit(mod.tree, None)
        # names bound to a metric class inside a function:
        #   metric_cls = self._counter_cls ... metric_cls(**kwargs)
        ctor_locals: dict[ast.AST, set[str]] = {}

        def local_ctors(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
            if fn not in ctor_locals:
                ctor_locals[fn] = {
                    t.id
                    for a in ast.walk(fn)
                    if isinstance(a, ast.Assign)
                    and isinstance(a.value, (ast.Name, ast.Attribute))
                    and ctor_kind(a.value)
                    for t in a.targets
                    if isinstance(t, ast.Name)
                }
            return ctor_locals[fn]

        contributed = False
        for node, fn in calls:
            fname = fn.name if fn is not None else "<module>"
            kind = ctor_kind(node.func)
            if kind is None and isinstance(node.func, ast.Name) and fn is not None and node.func.id in local_ctors(fn):
                kind = "dynamic"
            if kind is not None:
                if {k.arg for k in node.keywords} & {"namespace", "subsystem", "unit"}:
                    fail(f"{where(mod, node)}: namespace/subsystem/unit are not supported")
                name_expr = next((k.value for k in node.keywords if k.arg == "name"), None)
                if name_expr is None and node.args:
                    name_expr = node.args[0]
                try:
                    if name_expr is None or kind == "dynamic":
                        raise Unresolvable("name passed through **kwargs")
                    names = self.sev.eval(name_expr, mod, fn)
                except Unresolvable as e:
                    key = (mod.path, fname)
                    if key in PASS_THROUGH_METRIC_SITES:
                        self.used_pass_through.add(key)
                        continue
                    fail(f"{where(mod, node)}: cannot resolve the metric name ({e})")
                for n in names:
                    self.add(n, kind, where(mod, node))
                contributed = True
                continue
            if isinstance(node.func, ast.Name) and node.func.id in METADATA_TYPES:
                kind = METADATA_TYPES[node.func.id]
                parent = mod.parents.get(node)
                key_expr: ast.expr | None = None
                if isinstance(parent, ast.Dict):
                    idx = next(i for i, v in enumerate(parent.values) if v is node)
                    key_expr = parent.keys[idx]
                elif (
                    isinstance(parent, ast.Assign)
                    and len(parent.targets) == 1
                    and isinstance(parent.targets[0], ast.Subscript)
                ):
                    key_expr = parent.targets[0].slice
                if key_expr is None:
                    fail(f"{where(mod, node)}: {node.func.id}(...) outside a name -> definition mapping")
                assert key_expr is not None
                try:
                    names = self.sev.eval(key_expr, mod, fn)
                except Unresolvable as e:
                    key = (mod.path, fname)
                    if key in EXTERNAL_METADATA_SITES:
                        self.used_external.add(key)
                        continue
                    fail(f"{where(mod, node)}: cannot resolve the metric name ({e})")
                for n in names:
                    self.add(n, kind, where(mod, node))
                contributed = True
        if contributed:
            self.wheel.sources.add(mod.path)

    def exposed(self) -> dict[str, str]:
        """Registered names as scraped: counters as ``<base>_total``, others unchanged; fails on invalid names."""
        out: dict[str, str] = {}
        for name, kind in self.metrics.items():
            if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
                fail(f"{self.origin[name]}: invalid metric name {name!r}")
            if kind == "counter":
                # prometheus_client._build_full_name strips a trailing _total
                # from counters; the sample is exposed as <name>_total.
                base = name[: -len("_total")] if name.endswith("_total") else name
                exp = base + "_total"
            else:
                exp = name
            if exp in out and out[exp] != kind:
                fail(f"exposed name {exp} is both {out[exp]} and {kind}")
            out[exp] = kind
        return out

    def check_completeness(self, exposed: dict[str, str]) -> None:
        """Every "vllm:<name>" string constant must be a metric we found."""
        series: set[str] = set()
        for name, kind in exposed.items():
            series.add(name)
            if kind == "counter":
                series.add(name[: -len("_total")])
            if kind == "histogram":
                series |= {name + s for s in ("_bucket", "_sum", "_count")}
        missing = {
            s: p
            for s, p in self.vllm_strings.items()
            if s not in series and s not in NON_METRIC_VLLM_STRINGS and not s.startswith("vllm::")
        }
        if missing:
            lines = "\n".join(f"  {s}  ({p})" for s, p in sorted(missing.items()))
            fail(
                f"these vllm: string constants match no registered metric; a registration was probably missed:\n{lines}"
            )
