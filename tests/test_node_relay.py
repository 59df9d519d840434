"""The service's split of a worker's stream (pcc.node._service._Relay): rnonce and whole answer
frames go to the client in any split of the input, spares (records flagged with the top bit) are
kept, and the spare for the first missing frame is what a dead worker's client gets."""
import os
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pcc.errors import StateError
from pcc.node._service import _Relay

SPARE = 0x80000000


def frame(n: int, tag: int) -> bytes:
    return struct.pack(">I", n) + bytes([tag]) * n


def spare(k: int) -> bytes:
    f = frame(40, 0xE0 + k % 16)
    return struct.pack(">I", len(f) | SPARE) + f


def worker_stream(n_frames: int, final: bool) -> tuple[bytes, bytes, list[bytes]]:
    """(what the worker writes, what the client must get, the spares by position)"""
    rnonce = os.urandom(16)
    out, client, spares = bytearray(rnonce + spare(0)), bytearray(rnonce), [spare(0)[4:]]
    for i in range(n_frames):
        f = frame(16 + i, i % 256)
        last = final and i == n_frames - 1
        if not last:
            out += spare(i + 1)
            spares.append(spare(i + 1)[4:])
        out += f
        client += f
    return bytes(out), bytes(client), spares


def feed_split(data: bytes, cuts: list[int]) -> tuple[_Relay, bytes]:
    r = _Relay()
    got = bytearray()
    prev = 0
    for c in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
        got += r.feed(data[prev:c])
        prev = c
    return r, bytes(got)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12), st.booleans(), st.lists(st.integers(0, 2000), max_size=20))
def test_any_split_gives_whole_frames(n, final, cuts):
    data, client, spares = worker_stream(n, final)
    r, got = feed_split(data, cuts)
    assert got == client and r.ready and r.frames == n
    # a finished answer leaves no spare to send; an unfinished one the spare for frame n
    assert r.abort() == (b"" if final and n else spares[n])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.data())
def test_cut_anywhere_the_client_gets_whole_frames_then_the_right_spare(n, data):
    stream, _, spares = worker_stream(n, True)
    cut = data.draw(st.integers(0, len(stream)))
    r, got = feed_split(stream[:cut], [])
    # the client's bytes are rnonce and whole frames only
    assert len(got) == 0 or len(got) >= 16
    off, frames = min(16, len(got)), 0
    while off < len(got):
        (m,) = struct.unpack_from(">I", got, off)
        off += 4 + m
        frames += 1
    assert off == len(got) and frames == r.frames
    if r.ready and frames < n:
        assert r.abort() == spares[frames]


def test_not_ready_before_the_first_spare():
    r = _Relay()
    assert r.feed(os.urandom(16)) == b"" or not r.ready
    assert not r.ready


@pytest.mark.parametrize("head", [struct.pack(">I", 15), struct.pack(">I", 1 << 20),
                                  struct.pack(">I", SPARE | 19),
                                  struct.pack(">I", SPARE | (1 << 20))],
                         ids=["short", "long", "short_spare", "long_spare"])
def test_a_broken_record_stops_the_relay(head):
    with pytest.raises(StateError):
        _Relay().feed(os.urandom(16) + head + bytes(32))
