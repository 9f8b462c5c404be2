"""Kernel drop counts read for the sockets callwatch listens on."""

from __future__ import annotations

import socket
from pathlib import Path

from callwatch.capture.drops import udp_socket_drops


def test_udp_drops_are_the_datagrams_the_kernel_could_not_queue() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's minimum
        rx.bind(("127.0.0.1", 0))
        assert udp_socket_drops(rx) == 0
        sent = 200
        for i in range(sent):
            tx.sendto(b"x" * 1000 + i.to_bytes(2, "big"), rx.getsockname())
        rx.setblocking(False)
        received = 0
        while True:
            try:
                rx.recv(2000)
            except BlockingIOError:
                break
            received += 1
        drops = udp_socket_drops(rx)
    assert drops is not None and drops > 0
    assert received + drops == sent


def test_ipv6_sockets_are_found_too() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as rx:
        rx.bind(("::1", 0))
        assert udp_socket_drops(rx) == 0


def test_unknown_socket_or_missing_proc_is_none(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        assert udp_socket_drops(rx, proc_net=tmp_path) is None
        (tmp_path / "udp").write_text(
            "header\n   0: 0100007F:1234 00000000:0000 07 0:0 00:0 0 0 0 1 2 3 4\n"
        )
        assert udp_socket_drops(rx, proc_net=tmp_path) is None
