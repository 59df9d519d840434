"""Client side of a private inference request: seal it to chosen nodes, open the streamed answer.

``seal_request`` draws a fresh 16-byte request key (DK) in the C core, seals it with HPKE to every
node key given, and encrypts the chat payload under it in chunks of at most 16 KiB. It returns the
parts of the invoke body and a :class:`RequestState` that keeps DK in secure memory: DK never
becomes a Python object. ``state.reader(node_id)`` makes an :class:`AnswerReader` for the answer
of whichever node served the request; feed it the answer bytes as they arrive::

    body, state = seal_request(node_keys, [("user", "Hello")], Params(max_tokens=64),
                               model="smollm2")           # the invoke body, msgpack-encode it
    reader = state.reader(node_id_from_the_pcc_node_header)
    for data in stream:
        for event in reader.feed(data):
            ...                                           # str, Done or Failed
    reader.finish()                                       # FormatError if truncated

The node's side (unwrap, decrypt, parse, seal the answer) runs in the node's C code only.

Errors (from :mod:`pcc.errors`): ``InvalidArgument`` for bad node keys, roles or parameters,
``UnsupportedError`` for a suite that is not offered, ``FormatError`` for an invalid node public
key or a malformed or truncated answer, ``DecryptError`` (no detail) for an answer frame that
does not open (another key, tampered, reordered, dropped), ``StateError`` for a reader used after
it failed, ``TypeError`` for wrong Python types.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from pcc import _core, hpke
from pcc.errors import InvalidArgument

Buffer = Union[bytes, bytearray, memoryview]

DEFAULT_SUITE = hpke.Suite(hpke.KEM_X25519_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)
ROLES = ("system", "user", "assistant")
ERROR_CODES = ("bad_request", "too_long", "overloaded", "internal")
CHUNK_MAX = 16384
"""Plaintext bytes per request chunk and per answer chunk."""


@dataclass(frozen=True)
class NodeKey:
    """A verified node's HPKE key: its node id (32 bytes), key id (8 bytes), public key, suite."""

    node_id: bytes
    key_id: bytes
    public_key: bytes
    suite: hpke.Suite = DEFAULT_SUITE


@dataclass(frozen=True)
class Params:
    """Sampling parameters; all five travel in every request."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: Optional[int] = None


@dataclass(frozen=True)
class Done:
    """The final chunk of a completed answer, with its token counts."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """The final chunk of an answer the node refused or could not finish (``code`` is one of
    ``ERROR_CODES``)."""

    code: str


AnswerEvent = Union[str, Done, Failed]


class AnswerReader:
    """Opens one node's answer stream incrementally (any split of the bytes)."""

    __slots__ = ("_r",)

    def __init__(self, reader: _core.AnswerReader) -> None:
        self._r = reader

    @property
    def done(self) -> bool:
        """True once the final chunk has been read."""
        return self._r.done

    def feed(self, data: Buffer) -> List[AnswerEvent]:
        """Take the next bytes of the stream; return the events of the frames they complete:
        text pieces as ``str``, then one :class:`Done` or :class:`Failed`."""
        out: List[AnswerEvent] = []
        for ev in self._r.feed(data):
            if isinstance(ev, str):
                out.append(ev)
            elif len(ev) == 3:                         # ("done", prompt, completion)
                out.append(Done(int(ev[1]), int(ev[2])))
            else:
                out.append(Failed(str(ev[1])))
        return out

    def finish(self) -> None:
        """Call at the end of the stream: raises FormatError if no final chunk arrived."""
        self._r.finish()


class RequestState:
    """What a client keeps to read the answer: DK (in C secure memory) and the node ids."""

    __slots__ = ("_dk", "node_ids")

    def __init__(self, dk: _core.RequestKey, node_ids: Tuple[bytes, ...]) -> None:
        self._dk = dk
        self.node_ids = node_ids

    def reader(self, node_id: bytes) -> AnswerReader:
        """An answer reader for node_id, which must be one of the nodes the request was sealed
        to (InvalidArgument otherwise)."""
        if bytes(node_id) not in self.node_ids:
            raise InvalidArgument("the answer names a node the request was not sealed to")
        return AnswerReader(self._dk.answer_reader(node_id))

    def __repr__(self) -> str:
        return f"RequestState(nodes={len(self.node_ids)})"


def _node_tuple(k: Union[NodeKey, Tuple]) -> Tuple[bytes, bytes, bytes, int, int, int]:
    if isinstance(k, NodeKey):
        node_id, key_id, pk, suite = k.node_id, k.key_id, k.public_key, k.suite
    else:
        node_id, key_id, pk, *rest = k
        suite = rest[0] if rest else DEFAULT_SUITE
    if isinstance(suite, tuple):
        suite = hpke.Suite(*suite)
    if not isinstance(suite, hpke.Suite):
        raise TypeError("a node key's suite must be a pcc.hpke.Suite")
    return bytes(node_id), bytes(key_id), bytes(pk), suite.kem, suite.kdf, suite.aead


def _message(m: Union[Mapping[str, str], Tuple[str, str]]) -> Tuple[str, str]:
    if isinstance(m, Mapping):
        extra = set(m) - {"role", "content"}
        if extra:
            raise InvalidArgument("a message has only 'role' and 'content'")
        role, content = m["role"], m["content"]
    else:
        role, content = m
    if not isinstance(role, str) or not isinstance(content, str):
        raise TypeError("a message's role and content must be str")
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}")
    return role, content


def _params(p: Union[Params, Mapping[str, object], None]) -> Params:
    if p is None:
        return Params()
    if isinstance(p, Params):
        return p
    if isinstance(p, Mapping):
        unknown = set(p) - {"max_tokens", "temperature", "top_p", "top_k", "seed"}
        if unknown:
            raise InvalidArgument("unknown sampling parameter")
        return Params(**p)  # type: ignore[arg-type]
    raise TypeError("params must be a Params or a mapping")


def _check_params(p: Params) -> None:
    for name in ("max_tokens", "top_k"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int")
    for name in ("temperature", "top_p"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name} must be a float")
    if p.seed is not None and (isinstance(p.seed, bool) or not isinstance(p.seed, int)):
        raise TypeError("seed must be an int or None")
    if p.max_tokens < 1 or p.top_k < 0 or (p.seed is not None and not 0 <= p.seed < 2**64):
        raise InvalidArgument("max_tokens must be >= 1, top_k >= 0, seed in [0, 2**64)")


def seal_request(node_keys: Sequence[Union[NodeKey, Tuple]],
                 messages: Iterable[Union[Mapping[str, str], Tuple[str, str]]],
                 params: Union[Params, Mapping[str, object], None] = None,
                 *, model: Optional[str] = None, pad: bool = False
                 ) -> Tuple[dict, RequestState]:
    """Seal a chat request to 1-16 nodes.

    ``node_keys`` are :class:`NodeKey` or ``(node_id, key_id, public_key[, suite])`` tuples;
    ``messages`` are ``{"role", "content"}`` mappings or ``(role, content)`` pairs. Returns
    ``({"keys": [{"node", "key_id", "enc", "ct"}...], "nonce": bytes, "body": [bytes...]},
    state)``, with ``"v": 1`` and ``"model"`` first when ``model`` is given: the invoke body,
    ready to msgpack-encode. The gateway sends each node only its own entry of ``"keys"``.
    ``pad``: the payload gets a ``"pad"`` bin of zeros so that its encoding is exactly a size
    bucket (the rule of :func:`pcc._padding.pad_payload`; padded in C, so the payload never
    becomes a Python object), and the sealed body shows only the bucket.
    """
    if model is not None and not isinstance(model, str):
        raise TypeError("model must be str")
    keys = [_node_tuple(k) for k in node_keys]
    msgs = [_message(m) for m in messages]
    p = _params(params)
    _check_params(p)
    body, dk = _core.request_seal(keys, msgs, p.max_tokens, float(p.temperature),
                                  float(p.top_p), p.top_k, p.seed, bool(pad))
    if model is not None:
        body = {"v": 1, "model": model, **body}
    return body, RequestState(dk, tuple(k[0] for k in keys))


__all__ = ["NodeKey", "Params", "Done", "Failed", "AnswerEvent", "AnswerReader", "RequestState",
           "seal_request", "DEFAULT_SUITE", "ROLES", "ERROR_CODES", "CHUNK_MAX"]
