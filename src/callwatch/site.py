"""The site as plain data: its departments (the directory), charter profiles and options.

The core takes a :class:`SiteConfig`; :mod:`callwatch.config` reads and checks the site file
into one.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date

from callwatch.calls.directory import Directory
from callwatch.calls.errors import DirectoryError
from callwatch.calls.pbx_traits import PbxTraits
from callwatch.charter.callbacks import CallbackBook
from callwatch.charter.hours import BusinessHours
from callwatch.charter.profile import Profile
from callwatch.fieldpickle import pickle_by_fields

DEFAULT_TIMEZONE = "Asia/Seoul"


@dataclass(frozen=True)
class SiteConfig:
    """A validated site: its directory, charters, office hours, holiday calendar and options."""

    path: str
    name: str
    timezone: str
    charter: str
    directory: Directory
    profiles: dict[str, Profile]
    correlation_headers: tuple[str, ...] = ()
    pbx: PbxTraits | None = None
    business_hours: BusinessHours | None = None
    holidays: Container[date] = frozenset()
    profile_paths: tuple[str, ...] = field(default=())

    def profile_for(self, department: str | None) -> Profile:
        """The charter profile of ``department`` (None or unknown: the site default)."""
        try:
            charter = self.directory.charter_of(department)
        except DirectoryError:
            charter = self.charter
        return self.profiles[charter or self.charter]

    def callback_book(self) -> CallbackBook:
        """A fresh callback book wired to this site's charters, office hours and staff."""
        return CallbackBook(
            self.profile_for,
            business_hours=self.business_hours,
            fallback_hours=BusinessHours(self.timezone, holidays=self.holidays),
            staff=self.directory.is_staff,
        )


# the service hands the site to its store process: by field values (fieldpickle)
pickle_by_fields(SiteConfig)
