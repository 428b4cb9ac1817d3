"""Command-line flags made from the settings, so a knob has one definition.

A service names which `Settings` fields it exposes and under which flag. The flag's help is the
field's description, its default is what the environment (`TICKFLOW_*`) says, and a value given
on the command line is parsed and validated by the very same pydantic field as the environment
variable: env, flags and `--help` cannot drift apart.

pydantic-settings' own CLI source exposes every field of the model under its field name
(`--processor_batch_max`, ~60 flags for each service); the flags people already script against
(`--batch-max`) and one short `--help` per service are worth this small table.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Mapping

from pydantic import ValidationError

from services.config import Settings


def number_or_max(value: str) -> float | None:
    """An argparse type: a finite number > 0, or 'max' (None: as fast as the other side takes it)."""
    if value.strip().lower() == "max":
        return None
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'max': {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError("must be > 0 (or 'max': as fast as possible)")
    return number


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def add_setting_flags(parser: argparse.ArgumentParser | Any, settings: Settings,
                      flags: Mapping[str, str], metavars: Mapping[str, str] | None = None) -> None:
    """Add `flag -> settings field` options to `parser` (or an argument group of it)."""
    for flag, name in flags.items():
        field = Settings.model_fields[name]
        description = field.description or name.replace("_", " ")
        parser.add_argument(
            flag, dest=name, default=argparse.SUPPRESS, metavar=(metavars or {}).get(flag, name.split("_")[-1].upper()),
            help=f"{description} (env TICKFLOW_{name.upper()}; default: {_shown(getattr(settings, name))})".replace(
                "%", "%%"))


def settings_with_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings,
                        flags: Mapping[str, str]) -> Settings:
    """`settings` with the flags given on the command line applied, validated as the environment is.

    A value the field refuses ends the program as any usage error does (exit 2), naming the flag.
    """
    given = {name: getattr(args, name) for name in flags.values() if hasattr(args, name)}
    if not given:
        return settings
    try:
        return settings.with_updates(**given)
    except ValidationError as exc:
        flag_of = {name: flag for flag, name in flags.items()}
        problems = [f"{flag_of.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'settings'}: {e['msg']}"
                    for e in exc.errors()]
        parser.error("; ".join(problems))
        raise  # parser.error exits; this keeps type checkers content
