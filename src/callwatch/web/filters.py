"""How the pages word values: the Jinja filters every page template uses.

Each filter reads the page's language (``lang``) and, for department names, its site
(``site``) from the template's context, and words values through :mod:`callwatch.i18n`, so a
measure carries the unit the charters word its rule in (``12초 (벨 5회)``, ``3시간``) and a
change of rate its ``%p``.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from callwatch import i18n
from callwatch.charter.registry import MINUTE
from callwatch.site import SiteConfig


def department_name(site: SiteConfig | None, name: str | None, lang: str) -> str:
    """A department as the viewer reads it: its English name (``name_en`` in the site file)
    on an English page when it has one, else its name."""
    if not name:
        return ""
    if lang == "en" and site is not None:
        for department in site.directory.departments:
            if department.name == name and department.name_en:
                return department.name_en
    return name


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lang(ctx: Context) -> str:
    return i18n.normalize_lang(ctx.get("lang"))


@pass_context
def _dept(ctx: Context, name: str | None) -> str:
    return department_name(ctx.get("site"), name, _lang(ctx))


@pass_context
def _measure(ctx: Context, value: float | None, rule: str, rings: int | None = None) -> str:
    return i18n.measure(rule, value, _lang(ctx), _int(rings))


@pass_context
def _limit(ctx: Context, value: float | None, rule: str, rings: int | None = None) -> str:
    return i18n.limit(rule, value, _lang(ctx), _int(rings))


@pass_context
def _seconds(ctx: Context, value: float | None) -> str:
    return "—" if value is None else i18n.seconds_text(value, _lang(ctx))


@pass_context
def _span(ctx: Context, seconds: float) -> str:
    return i18n.span(seconds, _lang(ctx), smallest=MINUTE)


@pass_context
def _points(ctx: Context, change: float | None) -> str:
    return "" if change is None else i18n.points(change, _lang(ctx))


@pass_context
def _detail(ctx: Context, detail: str | None) -> str:
    return i18n.detail_text(detail, _lang(ctx))


@pass_context
def _weeks(ctx: Context, n: int) -> str:
    return i18n.weeks(n, _lang(ctx))


def _when(text: str | None) -> Markup:
    """A local date and time (``2026-11-25 14:02``) that may break between the date and the
    time but never inside either."""
    if not text:
        return Markup("—")
    return Markup(" ").join(Markup('<span class="num">{}</span>').format(p) for p in text.split())


_HANGUL_WORD = re.compile(r"\S*[\uac00-\ud7a3]\S*")


def _words(text: str | None) -> Markup:
    """``text`` with each word that holds Hangul kept whole (``연2회(반기)``: keep-all alone
    still breaks before a parenthesis)."""
    escaped = str(escape(text or ""))
    return Markup(_HANGUL_WORD.sub(r'<span class="w">\g<0></span>', escaped))


def _verbatim(text: str | None) -> Markup:
    """Data shown as it is in any language (a time zone, a site's name): marked
    ``translate="no"`` for browsers and for the pages' language checks."""
    return Markup('<span translate="no">{}</span>').format(text or "")


def _zoned(text: str | None) -> Markup:
    """A local time with its zone's abbreviation (``2026-11-25 14:30 KST``): date and time
    never broken inside, the abbreviation marked as data (``translate="no"``)."""
    if not text:
        return Markup("")
    *moment, zone = text.split()
    if not moment:
        return _when(text)
    return Markup("{} {}").format(_when(" ".join(moment)), _verbatim(zone))


def _num(value: float | None) -> str:
    return "—" if value is None else i18n.number(value)


FILTERS: dict[str, Any] = {
    "pct": i18n.percent,
    "pts": _points,
    "num": _num,
    "dept": _dept,
    "measure": _measure,
    "limit": _limit,
    "seconds": _seconds,
    "span": _span,
    "detail": _detail,
    "weeks": _weeks,
    "when": _when,
    "words": _words,
    "verbatim": _verbatim,
    "zoned": _zoned,
}


def install(env: Environment) -> None:
    """Add the pages' filters to ``env``."""
    env.filters.update(FILTERS)
