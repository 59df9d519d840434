"""Oblivious gateway resource (RFC 9458) and load balancer in front of the compute nodes.

``create_app(GatewayConfig(...))`` returns an ASGI app with:

- ``POST /``: an Encapsulated Request (``message/ohttp-req``, answered with one
  ``message/ohttp-res``) or a chunked one (``message/ohttp-chunked-req``, answered with a
  ``message/ohttp-chunked-res`` stream carrying an indeterminate-length binary HTTP response,
  so that answer frames reach the client as the node produces them). Errors outside the
  encryption (bad media type, a request that does not decapsulate) are plain HTTP statuses;
- ``GET /ohttp-keys``: the gateway's key configurations (``application/ohttp-keys``);
- ``GET /v1/key-proof``: ``msgpack({"leaf", "proof"})``, the ``ohttp-keys`` log leaf holding
  exactly those configurations and its tlog-proof (503 until one is configured).

Inside the encryption (binary HTTP; the authority is ignored):

- ``GET /v1/models``: JSON ``{"models": [name…]}``, the models some healthy node serves;
- ``GET /v1/roster?model=M``: ``msgpack({"leaf": bin, "proof": str})`` (``application/msgpack``),
  the model's current ``roster`` log leaf and its tlog-proof, as the ``roster`` source of the
  configuration gives them (404 when it has none for M, 400 for a malformed query);
- ``GET /v1/nodes?model=M&ids=<hex>,<hex>…`` (client-chosen): ``application/pcc-nodes+msgpack``
  ``{"nodes": [bundle…]}`` with the bundles of exactly the named nodes that are healthy and serve
  M (1..16 ids; an id the gateway has no healthy node for is left out, and the client notices);
- ``GET /v1/nodes?model=M[&k=K]`` (gateway-chosen): K (1..16, default 3) attestation bundles
  chosen uniformly at random (``secrets``) among the healthy nodes serving M; 404 for a model
  no node serves, 503 when none is healthy; a malformed query (an unknown or repeated
  parameter, a bad id, both ``k`` and ``ids``) is 400;
- ``POST /v1/invoke``: ``authorization: PrivateToken token=…`` and an
  ``application/pcc-request+msgpack`` body. The token's signature is checked first (401 with
  ``WWW-Authenticate: PrivateToken challenge=…, token-key=…`` when it is missing or invalid),
  then the body (400, 415, 404 for an unknown model), then the token is spent (403 when it was
  spent before); the request goes to the first node it names that is healthy, with only that
  node's key entry, the next one being tried if it is down or refuses before the first answer
  byte (503 when none is left; the token is then given back, as nothing was answered). The
  answer is streamed back with ``pcc-node: <hex node id>``.

Nodes come from the configuration and, with ``redis_url``, from a Redis set
(``<prefix>nodes``, managed with ``pcc gateway node add``); their health comes from
``/healthz`` and their bundles from ``/v1/attestation``, re-fetched periodically and before
their HPKE key expires, so a rotated key is picked up. The spend store is SQLite (one gateway)
or Redis (``SET NX`` with expiry; any number of gateways). The gateway never holds a key that
opens a prompt and logs nothing per request.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import secrets
import time
import urllib.parse
from typing import AsyncIterator, Callable, Optional, Sequence, Tuple, Union

import httpx
import msgpack
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pcc import _padding, bhttp, hpke, ohttp, roster, tokens, transparency
from pcc._internal.peer import Peer, PeerLimits
from pcc.errors import (DecryptError, FormatError, InvalidArgument, LimitError, PccError,
                        PeerError, StateError, UnknownKeyError, UnsupportedError, VerifyError)
from pcc.services._app import Service
from pcc.services._http import HTTPError, http_error_handler, read_body
from pcc.services._limits import Limits
from pcc.services._spend import RedisSpendStore, SQLiteSpendStore, SpendStore
from pcc.transparency import leaves

__all__ = ["GatewayConfig", "GatewayState", "create_app", "generate_key", "load_key",
           "key_configs", "token_challenge", "roster_files", "RosterFromLog", "ROSTER_MEDIA_TYPE",
           "NODES_MEDIA_TYPE", "REQUEST_MEDIA_TYPE",
           "ANSWER_MEDIA_TYPE", "ATTESTATION_MEDIA_TYPE", "KEY_PROOF_MEDIA_TYPE", "MAX_K"]

NODES_MEDIA_TYPE = "application/pcc-nodes+msgpack"
REQUEST_MEDIA_TYPE = "application/pcc-request+msgpack"
ANSWER_MEDIA_TYPE = "application/pcc-answer"
ATTESTATION_MEDIA_TYPE = "application/pcc-attestation+msgpack"
KEY_PROOF_MEDIA_TYPE = "application/msgpack"
MAX_K = 16
DEFAULT_K = 3
ORIGIN_INFO = "pcc"

KeyProof = Tuple[bytes, str]
#: Media type of the inner ``/v1/roster`` answer.
ROSTER_MEDIA_TYPE = roster.MEDIA_TYPE


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    """Gateway configuration.

    name: the gateway's name in its ``ohttp-keys`` log leaf.
    key_path: the OHTTP key file (a 32-byte seed, see :func:`generate_key`).
    issuer_name, issuer_spki: the token issuer whose tokens are accepted (the ``issuer-key``
        leaf's ``issuer`` and ``spki``).
    nodes: node base URLs (``http://host:port``).
    key_id: the OHTTP key identifier (0..255).
    db_path: SQLite spend store (used unless ``redis_url`` is set).
    redis_url: keep spent tokens and the node registry in Redis, shared by every gateway.
    key_proof: the ohttp-keys leaf and its tlog-proof, or a callable returning them (or None).
    spend_ttl_s: how long a spent token is remembered (at least the issuer key's lifetime).
    health_interval_s: how often nodes are probed; attestation_refresh_s: how often their
        bundles are fetched again (and always shortly before their key expires).
    invoke_timeout_s: a whole answer from a node; connect_s: connecting to a node.
    max_answer: the most answer bytes relayed from a node.
    limits: inbound limits.
    redis_prefix: prefix of every Redis key.
    roster: where the ``/v1/roster`` answers come from: a callable taking a model name and
        returning that model's current roster leaf and its tlog-proof, or None when there is
        none (see :func:`roster_files`, and :class:`RosterFromLog`, which fetches fresh proofs
        from the log itself). The gateway only serves what it gets, checking that it is a
        roster leaf for the model asked.
    """

    name: str
    key_path: str
    issuer_name: str
    issuer_spki: bytes
    nodes: Tuple[str, ...] = ()
    key_id: int = 1
    db_path: str = "gateway.db"
    redis_url: Optional[str] = None
    key_proof: Union[KeyProof, Callable[[], Optional[KeyProof]], None] = None
    spend_ttl_s: int = 30 * 86400
    health_interval_s: float = 2.0
    attestation_refresh_s: float = 300.0
    invoke_timeout_s: float = 600.0
    connect_s: float = 2.0
    max_answer: int = 64 << 20
    limits: Optional[Limits] = None
    redis_prefix: str = "pcc:gateway:"
    roster: Optional[Callable[[str], Optional[KeyProof]]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgument("gateway: name must be a non-empty str")
        if not isinstance(self.issuer_spki, (bytes, bytearray)):
            raise TypeError("gateway: issuer_spki must be bytes (DER SPKI)")
        tokens.token_key_id(bytes(self.issuer_spki))       # parses as an RSA key
        if isinstance(self.nodes, str):
            raise TypeError("gateway: nodes must be a list of URLs")
        for u in self.nodes:
            if not isinstance(u, str) or not u.startswith(("http://", "https://")):
                raise InvalidArgument("gateway: each node must be an http:// or https:// URL")
        if not isinstance(self.key_id, int) or not 0 <= self.key_id <= 255:
            raise InvalidArgument("gateway: key_id must be 0..255")
        if self.roster is not None and not callable(self.roster):
            raise TypeError("gateway: roster must be a callable model -> (leaf, proof) or None")


def roster_files(pairs: Sequence[Tuple[str, str]]) -> Callable[[str], Optional[KeyProof]]:
    """A ``roster`` source for :class:`GatewayConfig` from files: ``pairs`` of (leaf file,
    tlog-proof file) as ``pcc roster publish`` writes them, one pair per model. The files are
    read again on every request, so replacing them (a new epoch, or the same leaf published
    again for a fresher proof) takes effect at once; the model is read from the leaf. When
    several leaves name one model, the one with the highest epoch is served."""
    paths = [(str(a), str(b)) for a, b in pairs]

    def source(model: str) -> Optional[KeyProof]:
        best: Optional[Tuple[int, bytes, str]] = None
        for leaf_path, proof_path in paths:
            try:
                with open(leaf_path, "rb") as f:
                    leaf = f.read(leaves.MAX_LEAF + 1)
                with open(proof_path, "r", encoding="utf-8") as f:
                    proof = f.read(roster.MAX_PROOF_LEN + 1)
                r = roster.from_leaf(leaf)
            except (OSError, UnicodeDecodeError, PccError):
                continue            # a file being replaced, or not a roster: skip it
            if r.model == model and (best is None or r.epoch > best[0]):
                best = (r.epoch, leaf, proof)
        return None if best is None else (best[1], best[2])
    return source


class RosterFromLog:
    """A ``roster`` source for :class:`GatewayConfig` that keeps the proofs fresh itself: for
    each roster leaf (``entries``: pairs of leaf bytes and its log index) it builds a new
    tlog-proof from the log's current checkpoint and hash tiles
    (:func:`pcc.roster.fetch_proof`, bounded calls through :mod:`pcc._internal.peer`) and
    serves it only once it verifies against ``log_vkey`` and ``witness_vkeys`` (``quorum``).
    A proof older than ``refresh_s`` is refreshed when the next request asks for it: in a
    background thread while the current proof is served (one at a time), or at once when there
    is no proof yet; :meth:`refresh` does it directly. When a refresh fails the previous proof
    is kept (``last_error`` says why) and retried after ``retry_s``. ``proofs`` may give
    a first proof per leaf (e.g. from ``pcc roster publish``), verified the same way. When
    several leaves name one model, the highest epoch is served."""

    def __init__(self, log_url: str, entries: Sequence[Tuple[bytes, int]], log_vkey,
                 witness_vkeys: Sequence = (), quorum: int = 0, *, refresh_s: float = 300.0,
                 retry_s: float = 10.0, proofs: Optional[Sequence[Optional[str]]] = None,
                 deadline_s: float = 5.0) -> None:
        import threading
        if not isinstance(log_url, str) or not log_url.startswith(("http://", "https://")):
            raise InvalidArgument("roster source: log_url must be an http:// or https:// URL")
        self.log_url = log_url
        self.log_vkey, self.witness_vkeys, self.quorum = log_vkey, list(witness_vkeys), quorum
        self.refresh_s, self.retry_s, self.deadline_s = refresh_s, retry_s, deadline_s
        self._entries: list[tuple[roster.Roster, bytes, int]] = []
        for leaf, index in entries:
            self._entries.append((roster.from_leaf(bytes(leaf)), bytes(leaf), int(index)))
        self._proofs: dict[int, tuple[str, float]] = {}       # entry -> (proof, when)
        self._tried: dict[int, float] = {}
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self.last_error: Optional[str] = None
        for i, proof in enumerate(proofs or ()):
            if proof is None:
                continue
            _, leaf, index = self._entries[i]
            try:
                got, _ = transparency.verify_proof(leaf, proof, log_vkey, self.witness_vkeys,
                                                   quorum)
            except PccError as e:
                raise InvalidArgument(f"roster source: the proof of entry {i} does not "
                                      f"verify ({e})") from None
            if got != index:
                raise InvalidArgument(f"roster source: entry {i} is logged at {got}, "
                                      f"not {index}")
            self._proofs[i] = (proof, time.monotonic())

    def refresh(self, only: Optional[Sequence[int]] = None) -> int:
        """Fetch and verify a fresh proof for every leaf (or the entries ``only``); returns how
        many were refreshed. A failure keeps the previous proof and sets ``last_error``."""
        done = 0
        with self._lock:
            for i, (r, leaf, index) in enumerate(self._entries):
                if only is not None and i not in only:
                    continue
                self._tried[i] = time.monotonic()
                try:
                    proof = roster.fetch_proof(self.log_url, leaf, index, self.log_vkey,
                                               self.witness_vkeys, self.quorum,
                                               deadline_s=self.deadline_s)
                except PccError as e:
                    self.last_error = f"roster of {r.model} epoch {r.epoch}: {e}"
                    continue
                self._proofs[i] = (proof, time.monotonic())
                done += 1
        return done

    def _refresh_in_background(self, only: Sequence[int]) -> None:
        import threading
        if self._thread is not None and self._thread.is_alive():
            return
        for i in only:
            self._tried[i] = time.monotonic()
        self._thread = threading.Thread(target=self.refresh, args=(list(only),),
                                        name="pcc-gateway-roster-proof", daemon=True)
        self._thread.start()

    def __call__(self, model: str) -> Optional[KeyProof]:
        cands = [i for i, (r, _, _) in enumerate(self._entries) if r.model == model]
        if not cands:
            return None
        now = time.monotonic()
        stale = [i for i in cands
                 if (i not in self._proofs or now - self._proofs[i][1] >= self.refresh_s)
                 and now - self._tried.get(i, -1e18) >= self.retry_s]
        if stale and all(i in self._proofs for i in cands):
            self._refresh_in_background(stale)
        elif stale:
            self.refresh(stale)
        have = [i for i in cands if i in self._proofs]
        if not have:
            return None
        best = max(have, key=lambda i: self._entries[i][0].epoch)
        return self._entries[best][1], self._proofs[best][0]


def generate_key(path: str) -> None:
    """Write a fresh OHTTP key seed to ``path`` (32 random bytes, mode 0600, never overwriting)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))


def load_key(path: str) -> hpke.PrivateKey:
    """The X25519 key derived from the seed in ``path``."""
    with open(path, "rb") as f:
        seed = bytearray(f.read())
    try:
        if len(seed) != 32:
            raise InvalidArgument("gateway: the key file must hold a 32-byte seed")
        return hpke.PrivateKey.derive(hpke.KEM_X25519_SHA256, seed)
    finally:
        seed[:] = bytes(len(seed))


def key_configs(config: GatewayConfig) -> bytes:
    """The gateway's ``application/ohttp-keys`` (what its ``ohttp-keys`` leaf must hold)."""
    sk = load_key(config.key_path)
    cfg = ohttp.KeyConfig(config.key_id, hpke.KEM_X25519_SHA256, sk.public_bytes(),
                          suites=list(ohttp.DEFAULT_SUITES))
    return ohttp.encode_key_configs([cfg])


def token_challenge(issuer_name: str) -> tokens.TokenChallenge:
    """The one TokenChallenge every client fetches tokens for: type 2, this issuer, no
    redemption context, origin ``pcc``."""
    return tokens.TokenChallenge(issuer_name, redemption_context=b"", origin_info=[ORIGIN_INFO],
                                 token_type=tokens.TOKEN_TYPE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclasses.dataclass
class _Node:
    url: str
    healthy: bool = False
    bundle: Optional[bytes] = None
    node_id: Optional[bytes] = None
    models: Tuple[str, ...] = ()
    not_after: int = 0
    fetched: float = 0.0
    misses: int = 0


def _bundle_facts(bundle: bytes) -> Tuple[bytes, Tuple[str, ...], int]:
    """node_id, models and key expiry read from a bundle (unverified: clients verify)."""
    outer = msgpack.unpackb(bundle, raw=False, strict_map_key=True)
    body = msgpack.unpackb(outer["body"], raw=False, strict_map_key=True)
    node_id, models, nb = body["node_id"], body["models"], body["hpke"]["not_after"]
    if (not isinstance(node_id, bytes) or len(node_id) != 32 or not isinstance(models, list)
            or not all(isinstance(m, str) for m in models) or not isinstance(nb, int)):
        raise FormatError("bundle fields")
    return node_id, tuple(models), nb


class _Inner:
    """An inner (binary HTTP) response: status, headers and either whole content or a stream."""

    def __init__(self, status: int, headers: Sequence[Tuple[str, str]] = (),
                 content: bytes = b"", stream: Optional[AsyncIterator[bytes]] = None) -> None:
        self.status = status
        self.headers = list(headers)
        self.content = content
        self.stream = stream


def _inner_error(status: int, message: str, headers: Sequence[Tuple[str, str]] = ()) -> _Inner:
    body = (json.dumps({"error": message}) + "\n").encode()
    return _Inner(status, [("content-type", "application/json")] + list(headers), body)


class GatewayState:
    """The running gateway: OHTTP keys, the spend store, the node table and its poller."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        sk = load_key(config.key_path)
        cfg = ohttp.KeyConfig(config.key_id, hpke.KEM_X25519_SHA256, sk.public_bytes(),
                              suites=list(ohttp.DEFAULT_SUITES))
        self.ohttp = ohttp.Gateway([(cfg, sk)])
        self.configs = ohttp.encode_key_configs([cfg])
        self.issuer_spki = bytes(config.issuer_spki)
        self.challenge = token_challenge(config.issuer_name)
        self.token_key_id = tokens.token_key_id(self.issuer_spki)
        self.www_authenticate = (f'PrivateToken challenge="{_b64(self.challenge.encode())}", '
                                 f'token-key="{_b64(self.issuer_spki)}"')
        self.store: SpendStore = (RedisSpendStore(config.redis_url, config.redis_prefix)
                                  if config.redis_url else SQLiteSpendStore(config.db_path))
        self.nodes: dict[str, _Node] = {u.rstrip("/"): _Node(u.rstrip("/")) for u in config.nodes}
        self.peer = Peer("node", PeerLimits(deadline_s=5.0, connect_s=config.connect_s,
                                            max_body=1 << 20))
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.invoke_timeout_s, connect=config.connect_s),
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=128))
        for h in list(self.client.headers):
            del self.client.headers[h]
        self.poller: Optional[asyncio.Task] = None

    async def close(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            try:
                await self.poller
            except (asyncio.CancelledError, Exception):
                pass
        await self.peer.aclose()
        await self.client.aclose()
        await run_in_threadpool(self.store.close)

    def key_proof(self) -> Optional[KeyProof]:
        kp = self.config.key_proof
        if callable(kp):
            kp = kp()
        if kp is None:
            return None
        leaf, proof = kp
        d = leaves.decode(leaf)
        if d["type"] != "ohttp-keys" or d["configs"] != self.configs:
            raise HTTPError(500, "the configured key proof is not for this gateway's keys")
        return leaf, proof

    # ---------------------------------------------------------------- nodes

    def _registry(self) -> list[str]:
        if not self.config.redis_url:
            return []
        st = self.store
        assert isinstance(st, RedisSpendStore)
        try:
            urls = st.redis.smembers(self.config.redis_prefix + "nodes")
        except Exception:
            return []
        return [u.decode() if isinstance(u, bytes) else str(u) for u in urls]

    async def _probe(self, node: _Node) -> None:
        refused = False
        try:
            r = await self.peer.get(node.url + "/healthz", deadline_s=2.0)
            ok = r.status_code == 200
        except PeerError as e:
            ok, refused = False, e.limit == "connect"
        if not ok:
            # a busy node may answer its probe late: down after three misses in a row, at once
            # when nothing listens any more
            node.misses += 1
            if refused or node.misses >= 3:
                node.healthy = False
            return
        node.misses = 0
        now = time.time()
        due = (node.bundle is None or now - node.fetched > self.config.attestation_refresh_s
               or now > node.not_after - 60)
        if due:
            try:
                r = await self.peer.get(node.url + "/v1/attestation", deadline_s=5.0)
                if r.status_code != 200:
                    raise FormatError("status")
                facts = _bundle_facts(r.content)
            except (PeerError, PccError, ValueError, KeyError, TypeError,
                    msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
                node.healthy = False
                return
            node.bundle = bytes(r.content)
            node.node_id, node.models, node.not_after = facts
            node.fetched = now
        node.healthy = node.bundle is not None and time.time() < node.not_after

    async def poll_once(self) -> None:
        """Probe every node once (health, and the bundle when due)."""
        for u in await run_in_threadpool(self._registry):
            u = u.rstrip("/")
            if u.startswith(("http://", "https://")) and u not in self.nodes:
                self.nodes[u] = _Node(u)
        await asyncio.gather(*(self._probe(n) for n in list(self.nodes.values())))

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            try:
                await self.poll_once()
            except Exception:       # a probe round never stops the poller
                pass

    def add_node(self, url: str) -> None:
        """Add a node by URL (it serves once a probe finds it healthy)."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidArgument("gateway: a node is an http:// or https:// URL")
        self.nodes.setdefault(url.rstrip("/"), _Node(url.rstrip("/")))

    def mark_down(self, node: _Node) -> None:
        node.healthy = False

    def healthy(self, model: Optional[str] = None) -> list[_Node]:
        now = time.time()
        return [n for n in self.nodes.values()
                if n.healthy and n.bundle is not None and now < n.not_after
                and (model is None or model in n.models)]

    def known_model(self, model: str) -> Optional[bool]:
        """True if some node serves ``model``; None when it is not known yet (a node has not
        been reached); False otherwise."""
        if any(model in n.models for n in self.nodes.values()):
            return True
        return None if any(n.bundle is None for n in self.nodes.values()) else False

    def roster_for(self, model: str) -> Optional[KeyProof]:
        """The model's roster leaf and proof from the configured source (None: no roster).
        Raises :class:`HTTPError` 500 when the source gives something that is not a roster
        leaf for ``model``."""
        src = self.config.roster
        if src is None:
            return None
        got = src(model)
        if got is None:
            return None
        leaf, proof = got
        try:
            r = roster.from_leaf(leaf)
        except PccError:
            raise HTTPError(500, "the configured roster is not a roster leaf") from None
        if r.model != model:
            raise HTTPError(500, "the configured roster is for another model")
        return bytes(leaf), proof

    def bundles_for(self, model: str, ids: Sequence[bytes]) -> list[bytes]:
        """The bundles of the named nodes that are healthy and serve ``model``, in the order
        named; ids without such a node are left out."""
        live = {n.node_id: n.bundle for n in self.healthy(model) if n.bundle is not None}
        return [live[i] for i in ids if i in live]

    def by_id(self, node_id: bytes) -> Optional[_Node]:
        for n in self.nodes.values():
            if n.node_id == node_id:
                return n
        return None


# ---------------------------------------------------------------- invoke body


def _check_invoke(body: bytes) -> dict:
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
            UnicodeDecodeError, TypeError):
        raise FormatError("the invoke body is not msgpack") from None
    if not isinstance(obj, dict) or set(obj) != {"v", "model", "keys", "nonce", "body"}:
        raise FormatError("the invoke body must be a map of v, model, keys, nonce, body")
    if obj["v"] != 1 or not isinstance(obj["model"], str) or not obj["model"]:
        raise FormatError("invoke: v must be 1 and model a name")
    if not isinstance(obj["nonce"], bytes) or len(obj["nonce"]) != 12:
        raise FormatError("invoke: nonce must be 12 bytes")
    chunks = obj["body"]
    if (not isinstance(chunks, list) or not chunks or len(chunks) > 256
            or not all(isinstance(c, bytes) for c in chunks)):
        raise FormatError("invoke: body must be a list of 1..256 byte strings")
    keys = obj["keys"]
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_K:
        raise FormatError(f"invoke: keys must list 1..{MAX_K} nodes")
    seen = set()
    for k in keys:
        if (not isinstance(k, dict) or set(k) != {"node", "key_id", "enc", "ct"}
                or not isinstance(k["node"], bytes) or len(k["node"]) != 32
                or not isinstance(k["key_id"], bytes) or len(k["key_id"]) != 8
                or not isinstance(k["enc"], bytes) or not 0 < len(k["enc"]) <= 133
                or not isinstance(k["ct"], bytes) or not 0 < len(k["ct"]) <= 64):
            raise FormatError("invoke: each key is {node: 32 bytes, key_id: 8 bytes, enc, ct}")
        if k["node"] in seen:
            raise FormatError("invoke: a node is named twice")
        seen.add(k["node"])
    return obj


def _header(req: bhttp.Request, name: bytes) -> Optional[bytes]:
    found = [bytes(v) if not isinstance(v, str) else v.encode("latin-1")
             for n, v in req.headers if n == name]
    if len(found) > 1:
        raise FormatError("duplicate header")
    return found[0] if found else None


def create_app(config: GatewayConfig) -> Service[GatewayState]:
    """The gateway's ASGI app (see the module documentation)."""
    if not isinstance(config, GatewayConfig):
        raise TypeError("create_app takes a GatewayConfig")
    base = config.limits or Limits()
    limits = dataclasses.replace(base, max_body=max(base.max_body, 4 << 20))

    async def start() -> GatewayState:
        st = await run_in_threadpool(GatewayState, config)
        await st.poll_once()
        st.poller = asyncio.get_running_loop().create_task(st._poll_forever())
        return st

    async def stop(st: GatewayState) -> None:
        await st.close()

    # ------------------------------------------------------------ inner requests

    async def models(st: GatewayState, req: bhttp.Request, query: dict) -> _Inner:
        names = sorted({m for n in st.healthy() for m in n.models})
        return _Inner(200, [("content-type", "application/json")],
                      json.dumps({"models": names}).encode())

    def _qs(req: bhttp.Request) -> str:
        return req.path.partition("?")[2]

    async def nodes(st: GatewayState, req: bhttp.Request, query: dict) -> _Inner:
        qs = _qs(req)
        try:
            names = {p.partition("=")[0] for p in qs.split("&") if p}
            if "k" not in names and "ids" not in names:        # k defaults to DEFAULT_K
                qs = qs + ("&" if qs else "") + f"k={DEFAULT_K}"
            q = roster.parse_nodes_query(qs, max_ids=MAX_K)
        except FormatError as e:
            return _inner_error(400, str(e))
        known = st.known_model(q.model)
        if q.ids is not None:
            # client-chosen: exactly the nodes named (those the gateway can serve)
            if known is False:
                return _inner_error(404, "unknown model")
            bundles = st.bundles_for(q.model, q.ids)
        else:
            if known is None:
                return _inner_error(503, "no node available")
            if not known:
                return _inner_error(404, "unknown model")
            live = st.healthy(q.model)
            if not live:
                return _inner_error(503, "no node available")
            k = q.k if q.k is not None else DEFAULT_K
            bundles = [n.bundle for n in secrets.SystemRandom().sample(live, min(k, len(live)))
                       if n.bundle is not None]
        body = msgpack.packb({"nodes": bundles}, use_bin_type=True)
        return _Inner(200, [("content-type", NODES_MEDIA_TYPE), ("cache-control", "no-store")],
                      body)

    async def roster_answer(st: GatewayState, req: bhttp.Request, query: dict) -> _Inner:
        try:
            model = roster.parse_roster_query(_qs(req))
        except FormatError as e:
            return _inner_error(400, str(e))
        try:
            got = await run_in_threadpool(st.roster_for, model)
        except HTTPError as e:
            return _inner_error(e.status, e.message)
        if got is None:
            known = st.known_model(model)
            return _inner_error(404, "unknown model" if known is False
                                else "no roster for this model")
        try:
            body = roster.encode_response(*got)
        except (PccError, TypeError):
            return _inner_error(500, "the configured roster proof is unusable")
        return _Inner(200, [("content-type", ROSTER_MEDIA_TYPE), ("cache-control", "no-store")],
                      body)

    def unauthorized(st: GatewayState, why: str) -> _Inner:
        return _inner_error(401, why, [("www-authenticate", st.www_authenticate)])

    async def invoke(st: GatewayState, req: bhttp.Request, query: dict) -> _Inner:
        # 1. the token's signature
        try:
            auth = _header(req, b"authorization")
        except FormatError:
            return unauthorized(st, "one authorization header, please")
        if auth is None:
            return unauthorized(st, "a token is required")
        try:
            token = tokens.parse_authorization(auth)
            tokens.verify(token, st.issuer_spki, st.challenge)
        except (FormatError, VerifyError, UnsupportedError, InvalidArgument):
            return unauthorized(st, "invalid token")
        # 2. the body
        ctype = (_header(req, b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != REQUEST_MEDIA_TYPE.encode():
            return _inner_error(415, f"content-type must be {REQUEST_MEDIA_TYPE}")
        try:
            obj = _check_invoke(req.content)
        except FormatError as e:
            return _inner_error(400, str(e))
        known = st.known_model(obj["model"])
        if not known:
            return _inner_error(503 if known is None else 404,
                                "no node available" if known is None else "unknown model")
        candidates = []
        for entry in obj["keys"]:
            n = st.by_id(entry["node"])
            if n is not None and n.healthy and obj["model"] in n.models:
                candidates.append((n, entry))
        if not candidates:
            return _inner_error(503, "none of the nodes named is available")
        # 3. the spend
        try:
            fresh = await run_in_threadpool(st.store.spend, token.token_key_id, token.nonce,
                                            config.spend_ttl_s)
        except StateError:
            return _inner_error(503, "the spend store is unavailable")
        if not fresh:
            return _inner_error(403, "token already spent")
        # 4. forward, failing over before the first answer byte
        last = 503
        overloaded = 0
        maybe_served = False        # a node may have worked on it: the token stays spent
        for node, entry in candidates:
            fwd = msgpack.packb({"v": 1, "model": obj["model"], "keys": [entry],
                                 "nonce": obj["nonce"], "body": obj["body"]}, use_bin_type=True)
            r = st.client.build_request("POST", node.url + "/v1/invoke", content=fwd,
                                        headers={"content-type": REQUEST_MEDIA_TYPE})
            try:
                resp = await st.client.send(r, stream=True)
            except httpx.ConnectError:
                st.mark_down(node)          # down until its next good probe
                continue
            except httpx.HTTPError:
                maybe_served = True
                continue
            if resp.status_code != 200:
                last = resp.status_code
                overloaded += resp.status_code == 503
                await resp.aclose()
                continue
            it = resp.aiter_raw()
            try:
                first = await it.__anext__()
            except (StopAsyncIteration, httpx.HTTPError):
                await resp.aclose()
                st.mark_down(node)
                maybe_served = True
                continue
            return _Inner(200, [("content-type", ANSWER_MEDIA_TYPE),
                                ("pcc-node", node.node_id.hex() if node.node_id else "")],
                          stream=_answer(first, it, resp))
        # every node refused or was unreachable: give the token back for the client's retry
        if not maybe_served:
            try:
                await run_in_threadpool(st.store.unspend, token.token_key_id, token.nonce)
            except Exception:
                pass
        if 400 <= last < 500:
            return _inner_error(400, "no node accepted the request")
        if overloaded:
            return _inner_error(503, "the nodes named are overloaded; retry later")
        return _inner_error(503, "no node available")

    async def _answer(first: bytes, it: AsyncIterator[bytes],
                      resp: httpx.Response) -> AsyncIterator[bytes]:
        sent = len(first)
        try:
            yield first
            while True:
                try:
                    chunk = await it.__anext__()
                except (StopAsyncIteration, httpx.HTTPError):
                    return          # a cut answer: the client sees no final frame
                sent += len(chunk)
                if sent > config.max_answer:
                    return
                yield chunk
        finally:
            await resp.aclose()

    routes_inner = {("GET", "/v1/models"): models, ("GET", "/v1/nodes"): nodes,
                    ("GET", "/v1/roster"): roster_answer, ("POST", "/v1/invoke"): invoke}

    async def handle_inner(st: GatewayState, req: bhttp.Request) -> _Inner:
        path, _, qs = req.path.partition("?")
        handler = routes_inner.get((req.method, path))
        if handler is None:
            known = any(p == path for _, p in routes_inner)
            return _inner_error(405 if known else 404,
                                "method not allowed" if known else "not found")
        try:
            query = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True, strict_parsing=False,
                                                max_num_fields=8))
        except ValueError:
            return _inner_error(400, "bad query")
        try:
            return await handler(st, req, query)
        except Exception:
            return _inner_error(500, "internal error")

    # ------------------------------------------------------------ outer resource

    async def gateway(request: Request) -> Response:
        st = svc.state
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == ohttp.REQUEST_MEDIA_TYPE:
            return await plain(st, request)
        if media == ohttp.CHUNKED_REQUEST_MEDIA_TYPE:
            return await chunked(st, request)
        raise HTTPError(415, "content-type must be message/ohttp-req or message/ohttp-chunked-req")

    def _decap_error(e: Exception) -> HTTPError:
        if isinstance(e, UnknownKeyError):
            return HTTPError(422, "unknown key configuration")
        if isinstance(e, LimitError):
            return HTTPError(413, "request too large")
        return HTTPError(400, "the request does not decapsulate")

    async def plain(st: GatewayState, request: Request) -> Response:
        enc = await read_body(request, limits.max_body)
        try:
            raw, rctx = st.ohttp.decapsulate(enc)
            inner_req = bhttp.Request.decode(raw)
        except (FormatError, DecryptError, UnknownKeyError, UnsupportedError, LimitError) as e:
            raise _decap_error(e) from None
        inner = await handle_inner(st, inner_req)
        content = inner.content
        if inner.stream is not None:
            buf = bytearray()
            async for piece in inner.stream:
                buf += piece
            content = bytes(buf)
        out = _padding.encode_response(bhttp.Response(inner.status, inner.headers, content))
        return Response(rctx.encapsulate(out), media_type=ohttp.RESPONSE_MEDIA_TYPE,
                        headers={"cache-control": "no-store"})

    async def chunked(st: GatewayState, request: Request) -> Response:
        enc = await read_body(request, limits.max_body)
        gctx = st.ohttp.decapsulate_chunked()
        try:
            parts = gctx.open(enc)
            parts.append(gctx.finish())
            inner_req = bhttp.Request.decode(b"".join(parts))
        except (FormatError, DecryptError, UnknownKeyError, UnsupportedError, LimitError) as e:
            raise _decap_error(e) from None
        inner = await handle_inner(st, inner_req)

        async def stream() -> AsyncIterator[bytes]:
            yield gctx.seal(bhttp.encode_response_head(inner.status, inner.headers))
            if inner.stream is None:
                if inner.content:
                    yield gctx.seal(bhttp.encode_content_chunk(inner.content))
            else:
                async for piece in inner.stream:
                    if piece:
                        yield gctx.seal(bhttp.encode_content_chunk(piece))
            yield gctx.seal(bhttp.encode_response_end(), final=True)

        return StreamingResponse(stream(), media_type=ohttp.CHUNKED_RESPONSE_MEDIA_TYPE,
                                 headers={"cache-control": "no-store"})

    async def keys(request: Request) -> Response:
        return Response(svc.state.configs, media_type=ohttp.KEYS_MEDIA_TYPE,
                        headers={"cache-control": "public, max-age=300"})

    async def key_proof(request: Request) -> Response:
        kp = await run_in_threadpool(svc.state.key_proof)
        if kp is None:
            raise HTTPError(503, "no key proof yet")
        body = msgpack.packb({"leaf": kp[0], "proof": kp[1]}, use_bin_type=True)
        return Response(body, media_type=KEY_PROOF_MEDIA_TYPE,
                        headers={"cache-control": "no-cache"})

    routes = [Route("/", gateway, methods=["POST"]),
              Route("/ohttp-keys", keys, methods=["GET"]),
              Route("/v1/key-proof", key_proof, methods=["GET"])]
    store = f"redis {config.redis_url}" if config.redis_url else f"sqlite {config.db_path}"
    svc: Service[GatewayState] = Service(
        "gateway", routes, start, stop, limits=limits,
        info={"gateway": config.name, "store": store, "nodes": len(config.nodes)},
        exception_handlers={HTTPError: http_error_handler, HTTPException: http_error_handler,
                            PccError: http_error_handler, Exception: http_error_handler})
    return svc
