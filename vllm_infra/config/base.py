"""The base of every configuration model: camelCase keys, unknown keys rejected, immutable values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigModel(BaseModel):
    """Base class of the typed stack configuration.

    Keys are camelCase in the stack file (Pulumi's convention: ``maxModelLen``) and snake_case in Python
    (``max_model_len``); both spellings are accepted. Unknown keys are errors, so a typo such as ``maxModelLenght``
    fails the plan instead of being silently ignored. Instances are frozen: components receive values they cannot
    change behind the stack program's back.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )
