"""Building blocks of a strategy's settings model (``BalancerStrategy.settings_model``), the model of its own key
under ``vllm-infra:balancer`` (``balancer.nginx``, ``balancer.service``, ...).

Pure pydantic on purpose: ``config/balancer.py`` builds ``BalancerSpec``'s fields from the registered strategies, so
it loads every strategy module while the config package is still being imported. A strategy module, and this one,
must therefore not import ``vllm_infra.config`` (nor anything that does) at module level; that is also why
``StrategySettings`` restates ``ConfigModel``'s conventions instead of inheriting them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["PinnedImage", "StrategySettings", "pinned_image"]

# `repository[:tag][@sha256:<64 hex>]` with a tag or a digest; the repository may name a registry (with a port).
_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:(?P<digest>[a-f0-9]{64}))?$"
)


def pinned_image(image: str) -> str:
    """Accept ``repo:tag``, ``repo@sha256:<digest>`` or ``repo:tag@sha256:<digest>`` (the tag for people, the digest
    for the runtime); reject a missing tag, ``latest`` and malformed digests.

    >>> pinned_image("nginx:1.29.8@sha256:" + "0" * 64).startswith("nginx:1.29.8@")
    True
    """
    match = _IMAGE.match(image)
    if match is None or not (match["tag"] or match["digest"]) or match["tag"] in {"latest", "nightly"}:
        raise ValueError(
            f"{image!r} must be pinned: repository:tag or, recommended, repository:tag@sha256:<64 hex digits> "
            "(a moving tag changes what runs without a diff)"
        )
    return image


#: A container image field of a settings model, validated by ``pinned_image``.
PinnedImage = Annotated[str, AfterValidator(pinned_image)]


class StrategySettings(BaseModel):
    """Base of a strategy's settings model, with the stack configuration's conventions: camelCase or snake_case
    keys, unknown keys rejected, frozen, defaults validated. Every field needs a default (a strategy's key may be
    left out of the stack file altogether).

    Example::

        class EchoSettings(StrategySettings):
            \"\"\"echo: the text every request gets back.\"\"\"

            text: str = Field("hello", description="What the echo pods answer.")
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )
