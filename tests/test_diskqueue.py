"""The durable queue (the store's spool, the publisher's spool, the store sink's backlog):
order across segments and reopening, prepending, bounds, torn and damaged records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.bus.payloads import Message
from callwatch.bus.publisher import message_from_record, message_record
from callwatch.diskqueue import DurableQueue, QueueError, QueueFull


def msgs(start: int, count: int) -> list[bytes]:
    return [
        message_record(
            Message("event", f"callwatch/s/events/민원/{i}", f'{{"n":{i},"d":"민원"}}', f"m{i}")
        )
        for i in range(start, start + count)
    ]


def ids(records: list[bytes]) -> list[str]:
    out = []
    for record in records:
        message = message_from_record(record)
        assert message is not None
        out.append(message.id)
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.queue"))


def test_fifo_across_segments_and_reopen(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path, segment_bytes=400)
    spool.append(msgs(0, 10))
    spool.append(msgs(10, 10))
    assert len(segments(tmp_path)) > 1
    assert ids(spool.peek(3)) == ["m0", "m1", "m2"]
    assert ids(spool.peek(3)) == ["m0", "m1", "m2"]  # peeking consumes nothing
    spool.ack(4)
    assert len(spool) == 16
    spool.close()
    again = DurableQueue(tmp_path, segment_bytes=400)
    assert len(again) == 16
    assert ids(again.peek(100)) == [f"m{i}" for i in range(4, 20)]
    assert message_from_record(again.peek(1)[0]).payload == '{"n":4,"d":"민원"}'  # type: ignore[union-attr]
    again.ack(16)
    assert len(again) == 0
    assert again.bytes == 0
    assert segments(tmp_path) == []  # consumed segments are deleted


def test_one_record_at_a_time_in_order_across_segments_and_reopening(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path, segment_bytes=200, fsync=True)
    for i in range(6):
        spool.append([b'{"n":%d,"pad":"%s"}' % (i, b"x" * 50)])
    assert spool.depth == 6 and len(segments(tmp_path)) > 1
    assert spool.peek(1) == [b'{"n":0,"pad":"%s"}' % (b"x" * 50)]
    spool.ack(1)
    again = DurableQueue(tmp_path, segment_bytes=200, fsync=True)
    got = []
    while batch := again.peek(1):
        got.append(batch[0][5:6])
        again.ack(1)
    assert got == [b"1", b"2", b"3", b"4", b"5"]
    assert DurableQueue(tmp_path).depth == 0
    assert segments(tmp_path) == []


def test_prepend_goes_before_everything_pending(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path)
    spool.append(msgs(0, 5))
    spool.ack(2)
    spool.prepend(msgs(100, 2))
    spool.append(msgs(5, 1))
    assert ids(spool.peek(10)) == ["m100", "m101", "m2", "m3", "m4", "m5"]
    spool.close()
    assert ids(DurableQueue(tmp_path).peek(10)) == ["m100", "m101", "m2", "m3", "m4", "m5"]


def test_full_queue_refuses_a_whole_batch(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path, max_bytes=1000)
    spool.append(msgs(0, 5))
    before = len(spool)
    with pytest.raises(QueueFull, match="of its 1000 bytes"):
        spool.append(msgs(5, 20))
    assert len(spool) == before
    assert ids(spool.peek(100)) == [f"m{i}" for i in range(5)]
    spool.ack(5)
    spool.append(msgs(5, 5))  # room again once drained
    assert len(spool) == 5


def test_a_full_queue_refuses_and_drops_nothing(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path, max_bytes=250, fsync=True)
    spool.append([b"x" * 100])
    spool.append([b"y" * 100])
    with pytest.raises(QueueFull, match="full"):
        spool.append([b"z" * 100])
    assert spool.depth == 2
    assert spool.peek(5) == [b"x" * 100, b"y" * 100]
    assert DurableQueue(tmp_path).depth == 2


def test_torn_last_record_is_detected_counted_and_never_written_after(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path)
    spool.append(msgs(0, 3))
    spool.close()
    (segment,) = segments(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # the process died mid-write
    again = DurableQueue(tmp_path)
    assert again.corrupt == 1
    assert ids(again.peek(10)) == ["m0", "m1"]
    again.append(msgs(3, 1))  # never glued onto the torn record
    assert ids(again.peek(10)) == ["m0", "m1", "m3"]
    again.close()
    assert ids(DurableQueue(tmp_path).peek(10)) == ["m0", "m1", "m3"]


def test_bytes_that_are_not_a_record_are_skipped(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path)
    spool.append(msgs(0, 1))
    spool.close()
    (segment,) = segments(tmp_path)
    with segment.open("ab") as fh:
        fh.write(b"not json\n")
    again = DurableQueue(tmp_path)
    again.append(msgs(1, 1))
    assert ids(again.peek(10)) == ["m0", "m1"]
    assert again.corrupt >= 1


def test_a_damaged_middle_record_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    spool = DurableQueue(tmp_path, fsync=True)
    for i in range(3):
        spool.append([b'{"n":%d}' % i])
    spool.close()
    (segment,) = segments(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data.replace(b'"n":1', b'"n":7'))  # the checksum no longer matches
    reopened = DurableQueue(tmp_path)
    assert reopened.corrupt == 1 and reopened.depth == 2
    assert reopened.peek(5) == [b'{"n":0}', b'{"n":2}']
    reopened.ack(2)
    assert reopened.depth == 0 and segments(tmp_path) == []


def test_a_failed_write_leaves_nothing_half_written_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = DurableQueue(tmp_path)
    spool.append([b"a"])

    def short(fd: int, data: bytes) -> None:
        os.write(fd, data[:3])  # part of it reached the file, then the disk was full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("callwatch.diskqueue._write_all", short)
    with pytest.raises(QueueError, match="No space"):
        spool.append([b"bbbbbb"])
    monkeypatch.undo()
    spool.append([b"c"])
    assert spool.peek(5) == [b"a", b"c"] and spool.depth == 2
    spool.close()
    again = DurableQueue(tmp_path)
    assert again.peek(5) == [b"a", b"c"] and again.corrupt == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("apx"), st.integers(1, 7)), max_size=30))
def test_queue_behaves_like_a_queue(tmp_path_factory, steps) -> None:
    directory = tmp_path_factory.mktemp("spool")
    spool = DurableQueue(directory, segment_bytes=300)
    model: list[str] = []
    counter = 0
    for op, n in steps:
        if op == "a":
            batch = msgs(counter, n)
            counter += n
            spool.append(batch)
            model.extend(ids(batch))
        elif op == "p":
            batch = msgs(counter, n)
            counter += n
            spool.prepend(batch)
            model[:0] = ids(batch)
        else:
            spool.ack(n)
            del model[:n]
        assert len(spool) == len(model)
        assert ids(spool.peek(1000)) == model
    spool.close()
    assert ids(DurableQueue(directory, segment_bytes=300).peek(1000)) == model


def test_a_cursor_into_segments_no_longer_there_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "cursor").write_text("1000000000 123\n")  # everything it pointed at is gone
    spool = DurableQueue(tmp_path)
    spool.append([b"a", b"b"])
    assert spool.peek(5) == [b"a", b"b"]
    spool.close()
    assert DurableQueue(tmp_path).peek(5) == [b"a", b"b"]
