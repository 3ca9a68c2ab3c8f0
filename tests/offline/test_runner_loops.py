"""A plan leaves no event loop behind: an unclosed loop is collected at interpreter exit, after the sockets it owns
are torn down, and prints "Exception ignored ... ValueError: Invalid file descriptor: -1" under the command's output
(the traceback a newcomer saw after `vllm-infra diff --format json | head`)."""

from __future__ import annotations

import asyncio

from vllm_infra.offline.runner import plan_stack


def test_every_event_loop_a_plan_creates_is_closed(monkeypatch):
    created: list[asyncio.AbstractEventLoop] = []
    original_init = asyncio.BaseEventLoop.__init__

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", recording_init)
    plan_stack("multi-model")
    # The runner's own loop plus one per executor thread that Pulumi's MockMonitor gave a loop of its own.
    assert len(created) > 1
    unclosed = [loop for loop in created if not loop.is_closed()]
    assert not unclosed, f"{len(unclosed)} of {len(created)} event loops left open after the plan"
