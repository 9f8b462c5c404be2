"""The publisher's on-disk spool: order, bounds, reopening, torn writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.bus.errors import SpoolFull
from callwatch.bus.payloads import Message
from callwatch.bus.spool import MessageSpool


def msgs(start: int, count: int) -> list[Message]:
    return [
        Message("event", f"callwatch/s/events/민원/{i}", f'{{"n":{i},"d":"민원"}}', f"m{i}")
        for i in range(start, start + count)
    ]


def ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]


def test_fifo_across_segments_and_reopen(tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path, segment_bytes=400)
    spool.append(msgs(0, 10))
    spool.append(msgs(10, 10))
    assert len(list(tmp_path.glob("*.jsonl"))) > 1
    assert ids(spool.peek(3)) == ["m0", "m1", "m2"]
    assert ids(spool.peek(3)) == ["m0", "m1", "m2"]  # peeking consumes nothing
    spool.ack(4)
    assert len(spool) == 16
    spool.close()
    again = MessageSpool(tmp_path, segment_bytes=400)
    assert len(again) == 16
    assert ids(again.peek(100)) == [f"m{i}" for i in range(4, 20)]
    assert again.peek(1)[0].payload == '{"n":4,"d":"민원"}'
    again.ack(16)
    assert len(again) == 0
    assert again.bytes == 0
    assert list(tmp_path.glob("*.jsonl")) == []  # consumed segments are deleted


def test_prepend_goes_before_everything_pending(tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path)
    spool.append(msgs(0, 5))
    spool.ack(2)
    spool.prepend(msgs(100, 2))
    spool.append(msgs(5, 1))
    assert ids(spool.peek(10)) == ["m100", "m101", "m2", "m3", "m4", "m5"]
    spool.close()
    assert ids(MessageSpool(tmp_path).peek(10)) == ["m100", "m101", "m2", "m3", "m4", "m5"]


def test_full_spool_refuses_a_whole_batch(tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path, max_bytes=1000)
    spool.append(msgs(0, 5))
    before = len(spool)
    with pytest.raises(SpoolFull, match="limit of 1000"):
        spool.append(msgs(5, 20))
    assert len(spool) == before
    assert ids(spool.peek(100)) == [f"m{i}" for i in range(5)]
    spool.ack(5)
    spool.append(msgs(5, 5))  # room again once drained
    assert len(spool) == 5


def test_torn_last_record_is_cut_and_counted(tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path)
    spool.append(msgs(0, 3))
    spool.close()
    (segment,) = tmp_path.glob("*.jsonl")
    with segment.open("ab") as fh:
        fh.write(b'{"k":"event","t":"x","i":"torn"')  # the process died mid-write
    again = MessageSpool(tmp_path)
    assert again.corrupt == 1
    assert ids(again.peek(10)) == ["m0", "m1", "m2"]
    again.append(msgs(3, 1))
    assert ids(again.peek(10)) == ["m0", "m1", "m2", "m3"]


def test_bad_line_is_skipped(tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path)
    spool.append(msgs(0, 1))
    spool.close()
    (segment,) = tmp_path.glob("*.jsonl")
    with segment.open("ab") as fh:
        fh.write(b"not json\n")
    again = MessageSpool(tmp_path)
    again.append(msgs(1, 1))
    assert ids(again.peek(10)) == ["m0", "m1"]
    assert again.corrupt >= 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("apx"), st.integers(1, 7)), max_size=30))
def test_spool_behaves_like_a_queue(tmp_path_factory, steps) -> None:
    directory = tmp_path_factory.mktemp("spool")
    spool = MessageSpool(directory, segment_bytes=300)
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
    assert ids(MessageSpool(directory, segment_bytes=300).peek(1000)) == model
