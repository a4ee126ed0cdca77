"""Typed errors of veille: library code raises these, only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class VeilleError(Exception):
    """Base of every foreseeable problem veille reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One problem found in a configuration file, located for the user."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(VeilleError):
    """The configuration cannot be used; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(VeilleError):
    """A command was called with arguments that cannot work (unknown source id, bad duration...)."""

    exit_code = 2


class StoreError(VeilleError):
    """The database cannot be opened or written."""

    exit_code = 2


class SourceError(VeilleError):
    """A source could not be fetched or read; recorded on the source, never fatal to a run."""


class DeliveryError(VeilleError):
    """A digest cannot be delivered as asked: unusable SMTP URL, refused recipient or header."""

    exit_code = 2
