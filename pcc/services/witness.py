"""Transparency log witness: C2SP tlog-witness ``POST /add-checkpoint``, tlog-cosignature/v1.

``create_app(WitnessConfig(...))`` returns an ASGI app (served by uvicorn). The request body is
``old <size>\\n``, up to 63 base64 consistency-proof lines, an empty line, then the checkpoint
(a signed note). Answers, as the spec requires:

- 404 unknown origin; 403 no signature from a trusted log key verifies;
- 400 malformed body, or old size above the checkpoint size;
- 409 ``text/x.tlog.size`` with the stored size when ``old`` is not the size last cosigned;
- 422 the consistency proof does not verify;
- 409 same size as stored but a different root hash;
- 200 the cosignature line(s) (``— <name> base64(keyID || timestamp || sig)``), after the new
  checkpoint was persisted.

Checking ``old`` against the stored size and storing the new checkpoint happen in one SQLite
transaction (``BEGIN IMMEDIATE``), so concurrent requests cannot roll the state back.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pcc import merkle, note
from pcc.transparency import _note as tlognote
from pcc.services._tlogstore import connect
from pcc.errors import FormatError, InvalidArgument, PccError, VerifyError
from pcc.services._app import Service
from pcc.services._limits import Limits
from pcc.services._http import HTTPError, pcc_error_handler, read_body

log = logging.getLogger("pcc.witness")

MAX_BODY = 70 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints(origin TEXT PRIMARY KEY, size INTEGER NOT NULL,
                                       root BLOB NOT NULL, note TEXT NOT NULL,
                                       updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejected(id INTEGER PRIMARY KEY, origin TEXT NOT NULL,
                                    reason TEXT NOT NULL, body TEXT NOT NULL, at REAL NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class WitnessConfig:
    """Witness configuration: its cosigner key and the logs it follows as ``(origin, log vkey)``
    pairs (several vkeys per origin are allowed).

    ``skey`` is a :class:`pcc.note.Cosigner` (for instance from
    ``pcc.transparency.read_signer_file(path, cosigner=True)``, which never makes a Python string
    of the key) or the skey text (type 0x04, or a type 0x01 skey for the same seed), parsed at
    once into a cosigner so the config holds no key text. ``limits`` are the
    inbound limits every request passes first (docs/limits.md)."""

    db_path: str
    skey: "str | note.Cosigner" = dataclasses.field(repr=False)
    logs: tuple[tuple[str, str], ...] = ()
    max_body: int = MAX_BODY
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        k = self.skey
        if isinstance(k, note.Signer) and not isinstance(k, note.Cosigner):
            raise InvalidArgument("a witness signs with a note.Cosigner (tlog-cosignature) key, "
                                  "not a note.Signer: pass the skey text or a Cosigner")
        if isinstance(k, str):
            k = note.Cosigner.from_skey(k.strip())
        elif not isinstance(k, note.Cosigner):
            raise TypeError("WitnessConfig.skey must be a note.Cosigner or the skey text")
        object.__setattr__(self, "skey", k)

    def __repr__(self) -> str:  # never shows the skey
        return f"WitnessConfig(db_path={self.db_path!r}, logs={sorted({o for o, _ in self.logs})!r})"


class _Plain(Exception):
    """A plain-text answer with a status and content type."""

    def __init__(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8"):
        super().__init__(body)
        self.status = status
        self.body = body
        self.content_type = content_type


@dataclasses.dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old: int
    proof: tuple[bytes, ...]
    signed: str


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly (raises :class:`FormatError`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("body is not UTF-8") from None
    head, sep, signed = text.partition("\n\n")
    if not sep:
        raise FormatError("missing empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise FormatError("first line must be 'old <size>'")
    old = tlognote.decimal(lines[0][4:], "old size")
    proof = []
    for line in lines[1:]:
        h = tlognote.unb64(line, "consistency proof line")
        if len(h) != 32:
            raise FormatError("consistency proof hash must be 32 bytes")
        proof.append(h)
    if len(proof) > 63:
        raise FormatError("more than 63 consistency proof lines")
    tlognote.split_note(signed)
    return AddCheckpoint(old, tuple(proof), signed)


class Witness:
    """The witness state: its key, the trusted logs, the SQLite store."""

    def __init__(self, config: WitnessConfig) -> None:
        self.config = config
        # A witness cosigns with a tlog-cosignature/v1 key (a type 0x01 skey is taken as the
        # same seed, as transparency-dev/formats does).
        assert isinstance(config.skey, note.Cosigner)     # see WitnessConfig.__post_init__
        self.signer = config.skey
        self.name = tlognote.key_name(self.signer)
        self.logs: dict[str, list] = {}
        for origin, vkey in config.logs:
            v = tlognote.load_verifier(vkey)
            if v.is_cosigner:
                raise InvalidArgument("log vkeys must be signed-note (type 0x01) keys")
            self.logs.setdefault(origin, []).append(v)
        conn = connect(config.db_path)
        conn.executescript(SCHEMA)
        conn.close()
        self._exec = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="witness")
        self._local = threading.local()
        self._conns: list = []
        self._conns_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<pcc Witness {self.name} logs={sorted(self.logs)}>"

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.config.db_path)
            self._local.conn = c
            with self._conns_lock:
                self._conns.append(c)
        return c

    def close(self) -> None:
        """Stop the worker threads and close the store."""
        self._exec.shutdown(wait=True)
        for c in self._conns:
            c.close()

    def latest(self, origin: str) -> tuple[int, bytes, str] | None:
        """The stored ``(size, root, note)`` for ``origin``, or None."""
        row = self._conn().execute("SELECT size, root, note FROM checkpoints WHERE origin=?",
                                   (origin,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]), row[2])

    def _record_rejection(self, origin: str, reason: str, body: str) -> None:
        with contextlib.suppress(Exception):
            self._conn().execute("INSERT INTO rejected(origin, reason, body, at) "
                                 "VALUES(?, ?, ?, ?)", (origin, reason, body, time.time()))

    def add_checkpoint(self, body: bytes) -> str:
        """Process one add-checkpoint request; return the cosignature lines or raise _Plain."""
        try:
            req = parse_request(body)
            note_parts = tlognote.split_note(req.signed)
            cp = tlognote.parse_checkpoint(note_parts.text)
        except FormatError as e:
            raise _Plain(400, f"malformed request: {e}\n") from None
        verifiers = self.logs.get(cp.origin)
        if verifiers is None:
            raise _Plain(404, "unknown log origin\n")
        try:
            tlognote.open_note(req.signed, verifiers)
        except (VerifyError, FormatError):
            raise _Plain(403, "no valid signature from a trusted log key\n") from None
        if req.old > cp.size:
            raise _Plain(400, "old size is larger than the checkpoint size\n")
        if req.old == 0 and req.proof:
            raise _Plain(400, "the consistency proof must be empty when old size is 0\n")
        root = bytes(cp.root)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT size, root FROM checkpoints WHERE origin=?",
                               (cp.origin,)).fetchone()
            cur_size, cur_root = (0, merkle.EMPTY_ROOT) if row is None else (row[0], bytes(row[1]))
            if req.old != cur_size:
                raise _Plain(409, f"{cur_size}\n", "text/x.tlog.size")
            if req.old == cp.size:
                if req.proof:
                    raise _Plain(422, "a consistency proof between equal sizes must be empty\n")
                if root != cur_root:
                    raise _Plain(409, "same size with a different root hash\n")
            elif req.old > 0:
                try:
                    merkle.verify_consistency(req.old, cp.size, list(req.proof), cur_root, root)
                except (VerifyError, FormatError, ValueError):
                    raise _Plain(422, "consistency proof does not verify\n") from None
            conn.execute("INSERT OR REPLACE INTO checkpoints(origin, size, root, note, updated) "
                         "VALUES(?, ?, ?, ?, ?)", (cp.origin, cp.size, root, req.signed,
                                                   time.time()))
            conn.execute("COMMIT")
        except BaseException as e:
            conn.execute("ROLLBACK")
            if isinstance(e, _Plain) and e.status in (409, 422) and \
                    e.content_type != "text/x.tlog.size":
                self._record_rejection(cp.origin, e.body.strip(), body.decode("utf-8"))
            raise
        ts = int(time.time())
        return tlognote.cosign(self.signer, note_parts.text, ts) + "\n"


def create_app(config: WitnessConfig) -> Service[Witness]:
    """The witness's ASGI app, a :class:`pcc.services.Service` whose state is the
    :class:`Witness`: serve it alone, or mount it under any prefix in a host app and compose
    ``app.lifespan`` (or let the first request open the store)."""
    signer = config.skey                                    # parsed by the config
    assert isinstance(signer, note.Cosigner)
    for _, vkey in config.logs:
        if tlognote.load_verifier(vkey).is_cosigner:
            raise InvalidArgument("log vkeys must be signed-note (type 0x01) keys, not "
                                  "cosigner keys: pass the log's own vkey")

    async def start() -> Witness:
        return await asyncio.get_running_loop().run_in_executor(None, Witness, config)

    async def stop(w: Witness) -> None:
        await asyncio.get_running_loop().run_in_executor(None, w.close)

    async def add_checkpoint(request: Request) -> Response:
        w = svc.state
        try:
            body = await read_body(request, config.max_body)
        except PccError as e:
            status = 413 if "larger" in str(e) else 400
            return Response(f"{e}\n", status_code=status, media_type="text/plain; charset=utf-8")
        loop = asyncio.get_running_loop()
        try:
            lines = await loop.run_in_executor(w._exec, w.add_checkpoint, body)
        except _Plain as e:
            # Set the header directly: Starlette would append a charset to text/x.tlog.size.
            return Response(e.body, status_code=e.status,
                            headers={"content-type": e.content_type})
        return Response(lines, media_type="text/plain; charset=utf-8",
                        headers={"cache-control": "no-store"})

    routes = [Route("/add-checkpoint", add_checkpoint, methods=["POST"])]
    info = {"key": signer.vkey, "logs": sorted({origin for origin, _ in config.logs})}
    svc: Service[Witness] = Service(
        "witness", routes, start, stop, info=info, limits=config.limits,
        exception_handlers={PccError: pcc_error_handler, HTTPError: pcc_error_handler})
    return svc
