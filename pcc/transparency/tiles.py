"""C2SP tlog-tiles: tile paths, tile geometry and entry bundles.

A tiled log (https://c2sp.org/tlog-tiles) serves its Merkle tree as *tiles*: 256 consecutive
hashes at tree height ``8 * L`` for tile level ``L``. The ``n``-th tile at level ``L`` holds,
for ``i`` in 0..255, ``MTH(D[(n*256+i) * 256**L : (n*256+i+1) * 256**L])``. In RFC 9162 terms
hash ``i`` of that tile is the complete subtree of height ``8*L`` with index ``n*256+i``.

Paths: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]`` where ``<N>`` is written in
zero-padded 3-digit groups, all but the last prefixed with ``x`` (1234067 -> ``x001/x234/067``).
Entry bundles are a sequence of big-endian uint16 length-prefixed entries.

Everything here is pure and bounds-checked; parsers raise :class:`pcc.errors.FormatError`.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Iterator

from pcc.errors import FormatError, InvalidArgument

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT          # 256 hashes per full tile
HASH_SIZE = 32
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_LEVEL = 63                         # spec: <L> is 0..63
MAX_ENTRY_SIZE = 0xFFFF                # entries are uint16 length-prefixed
# Tile indexes are bounded by the largest tree size a uint64 can express.
MAX_TREE_SIZE = (1 << 63) - 1
# At most 7 groups of 3 digits cover any index below 2**63 (19 digits).
_MAX_GROUPS = 7

_GROUP_RE = re.compile(r"^x[0-9]{3}$")
_LAST_RE = re.compile(r"^[0-9]{3}$")
_DEC_RE = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile: ``level`` (0..63, or -1 for an entry bundle), ``index`` and ``width``.

    ``width`` is 256 for a full tile and 1..255 for a partial tile.
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        """True for an entry bundle (``tile/entries/...``)."""
        return self.level < 0

    @property
    def is_partial(self) -> bool:
        """True for a partial tile (fewer than 256 hashes or entries)."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path below the log prefix, e.g. ``tile/0/x001/234.p/7``."""
        head = "tile/entries/" if self.is_entries else f"tile/{self.level}/"
        tail = f".p/{self.width}" if self.is_partial else ""
        return head + encode_index(self.index) + tail

    @property
    def start(self) -> int:
        """Index (at the tile's own level) of the tile's first hash: ``index * 256``."""
        return self.index * TILE_WIDTH

    def node_level(self) -> int:
        """RFC 9162 subtree height of the hashes in this tile (``8 * level``; 0 for entries)."""
        return 0 if self.is_entries else TILE_HEIGHT * self.level


def encode_index(n: int) -> str:
    """Encode a tile index as 3-digit path groups: 1234067 -> ``x001/x234/067``."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("tile index must be an int")
    if n < 0 or n > MAX_TREE_SIZE:
        raise InvalidArgument("tile index out of range")
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])


def _parse_index(parts: list[str]) -> int:
    if not parts or len(parts) > _MAX_GROUPS:
        raise FormatError("tile path: bad index")
    n = 0
    for p in parts[:-1]:
        if not _GROUP_RE.match(p):
            raise FormatError("tile path: bad index group")
        n = n * 1000 + int(p[1:])
    if not _LAST_RE.match(parts[-1]):
        raise FormatError("tile path: bad index group")
    n = n * 1000 + int(parts[-1])
    # Exactly one canonical encoding: no leading "x000/" groups.
    if len(parts) > 1 and parts[0] == "x000":
        raise FormatError("tile path: index has a leading zero group")
    if n > MAX_TREE_SIZE:
        raise FormatError("tile path: index out of range")
    return n


def parse_path(path: str) -> Tile:
    """Parse a tile path (``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``).

    The leading ``/`` is optional. Only the canonical encoding is accepted: no leading zeroes in
    ``<L>`` or ``<W>``, ``<W>`` in 1..255, ``<L>`` in 0..63, 3-digit groups with ``x`` prefixes.
    Raises :class:`FormatError` otherwise.
    """
    if not isinstance(path, str):
        raise TypeError("path must be a str")
    if len(path) > 128:
        raise FormatError("tile path: too long")
    parts = (path[1:] if path.startswith("/") else path).split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise FormatError("tile path: must start with tile/")
    if parts[1] == "entries":
        level = -1
    else:
        if not _DEC_RE.match(parts[1]) or int(parts[1]) > MAX_LEVEL:
            raise FormatError("tile path: bad level")
        level = int(parts[1])
    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not _DEC_RE.match(w) or not 1 <= int(w) <= TILE_WIDTH - 1:
            raise FormatError("tile path: bad partial width")
        width = int(w)
        rest = rest[:-2] + [rest[-2][:-2]]
    index = _parse_index(rest)
    return Tile(level, index, width)


def level_width(size: int, level: int) -> int:
    """Number of hashes the tree of ``size`` leaves has at tile level ``level``:
    ``floor(size / 256**level)``."""
    return size >> (TILE_HEIGHT * level)


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile (full and partial) that represents a tree of ``size`` leaves.

    For 70,000 this gives 273 full and one partial (112) tile at level 0, one full and one
    partial (17) tile at level 1, and one partial (1) tile at level 2.
    """
    if size < 0 or size > MAX_TREE_SIZE:
        raise InvalidArgument("tree size out of range")
    out: list[Tile] = []
    level = 0
    while True:
        n = level_width(size, level)
        if n == 0:
            break
        full, part = divmod(n, TILE_WIDTH)
        out.extend(Tile(level, i) for i in range(full))
        if part:
            out.append(Tile(level, full, part))
        level += 1
    return out


def entry_bundles_for_size(size: int) -> list[Tile]:
    """Every entry bundle (full and the trailing partial one) of a tree of ``size`` leaves."""
    if size < 0 or size > MAX_TREE_SIZE:
        raise InvalidArgument("tree size out of range")
    full, part = divmod(size, TILE_WIDTH)
    out = [Tile(-1, i) for i in range(full)]
    if part:
        out.append(Tile(-1, full, part))
    return out


def tile_available(tile: Tile, size: int) -> bool:
    """Whether ``tile`` is determined by (and may be served for) a tree of ``size`` leaves.

    A full tile needs all its 256 hashes complete; a partial tile of width W needs the first W.
    """
    have = level_width(size, 0 if tile.is_entries else tile.level)
    return tile.start + tile.width <= have


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Encode entries as an entry bundle (each a big-endian uint16 length, then the bytes)."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_SIZE:
            raise InvalidArgument("entry longer than 65535 bytes")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """Decode an entry bundle; with ``count``, exactly that many entries must be present.

    Raises :class:`FormatError` on truncation, trailing bytes or a wrong count.
    """
    mv = memoryview(data)
    out = []
    pos = 0
    while pos < len(mv):
        if len(mv) - pos < 2:
            raise FormatError("entry bundle: truncated length")
        n = int.from_bytes(mv[pos:pos + 2], "big")
        pos += 2
        if len(mv) - pos < n:
            raise FormatError("entry bundle: truncated entry")
        out.append(bytes(mv[pos:pos + n]))
        pos += n
        if count is not None and len(out) > count:
            raise FormatError("entry bundle: too many entries")
    if count is not None and len(out) != count:
        raise FormatError("entry bundle: wrong number of entries")
    return out


def split_hashes(data: bytes, count: int | None = None) -> list[bytes]:
    """Split a hash tile into its 32-byte hashes (exactly ``count`` when given)."""
    if len(data) % HASH_SIZE:
        raise FormatError("tile: length is not a multiple of 32")
    n = len(data) // HASH_SIZE
    if count is not None and n != count:
        raise FormatError("tile: wrong number of hashes")
    return [bytes(data[i * HASH_SIZE:(i + 1) * HASH_SIZE]) for i in range(n)]


def iter_ranges(start: int, stop: int, step: int = TILE_WIDTH) -> Iterator[tuple[int, int]]:
    """Yield ``(a, b)`` half-open chunks of ``[start, stop)`` aligned to ``step``."""
    a = start
    while a < stop:
        b = min(stop, (a // step + 1) * step)
        yield a, b
        a = b
