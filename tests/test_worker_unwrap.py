"""The enclave's answer to a worker's unwrap, byte for byte: ``worker_unwrap_reply`` (the read
and answer steps together) replies exactly ``dk`` or ``refused`` in one fixed encoding, the
same bytes the enclave loop sends on a worker channel (tests/test_node_enclave.py checks those
against the same constants)."""
import os
import socket
import struct

import msgpack
import pytest

from pcc import _core, _request, hpke
from pcc.errors import DecryptError, FormatError, UnknownKeyError

REFUSED = b"\x00\x00\x00\x0c\x81\xa2op\xa7refused"          # {"op": "refused"}, framed
DK_PREFIX = b"\x00\x00\x00\x1c\x82\xa2op\xa2dk\xa2dk\xc4\x10"  # {"op": "dk", "dk": bin16}, framed


def test_constants_are_the_msgpack_encoding():
    assert REFUSED[4:] == msgpack.packb({"op": "refused"})
    assert DK_PREFIX[4:] + bytes(16) == msgpack.packb({"op": "dk", "dk": bytes(16)})
    assert struct.unpack(">I", DK_PREFIX[:4])[0] == len(DK_PREFIX) - 4 + 16


@pytest.fixture
def node():
    node_id, key_id = os.urandom(32), os.urandom(8)
    sk = hpke.PrivateKey.generate(0x20)
    return node_id, key_id, sk


def unwrap_msg(node, **over):
    node_id, key_id, sk = node
    body, _state = _request.seal_request([(node_id, key_id, sk.public_bytes())],
                                         [("user", "hi")], {"max_tokens": 1})
    k = body["keys"][0]
    m = {"op": "unwrap", "key_id": k["key_id"], "enc": k["enc"], "ct": k["ct"]}
    m.update(over)
    return msgpack.packb(m)


def answer(node, data):
    """Send data as the worker, run the enclave's side once; return (raw reply, error type)."""
    node_id, key_id, sk = node
    w, e = socket.socketpair()
    with w, e:
        w.sendall(data)
        err = None
        try:
            _core.worker_unwrap_reply(e.fileno(), [(key_id, sk, 0x20, 1, 1)], node_id)
        except Exception as ex:  # noqa: BLE001 - the type is what is checked
            err = type(ex)
        e.close()
        raw = b""
        while chunk := w.recv(4096):
            raw += chunk
    return raw, err


def framed(m):
    return struct.pack(">I", len(m)) + m


def test_dk_reply_bytes(node):
    raw, err = answer(node, framed(unwrap_msg(node)))
    assert err is None
    assert raw.startswith(DK_PREFIX) and len(raw) == len(DK_PREFIX) + 16


def test_unknown_key_is_refused(node):
    raw, err = answer(node, framed(unwrap_msg(node, key_id=bytes(8))))
    assert (raw, err) == (REFUSED, UnknownKeyError)


def test_bad_wrap_is_refused(node):
    raw, err = answer(node, framed(unwrap_msg(node, ct=bytes(32))))
    assert (raw, err) == (REFUSED, DecryptError)


def test_other_node_is_refused(node):
    raw, err = answer((os.urandom(32),) + node[1:], framed(unwrap_msg(node)))
    assert raw == REFUSED and err is not None


@pytest.mark.parametrize("msg", [
    b"\x93\x01\x02",                                                        # not a map
    msgpack.packb({"op": "unwrap", "key_id": "k" * 8, "enc": b"e", "ct": b"c" * 32}),  # str
    msgpack.packb({"op": "unwrap_", "key_id": b"k" * 8, "enc": b"e", "ct": b"c" * 32}),
    msgpack.packb({"op": "unwrap", "key_id": b"k" * 8, "enc": b"e"}),        # a field short
])
def test_malformed_unwrap_is_refused(node, msg):
    raw, err = answer(node, framed(msg))
    assert raw == REFUSED and err is FormatError


def test_over_the_cap_is_refused_unread(node):
    raw, err = answer(node, struct.pack(">I", 1 << 20))
    assert (raw, err) == (REFUSED, FormatError)
