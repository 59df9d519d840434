"""Size padding: requests and answers reveal only a size bucket.

Who sees sizes: the relay sees the encapsulated OHTTP request and response; the gateway sees the
inner binary-HTTP request (with the sealed request payload inside) and the node's sealed answer
stream. Each is padded here so its length is one of the :func:`bucket` sizes:

- **inner BHTTP messages** (:func:`encode_request`, :func:`encode_response`): RFC 9292 §3.8
  zero padding after the message, so the encoded message is exactly a bucket long (OHTTP adds a
  fixed overhead, so the relay sees the bucket too). Any RFC 9292 decoder ignores the padding.
- **the request payload** sealed under the request key (:func:`pad_payload`): the payload map
  ``{"messages", "params"}`` gets one more key, ``"pad"``, a msgpack bin of zero bytes, sized so
  the payload's msgpack encoding is exactly a bucket long. Chunking and sealing add a fixed
  overhead per 16 KiB chunk, so the sealed body's size is a function of the bucket alone.
- **the answer stream** (:func:`pad_answer_final`): the final answer chunk
  ``{"done": true, "usage": {...}}`` gets the same ``"pad"`` key, sized so the whole
  ``application/pcc-answer`` stream (response nonce, every frame's length prefix, ciphertext and
  tag) ends exactly on a bucket. Readers ignore ``"pad"`` (:func:`strip_pad` checks it is a bin
  of zeros and removes it).

Buckets: powers of two from 1 KiB to 64 KiB (1, 2, 4, 8, 16, 32, 64 KiB), then multiples of
64 KiB. Padding costs less than half the message below 64 KiB and less than 64 KiB above it.
What padding does not hide: the number of answer frames while an answer streams (one frame per
text piece, each padded by nothing), the timing of frames, and which bucket a message is in.
"""
from __future__ import annotations

from typing import Any, Mapping

import msgpack

from pcc import bhttp
from pcc.errors import FormatError, InvalidArgument

#: Smallest bucket.
MIN_BUCKET = 1024
#: Largest power-of-two bucket; above it buckets are multiples of it.
STEP = 64 * 1024
#: Bytes a sealed frame adds to its plaintext in the answer stream: a 4-byte length and a
#: 16-byte AES-GCM tag.
FRAME_OVERHEAD = 4 + 16
#: Length of the response nonce that starts the answer stream.
RNONCE_LEN = 16
#: The key that carries padding in the payload and the final answer chunk.
PAD_KEY = "pad"


def bucket(n: int) -> int:
    """The padded size of an ``n``-byte message: the smallest bucket that holds ``n`` bytes."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("size must be an int")
    if n < 0:
        raise InvalidArgument("size must be >= 0")
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    if n <= STEP:
        return 1 << (n - 1).bit_length()
    return -(-n // STEP) * STEP


def buckets(limit: int) -> list[int]:
    """Every bucket size up to ``limit`` (for documentation and tests)."""
    out = []
    b = MIN_BUCKET
    while b <= limit:
        out.append(b)
        b = bucket(b + 1)
    return out


def _message(msg: Any, known_length: bool) -> bytes:
    plain = msg.encode(known_length)
    padded = msg.encode(known_length, padding=bucket(len(plain)) - len(plain))
    return padded


def encode_request(req: bhttp.Request, known_length: bool = True) -> bytes:
    """``req`` encoded as binary HTTP with zero padding up to its bucket."""
    if not isinstance(req, bhttp.Request):
        raise TypeError("req must be a bhttp.Request")
    return _message(req, known_length)


def encode_response(resp: bhttp.Response, known_length: bool = True) -> bytes:
    """``resp`` encoded as binary HTTP with zero padding up to its bucket."""
    if not isinstance(resp, bhttp.Response):
        raise TypeError("resp must be a bhttp.Response")
    return _message(resp, known_length)


def _bin_extra(length: int) -> int:
    """Bytes a msgpack bin of ``length`` adds beyond an empty bin (``c4 00``)."""
    if length <= 0xFF:
        return length
    if length <= 0xFFFF:
        return length + 1
    return length + 3


def _pad_len(extra: int) -> int | None:
    """The bin length whose encoding adds exactly ``extra`` bytes, or None if none does."""
    for length in (extra, extra - 1, extra - 3):
        if length >= 0 and _bin_extra(length) == extra:
            return length
    return None


def pad_map(d: Mapping[str, Any], before: int = 0) -> bytes:
    """msgpack-encode the map ``d`` plus a ``"pad"`` bin of zeros, sized so that ``before +``
    the encoding's length is exactly a bucket (``before``: bytes that precede or frame it)."""
    if PAD_KEY in d:
        raise InvalidArgument('the map already has a "pad" key')
    if not isinstance(before, int) or isinstance(before, bool) or before < 0:
        raise InvalidArgument("before must be a non-negative int")
    body = dict(d)
    body[PAD_KEY] = b""
    base = len(msgpack.packb(body, use_bin_type=True))
    target = bucket(before + base)
    while True:
        length = _pad_len(target - before - base)
        if length is not None:
            break
        target = bucket(target + 1)        # a size msgpack's bin headers cannot hit exactly
    body[PAD_KEY] = bytes(length)
    out = msgpack.packb(body, use_bin_type=True)
    assert before + len(out) == target
    return out


def pad_payload(messages: list, params: Mapping[str, Any]) -> bytes:
    """The request payload ``{"messages", "params", "pad"}`` encoded to exactly a bucket."""
    return pad_map({"messages": messages, "params": dict(params)})


def pad_answer_final(usage: Mapping[str, int], sent: int) -> bytes:
    """The plaintext of the final answer chunk, ``{"done": true, "usage": usage, "pad": zeros}``,
    sized so that the answer stream ends on a bucket: ``sent`` is the number of stream bytes
    already written (the 16-byte response nonce and every earlier frame with its length and
    tag); the final frame adds its plaintext plus :data:`FRAME_OVERHEAD`."""
    if not isinstance(sent, int) or isinstance(sent, bool) or sent < RNONCE_LEN:
        raise InvalidArgument("sent must count at least the 16-byte response nonce")
    return pad_map({"done": True, "usage": dict(usage)}, sent + FRAME_OVERHEAD)


def strip_pad(d: Any) -> Any:
    """A decoded payload or answer chunk without its ``"pad"`` key (returned unchanged when it
    has none). Raises :class:`FormatError` when ``"pad"`` is not a bin of zero bytes."""
    if not isinstance(d, dict) or PAD_KEY not in d:
        return d
    pad = d[PAD_KEY]
    if not isinstance(pad, bytes) or pad.count(0) != len(pad):
        raise FormatError('"pad" must be a msgpack bin of zero bytes')
    return {k: v for k, v in d.items() if k != PAD_KEY}
