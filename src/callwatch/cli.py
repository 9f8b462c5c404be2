"""The ``callwatch`` command line.

Each subcommand imports what it needs inside its own function: the service's stack (FastAPI,
SQLAlchemy, matplotlib, WeasyPrint) takes seconds to import, and ``callwatch --help`` or
``check-config`` should not pay for it (``python -X importtime`` shows the cost).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from callwatch import __version__, core_build
from callwatch.capture import CaptureError, CaptureStats, Packet, read_capture
from callwatch.config import ConfigError, check_config, load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.progress import Progress
from callwatch.records import call_builtins, event_builtins
from callwatch.settings import DEFAULT_AMI_URL, DEMO_DATABASE, SettingsError, load_settings
from callwatch.sip.events import LegEvent
from callwatch.sip.feed import LegEventFeed
from callwatch.timefmt import parse_iso

log = logging.getLogger("callwatch")


class CliError(Exception):
    """An error the command line reports as one line and exit status 2."""


def _read(name: str, stats: CaptureStats) -> Iterator[Packet]:
    try:
        yield from read_capture(Path(name), stats)
    except CaptureError as exc:
        raise CliError(f"{name}: {exc}") from None


CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
"""The files a directory given to ``ingest`` stands for: its captures by these names."""


def capture_files(paths: Sequence[str]) -> list[str]:
    """The capture files ``paths`` name: a file as it is; a directory as the files directly
    inside it whose names end in :data:`CAPTURE_SUFFIXES`, sorted by name (not its
    subdirectories). A missing path, or a directory without such files, is a :class:`CliError`."""
    files: list[str] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            inside = sorted(
                str(p)
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES
            )
            if not inside:
                kinds = ", ".join(CAPTURE_SUFFIXES)
                raise CliError(f"{name} is a directory with no capture files ({kinds}) in it")
            files.extend(inside)
        elif path.is_file():
            files.append(name)
        else:
            raise CliError(f"{name}: no such file or directory")
    return files


def _packets(paths: Sequence[str], stats: CaptureStats) -> Iterator[Packet]:
    """Packets of every file (directories: their captures, see :func:`capture_files`) merged in
    capture-time order, as if one capture (mergecap)."""
    paths = capture_files(paths)
    if len(paths) == 1:
        return _read(paths[0], stats)
    return heapq.merge(*(_read(name, stats) for name in paths), key=lambda p: p.ts)


def _inputs(paths: Sequence[str], ami: Sequence[str] | None, stats: CaptureStats) -> Iterator:
    """The packets of ``paths`` and the events of the recorded manager streams ``ami``, on
    one time line (each file is in time order)."""
    packets = _packets(paths, stats)
    if not ami:
        return packets
    from callwatch.pbx.ami import read_ami_file

    for name in ami:
        if not Path(name).is_file():
            raise CliError(f"--ami {name}: no such file")
    streams = [read_ami_file(Path(name)) for name in ami]
    return heapq.merge(packets, *streams, key=lambda item: item.ts)


def _write(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def cmd_ingest(args: argparse.Namespace) -> int:
    stats = CaptureStats()
    if args.events:
        if args.ami:
            raise CliError("--events prints what SIP alone says; --ami needs --config")
        feed = LegEventFeed()
        for packet in _packets(args.files, stats):
            for event in feed.push(packet):
                if isinstance(event, LegEvent):
                    _write(event_builtins(event))
        for event in feed.flush():
            if isinstance(event, LegEvent):
                _write(event_builtins(event))
        _summary(stats, feed)
        return 0
    if not args.config:
        raise CliError("ingest needs --config SITE.toml (or --events for leg events only)")
    site = _site(args.config)
    as_of = None
    if args.as_of:
        try:
            as_of = parse_iso(args.as_of)
        except ValueError:
            raise CliError(f"--as-of {args.as_of!r} is not an ISO 8601 time") from None
    if getattr(args, "store", False):
        _store_capture(args.files, site, as_of, args.ami, demo=args.demo)
    pipe = CallPipeline(site)
    judged: list[JudgedCall] = []
    progress = _progress(args)
    for n, packet in enumerate(_inputs(args.files, args.ami, stats)):
        judged.extend(o for o in pipe.push(packet) if isinstance(o, JudgedCall))
        if progress is not None and not n % 2000:
            progress.update(stats.frames, stats.bytes)
    judged.extend(o for o in pipe.flush(as_of) if isinstance(o, JudgedCall))
    if progress is not None:
        progress.close()
    judged.sort(key=lambda j: (j.call.started_at, j.call.id))
    rows = []
    for j in judged:
        verdicts, cb = pipe.as_now(j)
        rows.append(call_builtins(j.call, j.profile, verdicts, cb))
    if args.format == "table":
        from callwatch.table import write_table

        write_table(rows, site.timezone, sys.stdout)
    else:
        for row in rows:
            _write(row)
    _summary(stats, pipe.legs)
    return 0


_PROGRESS_MIN_BYTES = 5_000_000


def _progress(args: argparse.Namespace) -> Progress | None:
    """A progress bar for a person reading a table of large files (never for JSON output)."""
    if args.format != "table" or not sys.stderr.isatty():
        return None
    total = sum(Path(name).stat().st_size for name in capture_files(args.files))
    return Progress(total) if total >= _PROGRESS_MIN_BYTES else None


def _site(path: str):
    try:
        return load_site(path)
    except FileNotFoundError:
        raise CliError(f"{path}: no such site file") from None
    except ConfigError as exc:
        hint = f"run 'callwatch check-config {path}'"
        raise CliError(f"{path} has mistakes ({hint}):\n{exc}") from None


def _scaleout_settings(config: str):
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        raise CliError(f"{config}: service settings have mistakes:\n{exc}") from None
    _announce(
        f"spool {settings.spool_path}; data directory {settings.data_dir} "
        f"(from {settings.origin('data_dir')})"
    )
    return settings


def _announce(text: str) -> None:
    """One line on stderr saying which database or directory this command uses."""
    print(f"callwatch: {text}", file=sys.stderr, flush=True)


def cmd_collect(args: argparse.Namespace) -> int:
    from callwatch.scaleout import ScaleoutError, collect

    site = _site(args.config)
    try:
        return collect(site, _scaleout_settings(args.config), args.files, args.identifier)
    except ScaleoutError as exc:
        raise CliError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def cmd_worker(args: argparse.Namespace) -> int:
    from callwatch.scaleout import ScaleoutError, adopt, work

    site = _site(args.config)
    settings = _scaleout_settings(args.config)
    try:
        if args.adopt:
            return adopt(site, settings, args.group, args.adopt, session_expiry=args.session_expiry)
        return work(
            site,
            settings,
            args.group,
            args.identifier,
            session_expiry=args.session_expiry,
            handover_after=args.handover_after,
        )
    except ScaleoutError as exc:
        raise CliError(str(exc)) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    if not Path(args.file).is_file():
        raise CliError(f"{args.file}: no such site file")
    problems: list[object] = list(check_config(args.file))
    try:  # the [service] table is the live service's; its mistakes are reported here too
        load_settings(args.file, environ={})
    except SettingsError as exc:
        problems.extend(exc.problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def _summary(stats: CaptureStats, feed: LegEventFeed) -> None:
    t = feed.tracker.stats
    log.info(
        "read %d frames, %d SIP messages; %d duplicates, %d parse errors, %d events, %d legs open",
        stats.frames,
        stats.packets,
        t.duplicates,
        sum(feed.parse_errors.values()),
        t.events,
        feed.tracker.open_legs(),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from callwatch.service import ServiceError, serve

    site = _site(args.config)
    try:
        settings = load_settings(args.config).with_overrides(
            interface=args.interface, hep_port=args.hep_port, http_port=args.http_port
        )
        if args.ami and not settings.ami_url:
            settings = settings.with_overrides(ami_url=DEFAULT_AMI_URL)
    except SettingsError as exc:
        raise CliError(f"{args.config}: service settings have mistakes:\n{exc}") from None
    if getattr(args, "demo", False):
        settings = _demo(site, settings)
    else:
        _announce(settings.describe_store())
    try:
        serve(site, settings)
    except ServiceError as exc:
        raise CliError(str(exc)) from None
    return 0


def _demo(site, settings):
    """``serve --demo``: fill the demo store, say which database it is and how the other
    commands reach it, print the dashboard URL and the admin token. Unless configured, the
    demo listens on 127.0.0.1 only."""
    import dataclasses
    import time

    from callwatch.demo import DemoError, prepare_demo
    from callwatch.store import StoreError

    local = {k: "127.0.0.1" for k in ("http_host", "hep_host") if settings.origin(k) == "default"}
    settings = dataclasses.replace(
        settings, **local, origins=(*settings.origins, *((k, "--demo") for k in local))
    )
    try:
        setup = prepare_demo(site, settings, time.time_ns() // 1000)  # the demo's "now"
    except (DemoError, StoreError) as exc:
        raise CliError(f"demo: {exc}") from None
    if setup.summary is not None:
        s = setup.summary
        print(
            f"callwatch demo: stored {s.calls} calls ({s.breaches} breaches, {s.callbacks} "
            f"callbacks) replayed from sip_fixtures/",
            file=sys.stderr,
        )
    config = f" --config {site.path}" if site.path else ""
    print(
        f"callwatch demo: serving {setup.settings.describe_store()}\n"
        "callwatch demo: other commands reach this database with --demo, e.g. "
        f"'callwatch token create --demo --role admin', 'callwatch report --demo{config}'",
        file=sys.stderr,
    )
    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    print(f"dashboard: http://{host}:{settings.http_port}/", flush=True)
    kept = "reused from" if setup.reused else "kept in"
    print(f"admin token (log in with it; {kept} {setup.token_file}): {setup.token}", flush=True)
    return setup.settings


def _service_settings(config: str | None, demo: bool = False):
    """The settings of ``config`` (the demo's database with ``demo``), announced on stderr."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        raise CliError(f"service settings have mistakes:\n{exc}") from None
    if demo:
        settings = settings.for_demo()
    _announce(settings.describe_store())
    demo_file = settings.data_dir / DEMO_DATABASE
    own_file = settings.data_dir / "callwatch.sqlite"
    if not demo and not settings.database_url and demo_file.is_file() and not own_file.is_file():
        _announce(f"the demo's database is {demo_file}: add --demo to use it")
    return settings


def _store_capture(
    files: Sequence[str],
    site,
    as_of: int | None,
    ami: Sequence[str] | None = None,
    demo: bool = False,
) -> None:
    """``ingest --store``: every output of the capture, and its raw SIP, into the store."""
    from callwatch.store import Store, StoreError

    settings = _service_settings(site.path, demo)
    store = Store.open(settings.store_url, site=site.name, probe_callers=settings.probe_callers)
    pipe = CallPipeline(site)
    batch: list = []
    try:
        if settings.store_url.startswith("sqlite"):
            Path(settings.store_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
            store.upgrade()
        store.sync_directory(site)
        for packet in _inputs(files, ami, CaptureStats()):
            batch.extend(pipe.push(packet))
            if isinstance(packet, Packet):
                batch.extend(_raw_message(packet))
            if len(batch) >= 1000:
                store.save(batch)
                batch.clear()
        batch.extend(pipe.flush(as_of))
        store.save(batch)
    except StoreError as exc:
        raise CliError(f"store {settings.store_url}: {exc}") from None
    finally:
        store.close()


def _raw_message(packet: Packet) -> list:
    """The packet as a raw message for the ladder view (none when it is not readable SIP)."""
    from callwatch.sip.message import SipParseError, parse_message
    from callwatch.store import RawMessage

    try:
        return [RawMessage.from_packet(packet, parse_message(packet.payload))]
    except (SipParseError, ValueError):
        return []  # counted by the pipeline already


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from callwatch.store import StoreError, db_upgrade

    url = _service_settings(args.config, args.demo).store_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        revision = db_upgrade(url)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # SQLAlchemy/Alembic: unreachable database, bad URL
        raise CliError(f"cannot upgrade {url}: {exc}") from None
    print(f"database at revision {revision}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from callwatch.store import Store, StoreError, export_csv, export_jsonl

    site = _site(args.config)
    url = _service_settings(args.config, args.demo).store_url
    bounds = []
    for flag, text in (("--since", args.since), ("--until", args.until)):
        try:
            bounds.append(None if text is None else parse_iso(text))
        except ValueError:
            raise CliError(f"{flag} {text!r} is not an ISO 8601 time") from None
    store = Store.open(url, site=site.name)
    try:
        rows = store.export_calls(bounds[0], bounds[1])
        (export_csv if args.format == "csv" else export_jsonl)(rows, sys.stdout)
    except StoreError as exc:
        raise CliError(f"store {url}: {exc}") from None
    finally:
        store.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from callwatch.reports import ReportError
    from callwatch.reports.command import run
    from callwatch.store import StoreError

    site = _site(args.config)
    settings = _service_settings(args.config, args.demo)
    url = settings.store_url
    try:
        for path in run(args, site, url, settings.public_url):
            if path != "-":
                print(path)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    except StoreError as exc:
        raise CliError(f"store {url}: {exc}") from None
    return 0


def _add_report_command(sub: argparse._SubParsersAction) -> None:
    from callwatch.reports.command import add_arguments

    report = sub.add_parser("report", help="write a weekly report (HTML, PDF or CSV)")
    add_arguments(report)
    _add_demo_option(report)
    report.set_defaults(func=cmd_report)


def cmd_probe(args: argparse.Namespace) -> int:
    from callwatch.probe.caller import ProbeError
    from callwatch.probe.command import ProbeCommandError, print_record, run
    from callwatch.probe.prompt import PromptError

    try:
        print_record(run(args, _site(args.config)))
    except (ProbeCommandError, ProbeError, PromptError) as exc:
        raise CliError(str(exc)) from None
    return 0


def _add_probe_command(sub: argparse._SubParsersAction) -> None:
    from callwatch.probe.command import add_arguments

    probe = sub.add_parser("probe", help="call a department now as a citizen; print what it saw")
    add_arguments(probe)
    probe.set_defaults(func=cmd_probe)


def _add_demo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the demo's database (DATA_DIR/demo.sqlite, what 'serve --demo' serves)",
    )


def _add_service_commands(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the live service (HEP listener, store, MQTT, HTTP)")
    serve.add_argument("--config", required=True, metavar="SITE.toml", help="site configuration")
    serve.add_argument("--interface", metavar="IFACE", help="also sniff SIP on this interface")
    serve.add_argument("--hep-port", type=int, metavar="PORT", help="HEP UDP port (9060)")
    serve.add_argument("--http-port", type=int, metavar="PORT", help="HTTP port (8080)")
    serve.add_argument(
        "--ami",
        action="store_true",
        help="also read Asterisk's manager (AMI) at ami_url (default "
        f"{DEFAULT_AMI_URL}) as CALLWATCH_AMI_USER / CALLWATCH_AMI_SECRET",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="first look: fill an empty demo store (DATA_DIR/demo.sqlite) with weeks of calls "
        "replayed from sip_fixtures/, print the dashboard URL and an admin token (kept in "
        "DATA_DIR/demo-token); listens on 127.0.0.1 unless configured",
    )
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the database to the newest schema")
    upgrade.add_argument("--config", metavar="SITE.toml", help="site file with [service]")
    _add_demo_option(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    export = sub.add_parser("export", help="print stored calls in the JSON of 'ingest' (or CSV)")
    export.add_argument("--config", required=True, metavar="SITE.toml", help="site configuration")
    export.add_argument("--since", metavar="ISO-TIME", help="calls begun at or after this time")
    export.add_argument("--until", metavar="ISO-TIME", help="calls begun before this time")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    _add_demo_option(export)
    export.set_defaults(func=cmd_export)


def _token_store(config: str | None, demo: bool = False):
    """The API token store of the site's database (the embedded SQLite one is migrated)."""
    from callwatch.api.auth import TokenStore
    from callwatch.store import Store, StoreError

    url = _service_settings(config, demo).store_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store.open(url)
    try:
        if url.startswith("sqlite"):
            store.upgrade()
        elif store.revision() is None:
            raise CliError(f"{url} has no schema: run 'callwatch db upgrade' first")
    except StoreError as exc:
        store.close()
        raise CliError(f"store {url}: {exc}") from None
    return store, TokenStore(store.engine)


def cmd_token(args: argparse.Namespace) -> int:
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from callwatch.api.auth import TokenError
    from callwatch.api.token_times import ExpiryError, local_time, parse_expiry
    from callwatch.site import DEFAULT_TIMEZONE

    site = _site(args.config) if args.config else None
    zone = site.timezone if site is not None else DEFAULT_TIMEZONE
    now = time.time_ns() // 1000
    expires = None
    if args.token_command == "create":
        if site is not None and args.department:
            known = {d.name for d in site.directory.departments}
            unknown = [d for d in args.department if d not in known]
            if unknown:
                names = ", ".join(sorted(known)) or "none"
                raise CliError(f"unknown department {unknown[0]!r} (the site has: {names})")
        if args.expires:
            try:
                expires = parse_expiry(args.expires, now, zone)
            except ExpiryError as exc:
                raise CliError(f"--expires {exc}") from None
    store, tokens = _token_store(args.config, args.demo)
    try:
        if args.token_command == "create":
            record, token = tokens.create(
                args.role, args.department or (), args.name or "", expires_us=expires
            )
            print(f"id: {record.id}")
            print(f"role: {record.role}")
            if record.departments:
                print(f"departments: {', '.join(record.departments)}")
            if record.name:
                print(f"name: {record.name}")
            print(f"expires: {local_time(record.expires_us, zone, 'never')}")
            print("token (shown only now; send it as 'Authorization: Bearer <token>'):")
            print(token)
        elif args.token_command == "list":
            rows = [
                ("id", "role", "departments", "created", "expires", "last used", "state", "name")
            ]
            for r in tokens.list():
                state = r.state(now)
                if state == "revoked":
                    state = f"revoked {local_time(r.revoked_us, zone)}"
                rows.append(
                    (
                        r.id,
                        r.role,
                        ",".join(r.departments) or "-",
                        local_time(r.created_us, zone),
                        local_time(r.expires_us, zone, "never"),
                        local_time(r.last_used_us, zone, "never"),
                        state,
                        r.name,
                    )
                )
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                print("  ".join([*cells, row[-1]]).rstrip())
            print(f"(times on the site's clock, {zone})", file=sys.stderr)
        else:
            record = tokens.revoke(args.id)
            print(f"revoked {record.id} ({record.role})")
    except TokenError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise CliError(f"token store: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    finally:
        store.close()
    return 0


def _add_token_commands(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="API tokens: create, list, revoke")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="make a token (printed once, on the last line)")
    create.add_argument("--role", required=True, choices=("admin", "lead", "trainer"))
    create.add_argument(
        "--department", action="append", metavar="NAME", help="a lead's department (repeat)"
    )
    create.add_argument("--name", metavar="TEXT", help="who or what holds the token")
    create.add_argument(
        "--expires",
        metavar="WHEN",
        help="stop accepting it after a span (30m, 12h, 90d, 2w), through a date (2027-01-31) "
        "or at a time (2027-01-31T18:00), on the site's clock (default: never)",
    )
    listing = token_sub.add_parser(
        "list", help="every token (never the secret), times on the site's clock"
    )
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", metavar="ID", help="the token's id (or the token itself)")
    for parser in (create, listing, revoke):
        parser.add_argument(
            "--config", metavar="SITE.toml", help="site file ([service], time zone)"
        )
        _add_demo_option(parser)
        parser.set_defaults(func=cmd_token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callwatch", description="Checks PBX calls against the office's service charter."
    )
    parser.add_argument(
        "--version", action="version", version=f"callwatch {__version__} ({core_build()} core)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="read pcap/pcapng files (plain SIP or HEP inside)")
    ingest.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a capture file, or a directory: its .pcap, .pcapng and .cap files (by name)",
    )
    ingest.add_argument(
        "--events", action="store_true", help="print leg events as JSON lines, one per event"
    )
    ingest.add_argument("--config", metavar="SITE.toml", help="site configuration")
    ingest.add_argument(
        "--as-of",
        metavar="ISO-TIME",
        help="judge callback deadlines at this time (default: the last packet's time)",
    )
    ingest.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    ingest.add_argument(
        "--store", action="store_true", help="also write the calls to the store (see 'serve')"
    )
    ingest.add_argument(
        "--ami",
        action="append",
        metavar="FILE",
        help="Asterisk's manager (AMI) stream recorded beside the capture, read with it on one "
        "time line (timestampevents = yes); repeat for several files",
    )
    _add_demo_option(ingest)
    ingest.set_defaults(func=cmd_ingest)

    collect = sub.add_parser(
        "collect", help="capture + core on this node, publishing calls over MQTT (scale-out)"
    )
    collect.add_argument("--config", required=True, metavar="SITE.toml")
    collect.add_argument("--identifier", help="MQTT client id (default: from the host name)")
    collect.add_argument("files", nargs="*", metavar="FILE", help="replay these; else HEP")
    collect.set_defaults(func=cmd_collect)

    worker = sub.add_parser("worker", help="store what collectors publish (shared subscription)")
    worker.add_argument("--config", required=True, metavar="SITE.toml")
    worker.add_argument("--group", default="callwatch", help="shared subscription group")
    worker.add_argument("--identifier", help="MQTT client id; give each worker its own")
    worker.add_argument(
        "--session-expiry",
        type=_positive_int,
        metavar="SECONDS",
        help="how long the broker keeps a stopped or lost worker's session (default: 7 days)",
    )
    worker.add_argument(
        "--handover-after",
        type=_positive_int,
        metavar="SECONDS",
        help="a worker gone this long is declared lost and its session drained by a live "
        "worker (default: 15)",
    )
    worker.add_argument(
        "--adopt",
        metavar="CLIENT_ID",
        help="drain the session of a worker that will not come back into the store, end it, exit",
    )
    worker.set_defaults(func=cmd_worker)

    check = sub.add_parser("check-config", help="explain every mistake in a site file")
    check.add_argument("file", metavar="SITE.toml")
    check.set_defaults(func=cmd_check_config)
    _add_token_commands(sub)
    _add_service_commands(sub)
    _add_report_command(sub)
    _add_probe_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="callwatch: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # The core keeps tens of thousands of small objects alive for a while (legs linger 32 s,
    # calls 10 s): the default GC thresholds spend a third of the run on full collections.
    gc.set_threshold(50_000, 20, 100)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"callwatch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
