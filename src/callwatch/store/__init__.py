"""The storage adapter: SQLAlchemy 2 Core on SQLite (embedded default) or PostgreSQL.

:class:`Store` writes the pipeline's outputs idempotently and exports calls in the exact JSON of
``callwatch ingest``; :class:`StoreWriter` batches writes and keeps them in a spool (a
:class:`~callwatch.diskqueue.DurableQueue`) on disk while the database is away. Migrations
(Alembic) ship in ``callwatch/store/migrations``.
"""

from callwatch.store import (
    auth_tables,  # noqa: F401  (the API tokens table joins the metadata)
    probe_tables,  # noqa: F401  (probe results join the metadata)
)
from callwatch.store.codec import StoreItem, decode_output, encode_output
from callwatch.store.database import ENV_URL, db_upgrade, default_database_url, make_engine
from callwatch.store.errors import (
    CodecError,
    SpoolError,
    SpoolFull,
    StoreError,
    StoreUnavailable,
)
from callwatch.store.export import CSV_FIELDS, export_csv, export_jsonl, flatten_call
from callwatch.store.rawsip import RawMessage
from callwatch.store.recovery import recover_interrupted
from callwatch.store.store import Store, VerdictCount
from callwatch.store.writer import StoreWriter, WriterStats

__all__ = [
    "CSV_FIELDS",
    "ENV_URL",
    "CodecError",
    "RawMessage",
    "SpoolError",
    "SpoolFull",
    "Store",
    "StoreError",
    "StoreItem",
    "StoreUnavailable",
    "StoreWriter",
    "VerdictCount",
    "WriterStats",
    "db_upgrade",
    "decode_output",
    "default_database_url",
    "encode_output",
    "export_csv",
    "export_jsonl",
    "flatten_call",
    "make_engine",
    "recover_interrupted",
]
