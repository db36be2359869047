"""What reading or writing a file lost, as a value the report can group without parsing it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileWarning:
    """A warning about one file: ``subject``, the file's name as a report shows it, and ``text``, what
    happened to it (parameter names marked with backquotes, as in messages).

    >>> str(FileWarning("a.jpg", "JPEG has no alpha channel; transparency was dropped"))
    'a.jpg: JPEG has no alpha channel; transparency was dropped'
    """

    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"
