"""The services a command, the API or a worker is given, built by `bootstrap.build`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatport.domain.progress import ImportObserver
from chatport.store.database import Database

if TYPE_CHECKING:
    from chatport.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything a command, the API or a worker needs, built once per process."""

    settings: Settings
    database: Database
    observer: ImportObserver = field(default_factory=ImportObserver)
    """What the imports run by this process tell its metrics (none unless served)."""

    def close(self) -> None:
        """Release connections."""
        self.database.dispose()
