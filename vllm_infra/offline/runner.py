"""Run the real stack program under Pulumi's mock runtime and capture every resource registration.

Nothing here talks to a Pulumi service, a cloud or a cluster: the ``MockMonitor`` plays the engine. What is captured
is what the engine would receive — type, name, parent, provider, inputs (secrets still marked) and resource options —
which is what ``pulumi preview`` shows and what the policy checks and renderers read.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import reset_options

from vllm_infra.offline.stackfile import StackFile, load_stack_file

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class PlannedResource:
    """One resource as the engine would receive it. ``inputs`` keep Pulumi's secret markers; use ``redact``."""

    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    depends_on: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The result of running a stack program offline: resources in registration order, outputs and warnings."""

    stack: str
    project: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    warnings: list[str]

    def by_type(self, type_token: str) -> list[PlannedResource]:
        """Every resource of one type, e.g. ``kubernetes:apps/v1:Deployment``."""
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> PlannedResource:
        """The single resource of ``type_token`` (and ``name``, if given); raises if there is not exactly one."""
        matches = [r for r in self.by_type(type_token) if name is None or r.name == name]
        if len(matches) != 1:
            raise LookupError(f"expected one {type_token} {name or ''}, found {len(matches)}")
        return matches[0]


class UnansweredInvoke(LookupError):
    """A program called a data source (``aws.ec2.get_vpc``) the offline runner has no answer for."""

    def __init__(self, token: str, known: Sequence[str]):
        self.token = token
        super().__init__(
            f"the offline runner has no answer for the data source {token}; it answers {', '.join(sorted(known))}. "
            "Pass your own: plan_program(..., invokes=InvokeResults({token: lambda args: {...}})) "
            "(vllm_infra.offline.runner), or add a default to vllm_infra/offline/cloud.py"
        )


class ProgramError(Exception):
    """A user's own program raised while it ran offline; the message holds its traceback (its own frames)."""


class InvokeResults:
    """Answers to data-source invokes (``aws.get_*``) under mocks, keyed by token; a callable gets the arguments."""

    def __init__(self, answers: Mapping[str, Callable[[dict], dict]] | None = None):
        self.answers = dict(answers or {})

    def __call__(self, token: str, args: dict) -> dict:
        if token not in self.answers:
            raise UnansweredInvoke(token, list(self.answers))
        return self.answers[token](args)


class _CaptureMocks(pulumi.runtime.Mocks):
    """Resource state = inputs (what a real create would echo back), ids and names derived from logical names."""

    def __init__(self, invokes: InvokeResults):
        self.invokes = invokes

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            state["metadata"] = {"name": args.name, **state["metadata"]}
        return (f"{args.name}-id" if args.custom else None), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return self.invokes(args.token, dict(args.args)), []


class _CaptureMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also records what the engine is told about each resource (parent, options)."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.captured: list[PlannedResource] = []
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()
        self._lock = threading.Lock()

    def _note_thread_loop(self) -> None:
        # Pulumi's MockMonitor gives every executor thread it runs on an event loop of its own and never closes it;
        # left to the garbage collector at interpreter exit, each prints "Exception ignored ... Invalid file
        # descriptor: -1" under the command's output. They are noted here and closed when the run ends.
        if threading.current_thread() is threading.main_thread():
            return
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # the Stack's registration returns before giving the thread a loop
            return
        with self._lock:
            self._thread_loops.add(loop)

    def close_thread_loops(self) -> None:
        """Close the event loops the monitor's executor threads were given (the run is over; none is running)."""
        with self._lock:
            loops, self._thread_loops = self._thread_loops, set()
        for loop in loops:
            if not loop.is_closed() and not loop.is_running():
                loop.close()

    def Invoke(self, request):  # noqa: N802 (gRPC method name)
        response = super().Invoke(request)
        self._note_thread_loop()
        return response

    def ReadResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)
        self._note_thread_loop()
        return response

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        self._note_thread_loop()
        timeouts = request.customTimeouts
        self.captured.append(
            PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=(request.parent or None) if request.type != STACK_TYPE else None,
                provider=request.provider or None,
                custom=bool(request.custom),
                inputs=rpc.deserialize_properties(request.object) if request.type != STACK_TYPE else {},
                protect=bool(request.protect),
                # The SDK collects dependencies in a set: its order follows string hashing, which changes from
                # process to process (PYTHONHASHSEED). The engine treats them as a set, so sorting loses nothing.
                depends_on=sorted(set(request.dependencies)),
                custom_timeouts={
                    op: value
                    for op, value in (
                        ("create", timeouts.create),
                        ("update", timeouts.update),
                        ("delete", timeouts.delete),
                    )
                    if value
                },
                ignore_changes=list(request.ignoreChanges),
            )
        )
        return response


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_program(
    program: Callable[[], None],
    stack_file: StackFile,
    *,
    invokes: InvokeResults | None = None,
) -> Plan:
    """Run ``program`` under the mock runtime with ``stack_file``'s config; return what it registered.

    Each run gets a fresh context and event loop, so runs do not leak state into each other (tests run many).
    """

    monitor = _CaptureMonitor(_CaptureMocks(invokes or InvokeResults()))
    loop = asyncio.new_event_loop()

    def run() -> Plan:
        reset_options(project=stack_file.project, stack=stack_file.stack, preview=True)
        pulumi.runtime.set_all_config(dict(stack_file.config), list(stack_file.secret_keys))
        collector = _WarningCollector()
        logger = logging.getLogger(f"vllm_infra.offline.{id(collector)}")
        logger.propagate = False
        logger.addHandler(collector)
        pulumi.runtime.set_mocks(
            monitor.mocks,
            project=stack_file.project,
            stack=stack_file.stack,
            preview=True,
            logger=logger,
            monitor=monitor,
        )
        stack_resource = pulumi.runtime.settings.get_root_resource()
        # run_pulumi_func is what pulumi.runtime.test runs a program with: the program, then every RPC it started,
        # then the monitor's shutdown. The loop is not running yet, so plain run_until_complete drives it.
        loop.run_until_complete(pulumi.runtime.stack.run_pulumi_func(program))
        outputs = loop.run_until_complete(_stack_outputs(stack_resource))
        # Registration order depends on when Outputs resolve; URN order is stable from run to run.
        resources = sorted(monitor.captured, key=lambda r: (r.type != STACK_TYPE, r.urn))
        return Plan(
            stack=stack_file.stack,
            project=stack_file.project,
            resources=resources,
            outputs=outputs,
            # Logged from callbacks whose order follows Output resolution; sorted, so equal runs print equally.
            warnings=[*stack_file.warnings, *sorted(collector.messages)],
        )

    def in_loop() -> Plan:
        asyncio.set_event_loop(loop)
        try:
            return run()
        finally:
            # A program that failed leaves RPCs in flight; cancel them, or closing the loop prints "Task was
            # destroyed but it is pending!" under the real error.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            asyncio.set_event_loop(None)

    try:
        return contextvars.Context().run(in_loop)
    finally:
        loop.close()
        monitor.close_thread_loops()


async def _stack_outputs(stack_resource: Any) -> dict[str, Any]:
    outputs = getattr(stack_resource, "outputs", {}) or {}
    resolved = {}
    for key, value in outputs.items():
        output = pulumi.Output.from_input(value)
        resolved[key] = (await output.future()) if not await output.is_secret() else rpc.wrap_rpc_secret(None)
    return resolved


def plan_stack(
    stack: str,
    project_dir: Path | None = None,
    *,
    invokes: InvokeResults | None = None,
    stack_name: str | None = None,
) -> Plan:
    """Run this library's stack program offline for ``stack`` (a stack name or a stack file path).

    Raises ``ConfigError`` (with every bad key) when the stack's config is invalid. ``stack_name`` plans the file as
    that stack (URNs carry the stack name): two versions of one stack's file compare resource by resource.

    Example::

        plan = plan_stack("single")
        plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]
    """
    from vllm_infra.offline.cloud import default_invokes
    from vllm_infra.program import main

    stack_file = load_stack_file(stack, project_dir)
    if stack_name is not None:
        stack_file.stack = stack_name
    return run_program(main, stack_file, invokes=invokes or default_invokes())


def _program_entry(path: Path) -> Path:
    entry = path / "__main__.py" if path.is_dir() else path
    if not entry.is_file():
        from vllm_infra.config.errors import ConfigError

        raise ConfigError([f"--program {path.absolute()}: no such file (give a Pulumi program's __main__.py or its "
                           "directory)"])  # fmt: skip
    return entry


def _program_project(program_dir: Path) -> str:
    # Pulumi names the project after Pulumi.yaml beside the program (or above it); without one, the folder's name.
    import yaml

    for directory in (program_dir, *program_dir.parents):
        settings_file = directory / "Pulumi.yaml"
        if settings_file.is_file():
            name = (yaml.safe_load(settings_file.read_text()) or {}).get("name")
            if isinstance(name, str) and name:
                return name
            break
    return program_dir.name


def plan_program(
    program: str | Path,
    config: str | Path,
    *,
    invokes: InvokeResults | None = None,
    project: str | None = None,
) -> Plan:
    """Run a user's own Pulumi program (its ``__main__.py``, or the directory holding it) offline with the config of
    a stack file, as ``pulumi preview`` would run it: from the program's directory, with that directory importable.

    The project is the ``name`` of the nearest ``Pulumi.yaml`` at or above the program (else the directory's name),
    so stack-file keys without a namespace land in it, as with the Pulumi CLI. Data-source invokes (``aws.get_*``)
    get the same offline answers as ``vllm-infra plan``.

    Example::

        plan = plan_program("infra/__main__.py", "infra/Pulumi.dev.yaml")
        [r.type for r in plan.resources]
    """
    import os
    import runpy
    import sys
    import traceback

    from vllm_infra.offline.cloud import default_invokes

    entry = _program_entry(Path(program)).resolve()
    stack_file = load_stack_file(str(config), project=project or _program_project(entry.parent))

    def run_user_program() -> None:
        previous_cwd, previous_path, previous_modules = Path.cwd(), list(sys.path), set(sys.modules)
        os.chdir(entry.parent)
        sys.path.insert(0, str(entry.parent))
        try:
            runpy.run_path(str(entry), run_name="__main__")
        except UnansweredInvoke:
            raise
        except Exception as error:
            frames = [frame for frame in traceback.extract_tb(error.__traceback__)
                      if Path(frame.filename).is_absolute()
                      and Path(frame.filename).resolve().is_relative_to(entry.parent)]  # fmt: skip
            text = "".join([*traceback.format_list(frames), *traceback.format_exception_only(error)]).rstrip()
            raise ProgramError(f"{entry} raised:\n{text}") from error
        finally:
            os.chdir(previous_cwd)
            sys.path[:] = previous_path
            # The program's own modules (helpers.py beside it) are forgotten, so another program's same-named
            # module is not served from this one's cache.
            for name in set(sys.modules) - previous_modules:
                origin = getattr(sys.modules[name], "__file__", None) or ""
                if origin and Path(origin).resolve().is_relative_to(entry.parent):
                    del sys.modules[name]

    return run_program(run_user_program, stack_file, invokes=invokes or default_invokes())
