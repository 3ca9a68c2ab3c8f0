"""Record the `vllm serve` flags and Prometheus metric names of a vLLM release.

What it does
------------
Reads the Python sources inside a vLLM wheel and writes a JSON record of

* ``flags``: every long option (``--x``) that ``vllm serve`` accepts,
  including the negative forms of boolean flags;
* ``metrics``: every Prometheus metric name the server process can register,
  mapped to its type (``counter`` / ``gauge`` / ``histogram``), keyed by the
  name that ``prometheus_client`` exposes (a Counter registered as ``vllm:x``
  or ``vllm:x_total`` is exposed as ``vllm:x_total``; histograms and gauges keep
  their name, histograms add ``_bucket`` / ``_sum`` / ``_count`` series);
* the wheel's file name and sha256, the release version (from the wheel's
  METADATA) and the list of wheel files whose content determined the result.

The output is deterministic: sorted keys, sorted lists, two-space indent and a
trailing newline, so a regenerated file can be compared byte for byte.

Why static
----------
``import vllm`` needs torch, CUDA libraries and a long list of heavy
dependencies, and building the real parser runs platform detection and plugin
loading. None of that is available (or wanted) where the infrastructure
library is tested, so this tool never imports vllm: it parses the wheel's
sources with :mod:`ast` and re-derives, construct by construct, what argparse
and prometheus_client would do with them:

* flags: ``vllm/entrypoints/cli/serve.py`` (the ``serve`` sub-parser),
  ``vllm/entrypoints/common/cli_args.py`` (``make_arg_parser``, the
  ``FrontendArgs`` dataclass whose fields become ``--field-name``),
  ``vllm/engine/arg_utils.py`` (``EngineArgs`` / ``AsyncEngineArgs``
  ``add_cli_args``; for ``**get_kwargs(Config)["field"]`` the field's type is
  resolved through the config modules exactly as ``_compute_kwargs`` decides
  whether it becomes an ``argparse.BooleanOptionalAction``), and
  ``vllm/utils/argparse_utils.py`` (``FlexibleArgumentParser`` registers
  ``EnableDisableAction`` in place of ``BooleanOptionalAction``: a boolean
  ``--x`` also accepts ``--no-x``, and ``--enable-x`` / ``--disable-x`` are
  each other's negation);
* metrics: every module of the wheel that constructs a ``prometheus_client``
  Counter / Gauge / Histogram (directly, through vLLM's ``_counter_cls`` /
  ``_gauge_cls`` / ``_histogram_cls`` indirection, or through the KV-offload
  ``Offloading*Metadata`` definitions), with the metric name resolved through
  literals, module / class constants, local variables, loops over literal
  lists and small helper functions.

Anything the tool does not understand makes it fail with an explanation
(an ``add_argument`` with a computed option string, a metric whose name cannot
be resolved and that is not on the reviewed allowlist in :mod:`.metrics`, a ``vllm:``
string constant that matches no registered metric, zero flags from a file,
a duplicate option string...). A short or silently wrong list is worse than
no list.

How to regenerate
-----------------
    python -m tools.vllm_surface --version 0.33.0 \\
        --out vllm_infra/data/vllm_surface_0.33.0.json

``--version`` runs ``pip download --no-deps vllm==VERSION`` into a temporary
directory (the x86_64 manylinux wheel, ~340 MB); ``--wheel PATH`` uses a wheel
that is already on disk. ``--explain`` also prints, on stderr, every option and
metric with the file and line it comes from, for review. When a new release
breaks an assumption, the error names the construct; extend the module of
that concern (or, after reading the code, the reviewed allowlists at the top of
:mod:`.flags` and :mod:`.metrics`) rather than editing the JSON by hand.
Only the Python standard library is needed.

Layout
------
One module per concern, each with fixture tests in ``tests/tools/``:

* :mod:`.errors` -- :class:`ExtractionError` (the tool refuses) and
  ``Unresolvable`` (one expression cannot be known statically);
* :mod:`.sources` -- the release archive (:class:`~.sources.Wheel`) and its
  modules, with static resolution of module-level names, imports and class
  attributes;
* :mod:`.type_hints` -- what ``_compute_kwargs`` makes of a field's annotation;
* :mod:`.flags` -- the ``vllm serve`` argparse options;
* :mod:`.string_eval` and :mod:`.metrics` -- metric names and types;
* :mod:`.surface` -- the JSON record (:func:`~.surface.extract`,
  :func:`~.surface.render`);
* :mod:`.cli` -- the command line (``python -m tools.vllm_surface``).
"""
