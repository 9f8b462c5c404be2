"""``callwatch probe``: one probe call now, printed as JSON (what the caller side saw).

The pyVoIP phone (:mod:`callwatch.probe.caller`) is imported inside :func:`run`: building
the command line must not load pyVoIP. SIGTERM or Ctrl-C during the call ends it at once
(BYE when answered, CANCEL while ringing) and the record is still printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from callwatch.probe.plan import SECRET_ENV, USER_ENV, ProbeConfigError, parse_probes

if TYPE_CHECKING:
    from callwatch.site import SiteConfig


class ProbeCommandError(RuntimeError):
    """The probe call cannot be placed (no ``[probes]`` table, no credentials, a number that
    is not the site's own)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="SITE.toml", help="site configuration")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--department", metavar="NAME", help="the department to call")
    which.add_argument("--number", metavar="N", help="a public number of one of the departments")
    parser.add_argument("--answer-limit", type=float, metavar="S", help="give up after S s")
    parser.add_argument("--talk", type=float, metavar="S", help="hang up S s after the answer")
    parser.add_argument("--no-prompt", action="store_true", help="play nothing once answered")


def run(args: argparse.Namespace, site: SiteConfig) -> dict[str, object]:
    """Place one probe call as ``args`` say; return what it saw."""
    from callwatch.probe.caller import ProbeAccount, ProbePhone
    from callwatch.probe.prompt import load_prompt

    path = Path(site.path)
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("probes")
    if table is None:
        raise ProbeCommandError(f"{path}: no [probes] table (server, bind: see docs/probes.md)")
    numbers = {d.name: d.numbers for d in site.directory.departments}
    try:
        settings = parse_probes(table, path.parent, numbers)
    except ProbeConfigError as exc:
        raise ProbeCommandError(f"{path}: {exc}") from None
    department, number = _target(args, numbers, settings.targets)
    user, secret = os.environ.get(USER_ENV), os.environ.get(SECRET_ENV)
    if not user or not secret:
        raise ProbeCommandError(f"set {USER_ENV} and {SECRET_ENV} (the probe's PBX account)")
    account = ProbeAccount(
        settings.server, settings.port, user, secret, settings.bind, settings.sip_port
    )
    prompt = None
    if settings.play_prompt and not args.no_prompt:
        prompt = load_prompt(settings.prompt) if settings.prompt else load_prompt()
    phone = ProbePhone(account)
    phone.start()
    previous = {s: signal.signal(s, lambda *_: phone.abort()) for s in _STOP_SIGNALS}
    try:
        record = phone.call(
            number,
            answer_limit_s=args.answer_limit or settings.answer_limit_s,
            talk_s=settings.talk_s if args.talk is None else args.talk,
            prompt=prompt,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        phone.stop()
    return {"department": department, **record.to_dict()}


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _target(
    args: argparse.Namespace, numbers: dict[str, tuple[str, ...]], targets: Mapping[str, str]
) -> tuple[str, str]:
    """The department and number to call; only the site's own departments' numbers."""
    if args.number:
        for name, owned in numbers.items():
            if args.number in owned:
                return name, args.number
        raise ProbeCommandError(f"{args.number} is not a public number of this site")
    if args.department:
        listed = numbers.get(args.department)
        if not listed:
            raise ProbeCommandError(f"{args.department!r} is not a department with a number")
        return args.department, listed[0]
    if not targets:
        raise ProbeCommandError("no department to probe (name one with --department)")
    name = next(iter(targets))
    return name, targets[name]


def print_record(record: dict[str, object]) -> None:
    print(json.dumps(record, ensure_ascii=False))
