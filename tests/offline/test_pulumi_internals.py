"""The parts of Pulumi's SDK that ``vllm_infra/offline/runner.py`` (and the policy tests) use without Pulumi promising
to keep them, checked against the installed SDK.

A Pulumi upgrade that moves one of these fails here with a message naming the internal and the file that uses it,
instead of as a traceback from inside a plan. The installed versions must also be inside the ranges pyproject.toml
declares, which are the tested ones.
"""

from __future__ import annotations

import asyncio
import inspect
import threading

import pulumi
import pulumi_policy.policy
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import resource_pb2

from tests.pins import assert_installed_within_declared_range

RUNNER = "vllm_infra/offline/runner.py"


class _NoInvokes(pulumi.runtime.Mocks):
    def call(self, args):
        return {}, []

    def new_resource(self, args):
        return None, {}


def test_the_installed_pulumi_is_inside_the_range_pyproject_declares():
    assert_installed_within_declared_range(
        "pulumi", internals="pulumi.runtime.stack.run_pulumi_func and MockMonitor's internals", used_in=RUNNER
    )


def test_the_installed_pulumi_policy_is_inside_the_range_pyproject_declares():
    assert_installed_within_declared_range(
        "pulumi-policy", internals="pulumi_policy.policy._PolicyAnalyzerServicer", used_in="tests/policies/*.py"
    )


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_run_pulumi_func_takes_the_program_and_is_a_coroutine_function():
    run_pulumi_func = getattr(pulumi.runtime.stack, "run_pulumi_func", None)
    assert run_pulumi_func is not None, f"pulumi.runtime.stack.run_pulumi_func is gone; {RUNNER} runs programs with it"
    assert inspect.iscoroutinefunction(run_pulumi_func) and _parameters(run_pulumi_func) == ["func"], (
        f"pulumi.runtime.stack.run_pulumi_func is now {inspect.signature(run_pulumi_func)}; {RUNNER} awaits "
        "run_pulumi_func(program)"
    )


@pytest.mark.parametrize("method", ["Invoke", "ReadResource", "RegisterResource"])
def test_the_mock_monitor_methods_the_runner_overrides_take_a_request(method):
    found = getattr(pulumi_mocks.MockMonitor, method, None)
    assert found is not None, f"pulumi.runtime.mocks.MockMonitor.{method} is gone; {RUNNER} overrides it"
    assert _parameters(found) == ["self", "request"], (
        f"MockMonitor.{method} is now {inspect.signature(found)}; {RUNNER}'s _CaptureMonitor overrides it as "
        f"{method}(self, request)"
    )


def test_the_mock_monitor_keeps_its_mocks_where_the_runner_reads_them():
    mocks = _NoInvokes()
    assert pulumi_mocks.MockMonitor(mocks).mocks is mocks, f"MockMonitor(mocks).mocks: {RUNNER} passes it to set_mocks"


@pytest.mark.parametrize(
    "field",
    ["type", "name", "parent", "provider", "custom", "object", "protect", "dependencies", "customTimeouts",
     "ignoreChanges"],
)  # fmt: skip
def test_the_register_resource_request_has_the_fields_the_runner_captures(field):
    assert field in resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields_by_name, (
        f"RegisterResourceRequest.{field} is gone; {RUNNER}'s _CaptureMonitor.RegisterResource reads it"
    )


def test_the_mock_monitor_gives_an_executor_thread_an_event_loop_of_its_own():
    # The runner closes these loops after a run (_CaptureMonitor.close_thread_loops): it finds them with
    # get_event_loop() on the thread that served the call. If Pulumi stops creating them, that code can go.
    monitor = pulumi_mocks.MockMonitor(_NoInvokes())
    found: list[asyncio.AbstractEventLoop | None] = []

    def serve() -> None:
        monitor.Invoke(resource_pb2.ResourceInvokeRequest(tok="test:index:probe"))
        try:
            found.append(asyncio.get_event_loop_policy().get_event_loop())
        except RuntimeError:
            found.append(None)

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
    loop = found[0]
    try:
        assert loop is not None, (
            "MockMonitor.Invoke no longer gives its thread an event loop; the loop bookkeeping in "
            f"{RUNNER} (_note_thread_loop, close_thread_loops) is no longer needed"
        )
    finally:
        if loop is not None:
            loop.close()


def test_the_policy_analyzer_servicer_the_policy_tests_drive_still_takes_name_version_policies_level():
    servicer = getattr(pulumi_policy.policy, "_PolicyAnalyzerServicer", None)
    assert servicer is not None, "pulumi_policy.policy._PolicyAnalyzerServicer is gone; tests/policies drive it"
    assert _parameters(servicer.__init__)[:5] == ["self", "name", "version", "policies", "enforcement_level"], (
        f"_PolicyAnalyzerServicer is now {inspect.signature(servicer.__init__)}; tests/policies/test_crossguard.py "
        "and test_opt_out.py construct it as (name, version, policies, enforcement_level)"
    )
