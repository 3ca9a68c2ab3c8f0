"""tools.vllm_surface.surface and .cli: the JSON record of a (fake) release and the command line around it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import build_wheel, mini_release
from tools.vllm_surface import cli
from tools.vllm_surface.errors import ExtractionError
from tools.vllm_surface.surface import extract, render

ROOT = Path(__file__).resolve().parents[3]


def test_extract_records_the_release_and_its_origin(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, mini_release(), version="0.99.1")
    data = extract(wheel)
    assert list(data) == ["vllm_version", "wheel", "wheel_sha256", "flags", "metrics", "sources"]
    assert data["vllm_version"] == "0.99.1"
    assert data["wheel"] == "vllm-0.99.1-py3-none-any.whl"
    assert data["wheel_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert "--disable-prefix-caching" in data["flags"]  # type: ignore[operator]
    assert data["metrics"]["vllm:request_success_total"] == "counter"  # type: ignore[index]
    # flags and metrics both record the files they read, sorted, once
    assert data["sources"] == [
        "vllm/config/cache.py",
        "vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py",
        "vllm/engine/arg_utils.py",
        "vllm/entrypoints/cli/main.py",
        "vllm/entrypoints/cli/serve.py",
        "vllm/entrypoints/common/cli_args.py",
        "vllm/platforms/interface.py",
        "vllm/utils/argparse_utils.py",
        "vllm/v1/kv_offload/base.py",
        "vllm/v1/metrics/loggers.py",
        "vllm/v1/spec_decode/metrics.py",
    ]


def test_explain_lists_every_option_and_metric_with_its_origin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract(build_wheel(tmp_path, mini_release()), explain=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].split() == ["option", "-h", "--help", "help", "argparse", "add_help"]
    assert ["metric", "vllm:request_success", "counter", "vllm/v1/metrics/loggers.py:10"] in [
        line.split() for line in lines
    ]
    assert len(lines) == 1 + 12 + 100 + 4 + 30  # help, the release's options, padding, metrics, padding


def test_render_is_canonical() -> None:
    data = {"wheel": "w", "flags": ["--a"], "metrics": {"vllm:b": "gauge", "vllm:a": "counter"}, "note": "é"}
    assert render(data) == (
        '{\n  "flags": [\n    "--a"\n  ],\n  "metrics": {\n    "vllm:a": "counter",\n    "vllm:b": "gauge"\n  },\n'
        '  "note": "é",\n  "wheel": "w"\n}\n'
    )


def test_cli_writes_the_surface_of_a_wheel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = build_wheel(tmp_path, mini_release())
    out = tmp_path / "out" / "surface.json"
    assert cli.main(["--wheel", str(wheel), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render(extract(wheel))
    assert "19 flags, 34 metrics" in capsys.readouterr().err
    assert json.loads(out.read_text())["vllm_version"] == "0.0.1"


def test_cli_reports_an_extraction_error_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = mini_release()
    files["vllm/elsewhere.py"] = 'NAME = "vllm:forgotten"\n'
    out = tmp_path / "surface.json"
    assert cli.main(["--wheel", str(build_wheel(tmp_path, files)), "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("vllm_surface: these vllm: string constants match no registered metric")
    assert not out.exists()


def test_cli_version_downloads_and_checks_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def fake_download(version: str, dest: Path) -> Path:
        asked.append(version)
        return build_wheel(dest, mini_release(), version="0.0.2")

    monkeypatch.setattr(cli, "download", fake_download)
    out = tmp_path / "surface.json"
    assert cli.main(["--version", "0.0.2", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["vllm_version"] == "0.0.2"
    assert cli.main(["--version", "0.0.3", "--out", str(tmp_path / "other.json")]) == 1
    assert "wheel says version 0.0.2, asked for 0.0.3" in capsys.readouterr().err
    assert asked == ["0.0.2", "0.0.3"]


def test_cli_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--out", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        cli.main(["--wheel", "a.whl", "--version", "1", "--out", str(tmp_path / "x.json")])


@pytest.mark.slow
def test_runs_as_a_module_from_the_repository_root(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, mini_release())
    out = tmp_path / "surface.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.vllm_surface", "--wheel", str(wheel), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == render(extract(wheel))


def test_download_asks_pip_for_the_x86_64_wheel_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> None:
        commands.append(cmd)
        (tmp_path / "vllm-1.2.3-cp38-abi3-manylinux_2_28_x86_64.whl").write_bytes(b"")

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    assert cli.download("1.2.3", tmp_path).name == "vllm-1.2.3-cp38-abi3-manylinux_2_28_x86_64.whl"
    assert commands[0][1:] == [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--disable-pip-version-check",
        "vllm==1.2.3",
        "-d",
        str(tmp_path),
    ]
    (tmp_path / "vllm-1.2.3-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(ExtractionError, match=re.escape("expected one vllm 1.2.3 wheel from pip")):
        cli.download("1.2.3", tmp_path)
