"""What every request body model shares: no unknown fields, and numbers that are numbers.

Pydantic's lax mode takes `true` for an int or a float field (as 1); a client that sends a
boolean where a number belongs has made a mistake the API must report, not guess at."""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_NUMBERS = (int, float)


@functools.cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        kinds = (typing.get_args(annotation)
                 if isinstance(annotation, types.UnionType) or
                 typing.get_origin(annotation) is typing.Union else (annotation,))
        if any(kind in _NUMBERS for kind in kinds) and bool not in kinds:
            names.add(field.alias or name)
    return frozenset(names)


class NumbersNotBooleans(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _refuse_booleans_as_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _numeric_fields(cls):
                if isinstance(data.get(name), bool):
                    raise ValueError(f"{name} must be a number, not a boolean")
        return data


class RequestModel(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid")
