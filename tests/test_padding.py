"""Size padding (pcc._padding): inner BHTTP messages, the request payload and the answer stream
are padded to buckets, so what the relay and the gateway see reveals only the bucket."""
from __future__ import annotations

import os
import random

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings, strategies as st

from pcc import _core
from pcc import _padding as padding
from pcc import bhttp, hpke, ohttp
from pcc.errors import FormatError, InvalidArgument

KIB = 1024


@pytest.mark.parametrize("n,want", [
    (0, KIB), (1, KIB), (KIB, KIB), (KIB + 1, 2 * KIB), (3000, 4 * KIB), (16 * KIB, 16 * KIB),
    (16 * KIB + 1, 32 * KIB), (64 * KIB, 64 * KIB), (64 * KIB + 1, 128 * KIB),
    (128 * KIB, 128 * KIB), (128 * KIB + 1, 192 * KIB), (1_000_000, 16 * 64 * KIB),
])
def test_bucket_boundaries(n, want):
    assert padding.bucket(n) == want


def test_bucket_list():
    assert padding.buckets(256 * KIB) == [KIB * b for b in (1, 2, 4, 8, 16, 32, 64, 128, 192,
                                                            256)]


def test_bucket_bad_arguments():
    with pytest.raises(InvalidArgument):
        padding.bucket(-1)
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError):
            padding.bucket(bad)


def _request(content: bytes, path: str = "/v1/invoke") -> bhttp.Request:
    return bhttp.Request("POST", "https", "gateway.example:8443", path,
                         [("content-type", "application/pcc-request+msgpack"),
                          ("authorization", 'PrivateToken token="' + "A" * 300 + '"')], content)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 200_000), st.booleans())
def test_bhttp_request_padded_to_bucket(n, known):
    req = _request(bytes(n))
    enc = padding.encode_request(req, known)
    assert len(enc) == padding.bucket(len(req.encode(known)))
    dec = bhttp.Request.decode(enc)
    assert dec.content == req.content and dec.path == req.path


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100_000), st.booleans())
def test_bhttp_response_padded_to_bucket(n, known):
    resp = bhttp.Response(200, [("content-type", "application/pcc-answer"),
                                ("pcc-node", "ab" * 32)], os.urandom(n))
    enc = padding.encode_response(resp, known)
    assert len(enc) == padding.bucket(len(resp.encode(known)))
    assert bhttp.Response.decode(enc).content == resp.content


def test_bhttp_type_errors():
    with pytest.raises(TypeError):
        padding.encode_request(bhttp.Response(200))          # type: ignore[arg-type]
    with pytest.raises(TypeError):
        padding.encode_response(_request(b""))               # type: ignore[arg-type]


def test_relay_sees_only_the_bucket():
    """Encapsulated (OHTTP) requests of very different prompt sizes in one bucket have one
    size; the next bucket gives another size."""
    sk = hpke.PrivateKey.generate(0x0020)
    cfg = ohttp.KeyConfig(1, 0x0020, sk.public_bytes(), [(0x0001, 0x0001)])
    sizes = set()
    for n in (0, 17, 200, 500):                     # all fit in the 1 KiB bucket
        enc, _ = ohttp.encapsulate_request(cfg, padding.encode_request(_request(bytes(n))))
        sizes.add(len(enc))
    assert len(sizes) == 1
    enc, _ = ohttp.encapsulate_request(cfg, padding.encode_request(_request(bytes(900))))
    assert len(enc) > max(sizes)
    gw = ohttp.Gateway([(cfg, sk)])
    inner, _ = gw.decapsulate(enc)
    assert bhttp.Request.decode(inner).content == bytes(900)


# ----------------------------------------------------------------------------- payload

@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(0, 5))
def test_payload_padded_to_bucket(prompt, turns):
    messages = [{"role": "user", "content": prompt}] * (turns + 1)
    params = {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None}
    out = padding.pad_payload(messages, params)
    plain = msgpack.packb({"messages": messages, "params": params}, use_bin_type=True)
    assert len(out) in padding.buckets(1 << 20) and len(out) >= len(plain)
    d = msgpack.unpackb(out, raw=False)
    assert padding.strip_pad(d) == {"messages": messages, "params": params}


def test_pad_map_hits_every_size_across_msgpack_header_steps():
    """The pad's bin header grows at 256 and 65536 bytes; sizes it cannot hit exactly move to
    the next bucket, and every result is exactly a bucket."""
    for n in list(range(0, 1100)) + list(range(64 * KIB - 1100, 64 * KIB + 40)) + \
            [random.Random(n).randrange(200_000) for n in range(200)]:
        out = padding.pad_map({"x": bytes(n)})
        assert len(out) == padding.bucket(len(out)), n
        assert len(out) in (padding.bucket(n + 8), padding.bucket(padding.bucket(n + 8) + 1))
        assert padding.strip_pad(msgpack.unpackb(out)) == {"x": bytes(n)}


def test_pad_map_refuses():
    with pytest.raises(InvalidArgument):
        padding.pad_map({"pad": b""})
    with pytest.raises(InvalidArgument):
        padding.pad_map({}, -1)


@pytest.mark.parametrize("pad", [b"\x01", "", 0, [b""], b"\x00" * 10 + b"\x02"])
def test_strip_pad_refuses_bad_pad(pad):
    with pytest.raises(FormatError):
        padding.strip_pad({"done": True, "pad": pad})


def test_strip_pad_passes_through():
    assert padding.strip_pad({"text": "hi"}) == {"text": "hi"}
    assert padding.strip_pad([1]) == [1]


# ----------------------------------------------------------------------------- answers

def _answer_stream(texts: list[str], usage: dict) -> bytes:
    """An application/pcc-answer stream sealed with real AES-128-GCM: response nonce, then
    frames (4-byte length, sealed chunk); the final chunk padded."""
    key, base = os.urandom(16), os.urandom(12)
    aead = AESGCM(key)
    out = bytearray(os.urandom(16))
    for i, t in enumerate(texts + [None]):
        nonce = (int.from_bytes(base, "big") ^ i).to_bytes(12, "big")
        if t is None:
            pt = padding.pad_answer_final(usage, len(out))
            ct = aead.encrypt(nonce, pt, b"final")
        else:
            ct = aead.encrypt(nonce, msgpack.packb({"text": t}), b"")
        out += len(ct).to_bytes(4, "big") + ct
    return bytes(out)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=300), st.integers(0, 4096))
def test_answer_stream_ends_on_a_bucket(texts, ntok):
    stream = _answer_stream(texts, {"prompt_tokens": ntok, "completion_tokens": len(texts)})
    assert len(stream) == padding.bucket(len(stream))


def test_answers_of_different_lengths_share_a_size():
    sizes = {len(_answer_stream(["word "] * n, {"prompt_tokens": 9, "completion_tokens": n}))
             for n in (0, 1, 5, 20)}
    assert sizes == {KIB}
    assert len(_answer_stream(["word "] * 60, {"prompt_tokens": 9, "completion_tokens": 60})) \
        == 2 * KIB


def test_final_chunk_is_the_documented_map():
    pt = padding.pad_answer_final({"prompt_tokens": 3, "completion_tokens": 4}, 16 + 30)
    d = msgpack.unpackb(pt, raw=False)
    assert set(d) == {"done", "usage", "pad"} and d["done"] is True
    assert padding.strip_pad(d) == {"done": True,
                                    "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    assert 16 + 30 + padding.FRAME_OVERHEAD + len(pt) == KIB
    with pytest.raises(InvalidArgument):
        padding.pad_answer_final({}, 3)


# ---- the node's C implementation of the same rule ------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1 << 22))
def test_c_bucket_equals_python(n):
    assert _core._testing_answer_bucket(n) == padding.bucket(n)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.integers(16, 300_000))
def test_c_final_chunk_equals_python(p, c, sent):
    # the worker pads its final chunk byte for byte as pad_answer_final does
    chunk = _core._testing_answer_encode(("done", p, c))
    usage = {"prompt_tokens": p, "completion_tokens": c}
    assert _core._testing_answer_pad(chunk, sent) == padding.pad_answer_final(usage, sent)


@pytest.mark.parametrize("code", ["bad_request", "too_long", "overloaded", "internal"])
@pytest.mark.parametrize("sent", [16, 16 + 21, 1000, 1024 - 20 - 25, 1025, 16000, 32768,
                                  65536 - 100, 65536 + 1, 200_000])
def test_c_error_chunk_lands_on_a_bucket(code, sent):
    out = _core._testing_answer_pad(_core._testing_answer_encode(("error", code)), sent)
    assert sent + padding.FRAME_OVERHEAD + len(out) == padding.bucket(
        sent + padding.FRAME_OVERHEAD + len(out))
    assert padding.strip_pad(msgpack.unpackb(out)) == {"error": code}
    assert out == padding.pad_map({"error": code}, sent + padding.FRAME_OVERHEAD)


# known answers on sizes (computed with pad_answer_final): (sent, plaintext length)
@pytest.mark.parametrize("sent,length", [(16, 988), (500, 504), (1004, 1024), (1005, 1023),
                                         (5000, 3172), (40000, 25516), (70000, 61052)])
def test_c_final_chunk_sizes_known_answers(sent, length):
    chunk = _core._testing_answer_encode(("done", 7, 9))
    assert len(padding.pad_answer_final({"prompt_tokens": 7, "completion_tokens": 9}, sent)) \
        == length
    assert len(_core._testing_answer_pad(chunk, sent)) == length


@pytest.mark.parametrize("prompt", ["", "hi", "x" * 900, "y" * 1000, "z" * 5000, "é" * 20000])
def test_client_payload_is_padded_as_pad_payload(prompt):
    # seal_request(pad=True) pads in C what pad_payload pads in Python, byte for byte
    from pcc import _request
    node_id, key_id = os.urandom(32), os.urandom(8)
    sk = hpke.PrivateKey.generate(0x20)
    params = {"max_tokens": 16, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7}
    body, state = _request.seal_request([(node_id, key_id, sk.public_bytes())],
                                        [("user", prompt)], params, pad=True)
    plain = _core._testing_request_open(state._dk, body["nonce"], body["body"], 1 << 20)
    want = padding.pad_payload([{"role": "user", "content": prompt}], params)
    assert len(plain) == padding.bucket(len(plain)) == len(want)
    assert msgpack.unpackb(plain) == msgpack.unpackb(want)
    unpadded, _ = _request.seal_request([(node_id, key_id, sk.public_bytes())],
                                        [("user", prompt)], params)
    assert len(unpadded["body"]) <= len(body["body"])
