"""Binary HTTP messages (RFC 9292, ``message/bhttp``).

:class:`Request` and :class:`Response` hold one HTTP message; :meth:`Request.encode` /
:meth:`Response.encode` write it in known-length (default) or indeterminate-length framing, and
:meth:`Request.decode` / :meth:`Response.decode` parse either framing, accepting the truncations of
RFC 9292 §3.8 (missing header section, content or trailers are empty) and trailing zero padding.

Field lines are ``(name, value)`` pairs. Names and values may be given as ``str`` (names ASCII,
values UTF-8) or bytes; they are stored, compared and returned by :meth:`decode` as ``bytes``.
Names must be lower-case tokens (RFC 9110 §5.1) and values must not contain NUL, CR or LF. Control
data (method, scheme, authority, path) is ASCII and is held as ``str``.

A response can also be produced and consumed as a stream in indeterminate-length framing (the
form a chunked OHTTP response carries): :func:`encode_response_head`,
:func:`encode_content_chunk` and :func:`encode_response_end` write its parts as they become
available, and :class:`ResponseDecoder` takes the bytes in pieces of any size, giving the head once
it is whole and content as it arrives.

Encoding rejects invalid input with :class:`~pcc.errors.InvalidArgument`; decoding rejects
malformed input with :class:`~pcc.errors.FormatError` and input past a size or count limit with
:class:`~pcc.errors.LimitError`. The parsing and encoding are done by the C core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence, Tuple, Union

from . import _core
from .errors import FormatError, InvalidArgument

__all__ = ["Request", "Response", "Field", "ResponseDecoder", "encode_response_head",
           "encode_content_chunk", "encode_response_end", "MAX_MESSAGE", "MAX_FIELDS", "MAX_FIELD_SECTION",
           "MAX_CONTROL", "MAX_INFORMATIONAL"]

Field = Tuple[bytes, bytes]
"""A field line as stored: ``(name, value)`` bytes."""

FieldLike = Tuple[Union[str, bytes, bytearray, memoryview], Union[str, bytes, bytearray, memoryview]]

MAX_MESSAGE: int = _core.BHTTP_MAX_MESSAGE
"""Largest encoded message (padding included) in bytes."""
MAX_FIELDS: int = _core.BHTTP_MAX_FIELDS
"""Most field lines in one field section."""
MAX_FIELD_SECTION: int = _core.BHTTP_MAX_FIELD_SECTION
"""Most bytes of names and values in one field section."""
MAX_CONTROL: int = _core.BHTTP_MAX_CONTROL
"""Longest method, scheme, authority or path."""
MAX_INFORMATIONAL: int = _core.BHTTP_MAX_INFORMATIONAL
"""Most informational (1xx) responses before a final response."""


def _as_bytes(v: object, what: str, text_encoding: str) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        try:
            return v.encode(text_encoding)
        except UnicodeEncodeError:
            raise InvalidArgument(f"bhttp: {what} must be {text_encoding}") from None
    raise TypeError(f"bhttp: {what} must be str or bytes, not {type(v).__name__}")


def _fields(fields: Iterable[FieldLike] | None, what: str) -> list[Field]:
    if fields is None:
        return []
    if isinstance(fields, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"bhttp: {what} must be a list of (name, value) pairs")
    out = []
    for item in fields:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"bhttp: each of {what} must be a (name, value) pair") from None
        out.append((_as_bytes(name, f"{what} name", "ascii"), _as_bytes(value, f"{what} value", "utf-8")))
    return out


def _control(v: object, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        try:
            return bytes(v).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidArgument(f"bhttp: {what} must be ASCII") from None
    raise TypeError(f"bhttp: {what} must be str or bytes, not {type(v).__name__}")


def _ascii(v: str, what: str) -> bytes:
    try:
        return v.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidArgument(f"bhttp: {what} must be ASCII") from None


def _check_padding(padding: int) -> int:
    if not isinstance(padding, int) or isinstance(padding, bool):
        raise TypeError("bhttp: padding must be an int")
    if padding < 0:
        raise InvalidArgument("bhttp: padding must be >= 0")
    return padding


def _decode(data: bytes | bytearray | memoryview, want_request: bool) -> tuple:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("bhttp: data must be bytes")
    t = _core.bhttp_decode(data)
    if t[0] != want_request:
        raise FormatError("bhttp: message is a %s, not a %s" % (
            ("request", "response") if t[0] else ("response", "request")))
    return t


@dataclass
class Request:
    """An HTTP request (RFC 9292 §3).

    ``method``, ``scheme``, ``authority`` and ``path`` are the request control data (str; bytes
    are accepted and decoded as ASCII). ``headers`` and ``trailers`` are lists of ``(name,
    value)`` pairs, normalised to bytes; ``content`` is bytes.
    """

    method: str
    scheme: str
    authority: str
    path: str
    headers: Sequence[FieldLike] = field(default_factory=list)
    content: bytes = b""
    trailers: Sequence[FieldLike] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.method = _control(self.method, "method")
        self.scheme = _control(self.scheme, "scheme")
        self.authority = _control(self.authority, "authority")
        self.path = _control(self.path, "path")
        self.headers = _fields(self.headers, "headers")
        self.trailers = _fields(self.trailers, "trailers")
        self.content = _as_bytes(self.content, "content", "utf-8")

    def encode(self, known_length: bool = True, *, padding: int = 0, truncate: bool = False) -> bytes:
        """Encode as ``message/bhttp``.

        known_length: known-length framing (True) or indeterminate-length framing (False).
        padding: number of zero bytes appended (RFC 9292 §3.8).
        truncate: omit trailing empty sections (trailers, then content, then header section).
        Raises InvalidArgument for an invalid method, scheme, authority, path, field name or
        value, LimitError past a size limit.
        """
        return _core.bhttp_encode_request(
            _ascii(self.method, "method"), _ascii(self.scheme, "scheme"),
            _ascii(self.authority, "authority"), _ascii(self.path, "path"),
            _fields(self.headers, "headers"), _as_bytes(self.content, "content", "utf-8"),
            _fields(self.trailers, "trailers"), bool(known_length), _check_padding(padding),
            bool(truncate))

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "Request":
        """Parse a ``message/bhttp`` request in either framing.

        Raises FormatError for malformed input (or a response), LimitError past a limit.
        """
        _, _, ctl, _, _, headers, content, trailers = _decode(data, True)
        method, scheme, authority, path = (c.decode("ascii") for c in ctl)
        return cls(method, scheme, authority, path, headers, content, trailers)


@dataclass
class Response:
    """An HTTP response (RFC 9292 §3), with optional informational (1xx) responses before it.

    ``status`` is the final status (200..599). ``informational`` is a list of ``(status,
    fields)`` with status 100..199. ``headers``, ``trailers`` and each informational field list
    are ``(name, value)`` pairs normalised to bytes; ``content`` is bytes.
    """

    status: int
    headers: Sequence[FieldLike] = field(default_factory=list)
    content: bytes = b""
    trailers: Sequence[FieldLike] = field(default_factory=list)
    informational: Sequence[Tuple[int, Sequence[FieldLike]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or isinstance(self.status, bool):
            raise TypeError("bhttp: status must be an int")
        self.headers = _fields(self.headers, "headers")
        self.trailers = _fields(self.trailers, "trailers")
        self.content = _as_bytes(self.content, "content", "utf-8")
        self.informational = self._norm_info(self.informational)

    @staticmethod
    def _norm_info(info: Sequence[Tuple[int, Iterable[FieldLike]]] | None) -> list[Tuple[int, list[Field]]]:
        out = []
        for item in info or []:
            try:
                status, fields = item
            except (TypeError, ValueError):
                raise TypeError("bhttp: each informational response is (status, fields)") from None
            if not isinstance(status, int) or isinstance(status, bool):
                raise TypeError("bhttp: informational status must be an int")
            out.append((status, _fields(fields, "informational fields")))
        return out

    def encode(self, known_length: bool = True, *, padding: int = 0, truncate: bool = False) -> bytes:
        """Encode as ``message/bhttp``.

        known_length: known-length framing (True) or indeterminate-length framing (False).
        padding: number of zero bytes appended (RFC 9292 §3.8).
        truncate: omit trailing empty sections (trailers, then content, then header section).
        Raises InvalidArgument for a final status outside 200..599, an informational status
        outside 100..199 or an invalid field, LimitError past a limit.
        """
        for status, _ in self.informational:
            if not 100 <= status <= 199:
                raise InvalidArgument("bhttp: informational status must be 100..199")
        if not 200 <= self.status <= 599:
            raise InvalidArgument("bhttp: final status must be 200..599")
        return _core.bhttp_encode_response(
            self.status, self._norm_info(self.informational), _fields(self.headers, "headers"),
            _as_bytes(self.content, "content", "utf-8"), _fields(self.trailers, "trailers"),
            bool(known_length), _check_padding(padding), bool(truncate))

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "Response":
        """Parse a ``message/bhttp`` response in either framing.

        Raises FormatError for malformed input (or a request), LimitError past a limit.
        """
        _, _, _, status, info, headers, content, trailers = _decode(data, False)
        return cls(status, headers, content, trailers, info)


# ---- streaming (indeterminate-length) responses ----

def _varint(n: int) -> bytes:
    for size, prefix in ((1, 0x00), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if n < 1 << (8 * size - 2):
            return (n | prefix << (8 * size - 8)).to_bytes(size, "big")
    raise InvalidArgument("bhttp: length too large")


def encode_response_head(status: int, headers: Iterable[FieldLike] | None = None,
                         informational: Sequence[Tuple[int, Iterable[FieldLike]]] | None = None
                         ) -> bytes:
    """The start of an indeterminate-length response: framing indicator, informational (1xx)
    responses, final status and header section. Follow it with :func:`encode_content_chunk`
    pieces and end it with :func:`encode_response_end`. Raises InvalidArgument for a bad status
    or field, LimitError past a limit."""
    info = [(s, list(f)) for s, f in (informational or [])]
    whole = Response(status, list(headers or []), b"", [], info)
    enc = whole.encode(known_length=False)
    # the whole message ends with the empty content's terminator and the empty trailer section
    assert enc[-2:] == b"\x00\x00"
    return enc[:-2]


def encode_content_chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One content chunk of an indeterminate-length message (its length and the bytes); empty
    ``data`` gives ``b""`` (a zero length would end the content)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("bhttp: content must be bytes")
    data = bytes(data)
    return _varint(len(data)) + data if data else b""


def encode_response_end(trailers: Iterable[FieldLike] | None = None) -> bytes:
    """The end of an indeterminate-length response: the content terminator and the trailer
    section. Raises InvalidArgument for an invalid field."""
    enc = Response(200, [], b"", list(trailers or [])).encode(known_length=False)
    # framing 3, status 200 (2 bytes), empty header section: then terminator and trailers
    return enc[4:]


class ResponseDecoder:
    """Decodes an indeterminate-length response that arrives in pieces.

    :meth:`feed` takes the next bytes, split anywhere, and returns the content they carry;
    :attr:`head` is set (a :class:`Response` with status, headers and informational responses,
    no content) as soon as the head is whole, and :attr:`trailers` once the trailer section is.
    :meth:`finish` must be called at the end of the stream: it raises FormatError if the
    response was cut where RFC 9292 §3.8 does not allow it. Raises FormatError for malformed
    input (including another framing), LimitError past a limit; after an error, and after
    :meth:`finish`, every call raises StateError. The head and trailers are validated exactly
    as :meth:`Response.decode` validates a whole message.
    """

    __slots__ = ("_s", "head", "trailers", "done")

    def __init__(self) -> None:
        self._s = _core.BhttpResponseStream()
        self.head: Response | None = None
        self.trailers: list[Field] | None = None
        self.done = False

    def __repr__(self) -> str:
        state = "done" if self.done else "head" if self.head is not None else "start"
        status = "" if self.head is None else f", status={self.head.status}"
        return f"bhttp.ResponseDecoder(state={state}{status})"

    def _set_head(self, t: tuple) -> None:
        status, info, headers = t
        self.head = Response(status, headers, b"", [], info)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take the next bytes of the response; returns the content bytes among them."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("bhttp: data must be bytes")
        head, content, trailers = self._s.feed(data)
        if head is not None:
            self._set_head(head)
        if trailers is not None:
            self.trailers = trailers
        return content

    def finish(self) -> None:
        """End of the stream: check the response is whole (or cut where RFC 9292 allows; the
        missing sections are then empty)."""
        head = self._s.finish()
        if head is not None:
            self._set_head(head)
        if self.trailers is None:
            self.trailers = []
        self.done = True
