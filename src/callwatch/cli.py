"""The ``callwatch`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from callwatch import __version__
from callwatch.capture import CaptureError, CaptureStats, Packet, read_capture
from callwatch.serialize import event_to_dict
from callwatch.sip.feed import LegEventFeed

log = logging.getLogger("callwatch")


class CliError(Exception):
    """An error the command line reports as one line and exit status 2."""


def _packets(paths: Sequence[str], stats: CaptureStats) -> Iterator[Packet]:
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise CliError(f"{name}: no such file")
        try:
            yield from read_capture(path, stats)
        except CaptureError as exc:
            raise CliError(f"{name}: {exc}") from None


def _write(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def cmd_ingest(args: argparse.Namespace) -> int:
    stats = CaptureStats()
    if args.events:
        feed = LegEventFeed()
        for packet in _packets(args.files, stats):
            for event in feed.push(packet):
                _write(event_to_dict(event))
        for event in feed.flush():
            _write(event_to_dict(event))
        _summary(stats, feed)
        return 0
    raise CliError("ingest without --events needs --config (customer calls are not built yet)")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callwatch", description="Checks PBX calls against the office's service charter."
    )
    parser.add_argument("--version", action="version", version=f"callwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="read pcap/pcapng files (plain SIP or HEP inside)")
    ingest.add_argument("files", nargs="+", metavar="FILE")
    ingest.add_argument(
        "--events", action="store_true", help="print leg events as JSON lines, one per event"
    )
    ingest.set_defaults(func=cmd_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="callwatch: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except CliError as exc:
        print(f"callwatch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
