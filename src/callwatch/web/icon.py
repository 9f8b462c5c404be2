"""``/favicon.ico``: the small icon bundled with the pages (``static/favicon.ico``), served to
anyone (browsers ask for it before and without a session)."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)


@functools.cache
def icon_bytes() -> bytes:
    """The bundled icon file (16 and 32 px)."""
    return resources.files("callwatch.web").joinpath("static", "favicon.ico").read_bytes()


@router.get("/favicon.ico")
def favicon() -> Response:
    """The pages' icon, cacheable for a day."""
    return Response(
        icon_bytes(),
        media_type="image/vnd.microsoft.icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
