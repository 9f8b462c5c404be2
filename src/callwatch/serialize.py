"""The call record's public form under its former name, for :mod:`callwatch.store.bulk` only
(it is being reworked elsewhere and will import :func:`callwatch.records.call_builtins`);
everything else uses :mod:`callwatch.records`."""

from __future__ import annotations

from callwatch.records import call_builtins as call_to_dict

__all__ = ["call_to_dict"]
