"""Pulumi custom timeouts are Go duration strings (``"15m"``); a wait is never shorter than asked."""

from __future__ import annotations

import pytest

from vllm_infra.kube.timeouts import minutes


@pytest.mark.parametrize(("seconds", "text"), [(60, "1m"), (61, "2m"), (1, "1m"), (0, "0m"), (1500, "25m")])
def test_seconds_round_up_to_whole_minutes(seconds, text):
    assert minutes(seconds) == text
