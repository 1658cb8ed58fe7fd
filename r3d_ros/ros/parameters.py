"""The node's parameters, generated from the config dataclasses so there is one source of truth.

Every field of :class:`NodeConfig`, and every ``setting`` field of
:class:`StreamConfig` and :class:`RuntimeConfig`, is one parameter with the
field's default, its description, its range (``low``/``high``) and its allowed
values (the ``Literal`` annotation). Live settings apply when set at run time;
the others are read on configure (set them while the node is unconfigured, or
cleanup and configure again). The params file and docs/parameters.md are
generated from the same table (scripts/gen_parameter_docs.py).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from r3d_ros.config import ConfigError, NodeConfig, RuntimeConfig, StreamConfig, schema

SECTIONS: tuple[type, ...] = (NodeConfig, StreamConfig, RuntimeConfig)


@dataclass(frozen=True)
class Parameter:
    """One node parameter and its constraints."""

    name: str
    default: Any
    description: str
    section: type
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    live: bool = False

    def descriptor(self) -> ParameterDescriptor:
        """The rclpy descriptor (description, range, allowed values)."""
        when = "applies at once when set" if self.live else "read on configure"
        descriptor = ParameterDescriptor(description=f"{self.description} ({when})")
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        if self.low is not None and isinstance(self.default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=self.low, to_value=self.high, step=0.0)]
        elif self.low is not None and isinstance(self.default, int) and not isinstance(self.default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        return descriptor

    @property
    def type_name(self) -> str:
        """The ROS parameter type users must write."""
        return {bool: "bool", int: "integer", float: "double", str: "string", list: "string array"}[type(self.default)]


def _parameters(section: type) -> list[Parameter]:
    hints = typing.get_type_hints(section, vars(schema))
    out = []
    for item in dataclasses.fields(section):
        if "doc" not in item.metadata:
            continue
        literal = hints[item.name]
        choices = typing.get_args(literal) if typing.get_origin(literal) is typing.Literal else ()
        default = item.default_factory() if item.default is dataclasses.MISSING else item.default
        default = "" if default is None else default  # ROS has no None: "" stands for it
        meta = item.metadata
        out.append(
            Parameter(item.name, default, meta["doc"], section, choices, meta["low"], meta["high"], meta["live"])
        )
    return out


PARAMETERS: tuple[Parameter, ...] = tuple(p for section in SECTIONS for p in _parameters(section))
BY_NAME = {p.name: p for p in PARAMETERS}


def check_value(name: str, value: Any) -> None:
    """Raise ConfigError naming ``name`` when ``value`` has the wrong type or breaks the constraints."""
    spec = BY_NAME[name]
    if isinstance(spec.default, list) and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        value = list(value)
    if type(value) is not type(spec.default):
        hint = f" (write {value}.0)" if spec.type_name == "double" and type(value) is int else ""
        raise ConfigError(f"parameter '{name}': must be a {spec.type_name}, got {value!r}{hint}")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"parameter '{name}': must be one of {list(spec.choices)}, got {value!r}")
    if spec.low is not None and not (spec.low <= value <= spec.high):
        raise ConfigError(f"parameter '{name}': must be in [{spec.low:g}, {spec.high:g}], got {value!r}")


def build(section: type, values: dict[str, Any]) -> Any:
    """The ``section`` dataclass the parameter ``values`` describe (errors name the parameter)."""
    names = {p.name for p in PARAMETERS if p.section is section}
    nullable = {item.name for item in dataclasses.fields(section) if item.default is None}
    arguments = {n: (None if n in nullable and values[n] == "" else values[n]) for n in names}
    try:
        return section(**arguments)
    except ConfigError as error:
        field, _, problem = str(error).partition(":")
        raise ConfigError(f"parameter '{field}':{problem}") from None


def stream_config(values: dict[str, Any]) -> StreamConfig:
    """The StreamConfig the parameters describe."""
    return build(StreamConfig, values)


def runtime_config(values: dict[str, Any]) -> RuntimeConfig:
    """The RuntimeConfig the parameters describe."""
    return build(RuntimeConfig, values)
