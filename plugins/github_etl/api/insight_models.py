"""Pydantic models of the API's views over time: a repository's history, trending, language shares.

Like :mod:`github_etl.api.models`, the query models reject unknown parameters and state every bound they
check, so the OpenAPI document is the exact contract.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import IntEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from github_etl.api.models import LANGUAGE_FILTER, MAX_INT4, Language, Name, described_as

# Ten years of days: a longer window than any warehouse holds answers nothing more.
MAX_DAYS = 3650
DEFAULT_HISTORY_DAYS = 90
DEFAULT_TRENDING = 25
MAX_TRENDING = 500
DEFAULT_LANGUAGE_WINDOW = 30
DEFAULT_SHARE_DAYS = 30
DEFAULT_SHARE_LANGUAGES = 8
MAX_SHARE_LANGUAGES = 50
# A trending cursor: the list's end date (days since 1970-01-01), then the gain and the id of the last row, all
# decimal numbers (see github_etl.api.paging). The date keeps a walk on one list when a load commits between pages.
TRENDING_CURSOR_PATTERN = r"^[0-9]{1,7}\.[0-9]{1,19}\.[0-9]{1,19}$"
MAX_TRENDING_CURSOR_LENGTH = 47
# A date as the document states it (`format: date`, RFC 3339's full-date).
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """Refuses a date written any other way than YYYY-MM-DD, which pydantic would otherwise read as it can:
    ``1764892800`` as seconds since 1970, ``20261130`` likewise (with a message about datetimes)."""
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD, e.g. 2026-11-30")
    return value


# A date query parameter.
Date = Annotated[dt.date, BeforeValidator(_iso_date)]


class TrendingWindow(IntEnum):
    """Windows the load keeps gains for (``github.trending_windows()`` in schema.sql), in days."""

    DAY = 1
    WEEK = 7
    MONTH = 30


class HistoryQuery(BaseModel):
    """Query parameters of ``GET /repositories/{owner}/{name}/history``."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(DEFAULT_HISTORY_DAYS, ge=1, le=MAX_DAYS, description="Days listed, ending on `end_date`.")
    end_date: Date | None = Field(
        None,
        description="Last day listed; the repository's latest observation when omitted.",
    )


class HistoryPoint(BaseModel):
    """Counters of a repository on one day; all null on a day it was not observed."""

    date: dt.date = Field(description="The day (UTC).")
    stargazers_count: int | None = Field(description="Stars that day; null when the day has no observation.")
    forks_count: int | None = Field(description="Forks that day; null when the day has no observation.")
    open_issues_count: int | None = Field(
        description="Open issues and open pull requests together that day; null when the day has no observation."
    )


class RepositoryHistory(BaseModel):
    """Every day of a window, oldest first, with the repository's counters where it was observed."""

    id: int = described_as("id")
    full_name: str = described_as("full_name")
    start_date: dt.date | None = Field(
        description="First day listed; null when the repository was never observed and no `end_date` was given."
    )
    end_date: dt.date | None = Field(
        description="Last day listed; null when the repository was never observed and no `end_date` was given."
    )
    observed_days: int = Field(description="Days of the window with an observation; the others are gaps (nulls).")
    points: list[HistoryPoint] = Field(description="One per day from `start_date` to `end_date`, oldest first.")


class TrendingQuery(BaseModel):
    """Query parameters of ``GET /trending``."""

    model_config = ConfigDict(extra="forbid")

    window_days: TrendingWindow = Field(TrendingWindow.WEEK, description="Days between the two observations compared.")
    end_date: Date | None = Field(
        None, description="Later observation date; when omitted, the cursor's, or on a first page the latest one."
    )
    language: Language | None = Field(None, description=LANGUAGE_FILTER)
    topic: Name | None = Field(
        None, description="A topic the repository carries (GitHub topics are lower case), quoted or not."
    )
    min_stars: int | None = Field(None, ge=0, le=MAX_INT4, description="Lowest star count on `end_date`.")
    cursor: str | None = Field(
        None,
        pattern=TRENDING_CURSOR_PATTERN,
        max_length=MAX_TRENDING_CURSOR_LENGTH,
        description="`next_cursor` of the previous page; omit for the first page.",
    )
    limit: int = Field(DEFAULT_TRENDING, ge=1, le=MAX_TRENDING, description="Page size.")


class TrendingRepository(BaseModel):
    """A repository and its star gain over the window."""

    id: int = described_as("id")
    full_name: str = described_as("full_name")
    owner_login: str = described_as("owner_login")
    name: str = described_as("name")
    language: str | None = Field(description="Primary language on `end_date`, the one the `language` filter matches.")
    html_url: str | None = described_as("html_url")
    description: str | None = described_as("description")
    start_stargazers_count: int = Field(description="Stars on `start_date`.")
    stargazers_count: int = Field(description="Stars on `end_date`.")
    gain: int = Field(description="`stargazers_count - start_stargazers_count`, always positive.")


class TrendingPage(BaseModel):
    """Largest star gains between two observation dates, largest first (ties by descending id)."""

    window_days: int = Field(description="Days between the two observations compared.")
    start_date: dt.date | None = Field(description="Earlier observation date; null when the warehouse has none.")
    end_date: dt.date | None = Field(description="Later observation date; null when the warehouse has none.")
    compared: int | None = Field(
        description="Repositories observed on both dates, the only ones compared; null when either date "
        "has no observation."
    )
    rising: int | None = Field(description="Of those, the repositories whose stars rose: the whole list.")
    basis: str = Field(description="What the list counts, in a sentence.")
    items: list[TrendingRepository] = Field(description="Largest gain first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LanguageQuery(BaseModel):
    """Query parameters of ``GET /languages``."""

    model_config = ConfigDict(extra="forbid")

    date: Date | None = Field(None, description="Observation date; the latest one when omitted.")
    window_days: int = Field(
        DEFAULT_LANGUAGE_WINDOW, ge=1, le=MAX_DAYS, description="Days back to the date the shares are compared with."
    )


class LanguageShare(BaseModel):
    """One primary language on a date, and on the date the window starts."""

    language: str | None = Field(description="Null: repositories without a primary language.")
    repositories: int = Field(description="Repositories observed on `date` with this language.")
    stars: int = Field(description="Their stars on `date`.")
    repository_share: float = Field(description="Fraction of the date's repositories, 0 to 1.")
    star_share: float = Field(description="Fraction of the date's stars, 0 to 1 (0 when no stars at all).")
    start_repositories: int | None = Field(description="Null when the start date has no observation.")
    start_stars: int | None = Field(description="Stars of this language on `start_date`; null when not observed.")
    start_star_share: float | None = Field(description="Fraction of `start_date`'s stars; null when not observed.")
    star_share_change: float | None = Field(description="`star_share - start_star_share`.")


class LanguageList(BaseModel):
    """Repositories and stars per primary language on an observation date, most stars first."""

    date: dt.date | None = Field(description="Observation date; null when the warehouse has none.")
    observed: bool = Field(
        description="Whether `date` has an observation; if not, its figures are 0 and `items` is empty."
    )
    start_date: dt.date | None = Field(description="`date` minus the window.")
    start_observed: bool = Field(description="Whether `start_date` has an observation; if not, no change is given.")
    repositories: int = Field(description="Repositories observed on `date`.")
    stars: int = Field(description="Their stars on `date`.")
    items: list[LanguageShare] = Field(description="Most stars first.")


class ShareQuery(BaseModel):
    """Query parameters of ``GET /languages/shares``."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(
        DEFAULT_SHARE_DAYS, ge=1, le=MAX_DAYS, description="Days listed, ending on the latest observation."
    )
    languages: int = Field(
        DEFAULT_SHARE_LANGUAGES, ge=1, le=MAX_SHARE_LANGUAGES, description="Languages with the most stars, at most."
    )


class LanguageSeries(BaseModel):
    """A language's share of the stars on each listed date."""

    language: str | None = Field(description="Null: repositories without a primary language.")
    star_share: list[float | None] = Field(description="Per entry of `dates`; null where the date has no observation.")


class LanguageShares(BaseModel):
    """Star shares of the leading languages (those of the latest date) on every day of a window."""

    dates: list[dt.date] = Field(description="Every day from the first to the latest observation in the window.")
    series: list[LanguageSeries] = Field(description="One per language, most stars on the latest date first.")
