"""The pages of ``callwatch serve``: dashboard, department, call replay, training (Korean by
default, English by a switch). ``router`` is included by :func:`callwatch.http.create_app`."""

from callwatch.web.routes import WebContext, router

__all__ = ["WebContext", "router"]
