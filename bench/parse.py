"""SIP parse speed: callwatch's parse_message beside pyVoIP's SIPMessage, one core.

usage: python bench/parse.py [--calls N] [--rounds R]

Builds a realistic mix of N distinct calls as an Asterisk PJSIP trunk leg puts them on the
wire (INVITE with SDP, 100 Trying, 180 Ringing, 200 OK with SDP, ACK, BYE, 200 OK: seven
messages a call, each call with its own Call-ID, tags and branches), then prints messages
per second for each parser over the same list, best of R rounds. A script that prints
figures; no test asserts them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from callwatch.sip import message as sip_message


def build_mix(calls: int) -> list[bytes]:
    """The seven messages of each of ``calls`` distinct calls, in wire order."""
    out: list[bytes] = []
    for n in range(calls):
        out.extend(_call(n))
    return out


def _call(n: int) -> list[bytes]:
    call_id = f"{n:08x}-5b1e-4c2a-9d7e-3f0a1c2b{n:04x}"
    caller = f"0210{n % 10000:04d}5678"
    ext = f"{2000 + n % 100}"
    from_tag = f"f{n:06d}a7c3-44d1"
    to_tag = f"t{n:06d}9e2b-11aa"
    pbx = "10.20.0.5"
    trunk = "203.0.113.10"
    via_inv = f"SIP/2.0/UDP {trunk}:5060;rport;branch=z9hG4bKPj{n:08x}inv"
    via_bye = f"SIP/2.0/UDP {pbx}:5060;rport;branch=z9hG4bKPj{n:08x}bye"
    frm = f'"{caller}" <sip:{caller}@{trunk}>;tag={from_tag}'
    to = f"<sip:{ext}@{pbx}>"
    sdp = (
        "v=0\r\n"
        f"o=- {n + 1000} {n + 1000} IN IP4 {trunk}\r\n"
        "s=Asterisk\r\n"
        f"c=IN IP4 {trunk}\r\n"
        "t=0 0\r\n"
        f"m=audio {10000 + 2 * (n % 5000)} RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=maxptime:150\r\n"
        "a=sendrecv\r\n"
    )

    def msg(
        start: str, via: str, to_value: str, cseq: str, extra: str = "", body: str = ""
    ) -> bytes:
        head = (
            f"{start}\r\n"
            f"Via: {via}\r\n"
            f"From: {frm}\r\n"
            f"To: {to_value}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq}\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return (head + body).encode()

    invite_extra = (
        f"Contact: <sip:{caller}@{trunk}:5060>\r\n"
        "Max-Forwards: 70\r\n"
        "User-Agent: Asterisk PBX 20.5.0\r\n"
        "Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, "
        "UPDATE, PRACK, MESSAGE, REFER\r\n"
        "Supported: 100rel, timer, replaces, norefersub, histinfo\r\n"
        "Session-Expires: 1800\r\n"
        "Min-SE: 90\r\n"
        "Content-Type: application/sdp\r\n"
    )
    answer_extra = (
        f"Contact: <sip:{ext}@{pbx}:5060>\r\n"
        "Server: Asterisk PBX 20.5.0\r\n"
        "Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, "
        "UPDATE, PRACK, MESSAGE, REFER\r\n"
        "Supported: 100rel, timer, replaces, norefersub\r\n"
        "Content-Type: application/sdp\r\n"
    )
    to_tagged = f"{to};tag={to_tag}"
    # The BYE comes from the PBX side: From/To swapped.
    bye_from = f"{to};tag={to_tag}"
    bye_to = frm
    bye = (
        f"BYE sip:{caller}@{trunk}:5060 SIP/2.0\r\n"
        f"Via: {via_bye}\r\n"
        f"From: {bye_from}\r\n"
        f"To: {bye_to}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 8842 BYE\r\n"
        "Reason: Q.850;cause=16\r\n"
        "Max-Forwards: 70\r\n"
        "User-Agent: Asterisk PBX 20.5.0\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    bye_ok = (
        "SIP/2.0 200 OK\r\n"
        f"Via: {via_bye};received={pbx}\r\n"
        f"From: {bye_from}\r\n"
        f"To: {bye_to}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 8842 BYE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    return [
        msg(f"INVITE sip:{ext}@{pbx} SIP/2.0", via_inv, to, "102 INVITE", invite_extra, sdp),
        msg("SIP/2.0 100 Trying", via_inv, to, "102 INVITE"),
        msg("SIP/2.0 180 Ringing", via_inv, to_tagged, "102 INVITE", f"Contact: <sip:{pbx}>\r\n"),
        msg("SIP/2.0 200 OK", via_inv, to_tagged, "102 INVITE", answer_extra, sdp),
        msg(
            f"ACK sip:{ext}@{pbx}:5060 SIP/2.0",
            f"SIP/2.0/UDP {trunk}:5060;rport;branch=z9hG4bKPj{n:08x}ack",
            to_tagged,
            "102 ACK",
            "Max-Forwards: 70\r\n",
        ),
        bye,
        bye_ok,
    ]


def measure(
    parsers: dict[str, Callable[[bytes], object]], mix: list[bytes], rounds: int
) -> dict[str, float]:
    """Best messages/second of each parser over ``mix`` in ``rounds`` interleaved passes.

    Interleaving and keeping the best pass (of process CPU time) keeps a busy machine from
    favouring whichever parser happened to run in a quiet moment.
    """
    best = dict.fromkeys(parsers, 0.0)
    for _ in range(rounds):
        for name, parse in parsers.items():
            start = time.process_time()
            for data in mix:
                parse(data)
            elapsed = time.process_time() - start
            best[name] = max(best[name], len(mix) / elapsed)
    return best


def _pyvoip_parser() -> Callable[[bytes], object] | None:
    try:
        import pyVoIP.VoIP  # noqa: F401  (breaks pyVoIP.SIP's circular import)
        from pyVoIP.SIP import SIPMessage
    except ImportError:
        return None
    return SIPMessage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    mix = build_mix(args.calls)
    size = sum(map(len, mix)) / len(mix)
    print(f"mix: {args.calls} calls, {len(mix)} messages, {size:.0f} bytes each on average")
    parsers: dict[str, Callable[[bytes], object]] = {
        "callwatch parse_message": sip_message.parse_message
    }
    pyvoip = _pyvoip_parser()
    if pyvoip is not None:
        parsers["pyVoIP SIPMessage"] = pyvoip
    rates = measure(parsers, mix, args.rounds)
    for name, rate in rates.items():
        print(f"{name:<24}: {rate:>10,.0f} msg/s")
    if pyvoip is None:
        print("pyVoIP SIPMessage       : not installed")
    else:
        ours, theirs = rates.values()
        print(f"{'ratio':<24}: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
