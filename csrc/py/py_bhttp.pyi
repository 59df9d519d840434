# pcc._core: Binary HTTP (RFC 9292), from csrc/py/py_bhttp.c. Use pcc.bhttp instead.
BHTTP_MAX_MESSAGE: int
BHTTP_MAX_FIELDS: int
BHTTP_MAX_FIELD_SECTION: int
BHTTP_MAX_CONTROL: int
BHTTP_MAX_INFORMATIONAL: int

def bhttp_encode_request(method: bytes, scheme: bytes, authority: bytes, path: bytes,
                         headers: list[tuple[bytes, bytes]], content: bytes,
                         trailers: list[tuple[bytes, bytes]], known_length: bool, padding: int,
                         truncate: bool, /) -> bytes: ...
def bhttp_encode_response(status: int, informational: list[tuple[int, list[tuple[bytes, bytes]]]],
                          headers: list[tuple[bytes, bytes]], content: bytes,
                          trailers: list[tuple[bytes, bytes]], known_length: bool, padding: int,
                          truncate: bool, /) -> bytes: ...
def bhttp_decode(data: bytes | bytearray | memoryview, /) -> tuple[
    bool, int, tuple[bytes, bytes, bytes, bytes] | None, int,
    list[tuple[int, list[tuple[bytes, bytes]]]], list[tuple[bytes, bytes]], bytes,
    list[tuple[bytes, bytes]]]: ...

class BhttpResponseStream:
    def __init__(self) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview, /) -> tuple[
        tuple[int, list[tuple[int, list[tuple[bytes, bytes]]]], list[tuple[bytes, bytes]]] | None,
        bytes, list[tuple[bytes, bytes]] | None]: ...
    def finish(self) -> tuple[int, list[tuple[int, list[tuple[bytes, bytes]]]],
                              list[tuple[bytes, bytes]]] | None: ...
