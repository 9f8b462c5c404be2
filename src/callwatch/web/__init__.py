"""The pages of ``callwatch serve``: dashboard, department, call replay, training, the
breach and call explorer, reports (Korean by default, English by a switch). ``router`` is
included by :func:`callwatch.http.create_app`."""

from callwatch.web import explore, report_pages
from callwatch.web.routes import WebContext, router

router.include_router(explore.router)
router.include_router(report_pages.router)

__all__ = ["WebContext", "router"]
