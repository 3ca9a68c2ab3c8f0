"""Maintainer tools that regenerate the repository's recorded data; not part of the shipped wheel.

``pyproject.toml`` packages only ``vllm_infra*``; this package is importable from the repository root (the tests run
there) and is run as ``python -m tools.<tool>``.
"""
