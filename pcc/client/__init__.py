"""The pcc client: private inference through the relay, with everything checked first.

::

    from pcc.client import Client
    client = Client.from_config("cell/client.json")        # what `pcc up` writes
    for piece in client.chat([{"role": "user", "content": "Hello"}], max_tokens=64):
        print(piece, end="", flush=True)
    print(client.last_report["answered_by"])

Before it uses any key the client checks it against the transparency log: the gateway's OHTTP
key configurations (``/ohttp-keys`` with the ``ohttp-keys`` leaf and its proof from
``/v1/key-proof``) and the issuer's token key (the issuer directory with the ``issuer-key`` leaf
and proof), each proof cosigned by a quorum of the pinned witnesses and fresh. Tokens are fetched
ahead in batches into a wallet (one challenge for every client, so they cannot be linked to a
request). Nodes are discovered through the relay and verified with :func:`pcc.attest.verify`; a
node that fails any check is never sent anything. The request key is sealed to the verified
nodes only; the request goes through the relay as chunked OHTTP, and the answer is decrypted as
it streams. :attr:`Client.last_report` says what was verified, chosen, spent and who answered.

Which nodes? By default (``selection="client"``) the client chooses them itself: it fetches the
model's ``roster`` log leaf through the relay (``GET /v1/roster``), checks its proof against the
pinned log and witnesses like any key proof (and that its epoch is not older than one it has
seen), draws k node ids with the operating system's CSPRNG and asks the gateway for exactly those
bundles (``GET /v1/nodes?ids=…``). A bundle for a node that is not in the roster or was not asked
for is refused; a node the gateway withholds (or whose bundle fails verification) is replaced by
a fresh draw from the rest of the roster, unless more than ``max_withheld`` of the drawn nodes
were withheld (the request is then refused as possibly steered). The highest roster epoch
accepted is kept in ``state`` (a file) across restarts; ``check_newest`` also reads the log for
a newer roster. With ``selection="gateway"`` the gateway picks the
nodes (``GET /v1/nodes?k=…``); ``offer_history`` then names a file the client appends one line
per offer to (``{"offered": ["<hex>", …]}``) for ``pcc audit selection``.

Errors are :mod:`pcc.errors` types: ``VerifyError`` (a key without a valid log proof, no node
passing verification, an answer from a node the request was not sealed to), ``PeerError`` (a
service unreachable or answering outside its limits), ``LimitError`` (the issuer's rate limit),
``StateError`` (no node available, a refused or cut answer), ``InvalidArgument`` (bad
arguments, an unknown model), ``FormatError`` (malformed answers).
"""
from __future__ import annotations

import base64
import json
import pathlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import httpx
import msgpack

from pcc import _padding, attest, bhttp, hpke, note, ohttp, roster, tokens, transparency
from pcc._request import Done, Failed, NodeKey, Params, seal_request
from pcc.errors import (FormatError, InvalidArgument, LimitError, PeerError,
                        StateError, VerifyError)
from pcc.transparency import leaves

__all__ = ["Client", "Message", "SELECTIONS"]

#: Node selection modes: ``client`` (drawn by the client from the logged roster, the default)
#: and ``gateway`` (offered by the gateway; auditable with an offer history).
SELECTIONS = ("client", "gateway")

Message = Union[Mapping[str, str], tuple]

_NODES_MEDIA_TYPE = "application/pcc-nodes+msgpack"
_REQUEST_MEDIA_TYPE = "application/pcc-request+msgpack"
_DIRECTORY = "/.well-known/private-token-issuer-directory"
_SMALL = 1 << 20          # cap on keys, proofs, directories and discovery answers
_MAX_ANSWER = 64 << 20
_ROSTER_TTL_S = 300.0     # a verified roster is fetched again after this long
_DRAW_ROUNDS = 4          # first draw plus at most three rounds of replacements
#: Longest a verified bundle is reused in client-chosen mode (as gateway-chosen discovery is
#: cached): after that the node's bundle is fetched and checked again, release proof included.
_REVERIFY_S = 3600
#: Default share of a request's drawn nodes that may be withheld before it is refused.
MAX_WITHHELD = 0.5


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _LoggedKey:
    leaf: dict
    index: int
    not_after: int
    fetched: float


@dataclass
class _Discovery:
    reports: list
    expires: float
    rejected: list = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass
class _Roster:
    roster: roster.Roster
    index: int
    fetched: float
    leaf: bytes = b""
    proof: str = ""


def _error_text(body: bytes) -> str:
    try:
        why = json.loads(body)["error"]
        return why if isinstance(why, str) else "?"
    except Exception:
        return "?"


class Client:
    """A client of one cell: relay, gateway, issuer and log URLs, an issuer account, the default
    model and the pinned trust (:class:`pcc.attest.Trust`). ``k``: nodes per request (the
    request is sealed to every one that verifies); ``selection``: ``"client"`` (the default:
    the client draws the k nodes from the model's logged roster) or ``"gateway"`` (the gateway
    offers k nodes); ``offer_history``: in gateway mode, a file to append each offer to (one
    JSON line, what ``pcc audit selection --history`` reads; opt-in, off by default);
    ``wallet_batch``: tokens fetched at a time; ``busy_retries``: how often a request no node
    could take (503; its token is given back) is retried, with jittered backoff.

    Client-chosen selection also takes: ``state``, a file keeping the highest roster epoch
    accepted per model across restarts (:class:`pcc.roster.EpochState`; None, the default
    here, keeps it in memory only; ``pcc up`` names a ``client-state.json`` beside its
    client.json); ``check_newest``: also read the log itself (at ``log``, directly, not through
    the relay) and refuse a roster that a later roster of the model supersedes
    (:func:`pcc.roster.find_newer`; off by default); ``max_withheld``: the largest share of the
    nodes drawn for one request that may be withheld (or fail) before the request is refused
    as possibly steered (default 0.5; None: no bound). Thread-safe
    for sequential use from several threads (one request at a time per client is the common
    case)."""

    def __init__(self, *, relay: str, gateway: str, issuer: str, log: str, account: str,
                 model: str, trust: attest.Trust, k: int = 3, wallet_batch: int = 8,
                 timeout_s: float = 600.0, busy_retries: int = 4, selection: str = "client",
                 offer_history: Union[str, pathlib.Path, None] = None,
                 state: Union[str, pathlib.Path, roster.EpochState, None] = None,
                 check_newest: bool = False,
                 max_withheld: Optional[float] = MAX_WITHHELD) -> None:
        for name, url in (("relay", relay), ("gateway", gateway), ("issuer", issuer),
                          ("log", log)):
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise InvalidArgument(f"client: {name} must be an http:// or https:// URL")
        if not isinstance(trust, attest.Trust):
            raise TypeError("client: trust must be a pcc.attest.Trust")
        if not isinstance(account, str) or not isinstance(model, str):
            raise TypeError("client: account and model must be str")
        if not isinstance(k, int) or not 1 <= k <= 16:
            raise InvalidArgument("client: k must be 1..16")
        if selection not in SELECTIONS:
            raise InvalidArgument(f"client: selection must be one of {', '.join(SELECTIONS)}")
        if offer_history is not None and not isinstance(offer_history, (str, pathlib.Path)):
            raise TypeError("client: offer_history must be a path (str) or None")
        if state is not None and not isinstance(state, (str, pathlib.Path, roster.EpochState)):
            raise TypeError("client: state must be a path (str), a pcc.roster.EpochState or None")
        if not isinstance(check_newest, bool):
            raise TypeError("client: check_newest must be a bool")
        if max_withheld is not None and (isinstance(max_withheld, bool) or
                                         not isinstance(max_withheld, (int, float)) or
                                         not 0 <= max_withheld < 1):
            raise InvalidArgument("client: max_withheld must be a share in [0, 1) or None")
        self.relay = relay
        self.gateway = gateway.rstrip("/")
        self.issuer = issuer.rstrip("/")
        self.log = log
        self.model = model
        self.trust = trust
        self.k = k
        self.wallet_batch = max(1, int(wallet_batch))
        self.busy_retries = max(0, int(busy_retries))
        self._account = account
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0),
                                  follow_redirects=False, trust_env=False)
        for h in list(self._http.headers):
            del self._http.headers[h]
        self._lock = threading.RLock()
        self._ohttp: Optional[tuple[ohttp.KeyConfig, _LoggedKey]] = None
        self._issuer_key: Optional[tuple[bytes, tokens.TokenChallenge, _LoggedKey]] = None
        self._wallet: list[tokens.Token] = []
        self._nodes: dict[Optional[str], _Discovery] = {}
        self.selection = selection
        self.offer_history = None if offer_history is None else pathlib.Path(offer_history)
        self._rosters: dict[str, _Roster] = {}
        # the highest roster epoch accepted per model (kept in a file when state names one)
        self.state = state if isinstance(state, roster.EpochState) else roster.EpochState(state)
        self.check_newest = check_newest
        self.max_withheld = max_withheld
        self._withheld_total = [0, 0]                # nodes withheld, nodes drawn (this client)
        # (model, node id) -> (verified report, time it stops being reused): until its key
        # expires, and never more than _REVERIFY_S after it was checked (release proofs age)
        self._verified: dict[tuple[str, bytes], tuple[attest.Report, float]] = {}
        self.last_report: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"<pcc Client relay={self.relay} model={self.model} selection={self.selection} "
                f"wallet={len(self._wallet)}>")

    @classmethod
    def from_config(cls, path_or_dict: Union[str, pathlib.Path, Mapping[str, Any]],
                    **kw: Any) -> "Client":
        """A client from a ``client.json`` (a path, or the dict it holds): ``relay``,
        ``gateway``, ``issuer``, ``log``, ``account``, ``model`` and ``trust``; optionally
        ``selection`` (``"client"`` or ``"gateway"``), ``offer_history`` (a file path),
        ``state`` (a file path; relative to the client.json's directory when read from a
        file), ``check_newest`` (bool) and ``max_withheld`` (a share or null). Keyword
        arguments override the file."""
        base: Optional[pathlib.Path] = None
        if isinstance(path_or_dict, Mapping):
            cfg = dict(path_or_dict)
        elif isinstance(path_or_dict, (str, pathlib.Path)):
            try:
                cfg = json.loads(pathlib.Path(path_or_dict).read_text(encoding="utf-8"))
                base = pathlib.Path(path_or_dict).parent
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"client: cannot read {path_or_dict} "
                                      f"({type(e).__name__})") from None
        else:
            raise TypeError("from_config takes a path or a dict")
        if cfg.get("v") != 1:
            raise InvalidArgument("client.json: v must be 1")
        opts: dict[str, Any] = {}
        for name in ("selection", "offer_history", "state", "check_newest"):
            if cfg.get(name) is not None:
                opts[name] = cfg[name]
        if "max_withheld" in cfg:
            opts["max_withheld"] = cfg["max_withheld"]
        if isinstance(opts.get("state"), str) and base is not None:
            opts["state"] = base / opts["state"]
        opts.update(kw)
        try:
            return cls(relay=cfg["relay"], gateway=cfg["gateway"], issuer=cfg["issuer"],
                       log=cfg["log"], account=cfg["account"], model=cfg["model"],
                       trust=attest.Trust.from_client_config(cfg["trust"]), **opts)
        except KeyError as e:
            raise InvalidArgument(f"client.json: missing {e.args[0]!r}") from None

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _get(self, url: str, what: str) -> httpx.Response:
        try:
            with self._http.stream("GET", url) as r:
                data = bytearray()
                for chunk in r.iter_raw():
                    data += chunk
                    if len(data) > _SMALL:
                        raise PeerError(what, "answer too large", "max_body")
                r._content = bytes(data)
                return r
        except httpx.HTTPError as e:
            raise PeerError(what, f"unreachable ({type(e).__name__})", "connect") from None

    def _proof(self, leaf: bytes, proof: str) -> int:
        t = self.trust
        index, _ = transparency.verify_proof(leaf, proof, t.log_vkey, list(t.witness_vkeys),
                                             t.quorum, t.max_checkpoint_age_s)
        return index

    def _key_proof(self, base: str, what: str) -> tuple[bytes, str]:
        r = self._get(base + "/v1/key-proof", what)
        if r.status_code != 200:
            raise VerifyError(f"{what}: no key proof ({r.status_code})")
        try:
            obj = msgpack.unpackb(r.content, raw=False)
            leaf, proof = obj["leaf"], obj["proof"]
            if not isinstance(leaf, bytes) or not isinstance(proof, str):
                raise TypeError
        except Exception:
            raise VerifyError(f"{what}: malformed key proof") from None
        return leaf, proof

    def ohttp_config(self) -> ohttp.KeyConfig:
        """The gateway's OHTTP key configuration, used only once its ``ohttp-keys`` leaf checks
        out against the log (cached until the leaf's ``not_after``)."""
        with self._lock:
            now = time.time()
            if self._ohttp is not None and now < self._ohttp[1].not_after:
                return self._ohttp[0]
            r = self._get(self.gateway + "/ohttp-keys", "gateway")
            if r.status_code != 200:
                raise PeerError("gateway", f"/ohttp-keys answered {r.status_code}", "connect")
            configs = r.content
            leaf, proof = self._key_proof(self.gateway, "gateway")
            try:
                index = self._proof(leaf, proof)
            except VerifyError as e:
                raise VerifyError(f"gateway OHTTP keys: {e}") from None
            d = leaves.decode(leaf)
            if d["type"] != "ohttp-keys" or d["configs"] != configs:
                raise VerifyError("gateway OHTTP keys: the logged leaf holds other keys")
            if d["not_after"] <= now:
                raise VerifyError("gateway OHTTP keys: the logged keys have expired")
            cfgs = ohttp.decode_key_configs(configs)
            if not cfgs:
                raise VerifyError("gateway OHTTP keys: no configuration")
            self._ohttp = (cfgs[0], _LoggedKey(d, index, d["not_after"], now))
            return cfgs[0]

    def issuer_key(self) -> tuple[bytes, tokens.TokenChallenge]:
        """The issuer's token key (SPKI) and the challenge tokens are fetched for, used only once
        its ``issuer-key`` leaf checks out against the log."""
        with self._lock:
            now = time.time()
            if self._issuer_key is not None and now < self._issuer_key[2].not_after:
                return self._issuer_key[0], self._issuer_key[1]
            r = self._get(self.issuer + _DIRECTORY, "issuer")
            if r.status_code != 200:
                raise PeerError("issuer", f"directory answered {r.status_code}", "connect")
            try:
                keys = json.loads(r.content)["token-keys"]
                spkis = [_unb64(k["token-key"]) for k in keys if k["token-type"] == 2]
            except Exception:
                raise FormatError("issuer: malformed directory") from None
            leaf, proof = self._key_proof(self.issuer, "issuer")
            try:
                index = self._proof(leaf, proof)
            except VerifyError as e:
                raise VerifyError(f"issuer key: {e}") from None
            d = leaves.decode(leaf)
            if d["type"] != "issuer-key" or d["spki"] not in spkis:
                raise VerifyError("issuer key: the logged leaf holds another key")
            if d["not_after"] <= now:
                raise VerifyError("issuer key: the logged key has expired")
            ch = tokens.TokenChallenge(d["issuer"], redemption_context=b"", origin_info=["pcc"],
                                       token_type=tokens.TOKEN_TYPE)
            if self._issuer_key is not None and self._issuer_key[0] != d["spki"]:
                self._wallet.clear()         # tokens of a retired key are worthless
            self._issuer_key = (d["spki"], ch, _LoggedKey(d, index, d["not_after"], now))
            return d["spki"], ch

    def _fill_wallet(self, n: int) -> None:
        spki, ch = self.issuer_key()
        for _ in range(n):
            state, req = tokens.begin_issuance(spki, ch)
            try:
                r = self._http.post(self.issuer + "/token-request", content=bytes(req),
                                    headers={"content-type": "application/private-token-request",
                                             "authorization": f"Bearer {self._account}"})
            except httpx.HTTPError as e:
                raise PeerError("issuer", f"unreachable ({type(e).__name__})") from None
            if r.status_code == 429:
                if self._wallet:
                    return
                raise LimitError("issuer: this account's token limit is reached; retry after "
                                 f"{r.headers.get('retry-after', '?')} s")
            if r.status_code == 401:
                raise VerifyError("issuer: unknown account (check the account key)")
            if r.status_code != 200:
                raise PeerError("issuer", f"token request answered {r.status_code}")
            self._wallet.append(tokens.finalize_issuance(state, r.content))

    def _token(self) -> tokens.Token:
        with self._lock:
            if not self._wallet:
                self._fill_wallet(self.wallet_batch)
            return self._wallet.pop(0)

    @property
    def wallet_size(self) -> int:
        """Tokens in the wallet, ready to spend."""
        return len(self._wallet)

    def _exchange(self, req: bhttp.Request) -> Iterator[Union[bhttp.Response, bytes]]:
        """Send one inner request through the relay as chunked OHTTP; yield the response head,
        then its content bytes as they are decrypted."""
        cfg = self.ohttp_config()
        header, cctx = ohttp.encapsulate_request_chunked(cfg)
        body = header + cctx.close(_padding.encode_request(req))   # only a size bucket shows
        try:
            with self._http.stream("POST", self.relay, content=body,
                                   headers={"content-type": ohttp.CHUNKED_REQUEST_MEDIA_TYPE}) as r:
                if r.status_code != 200:
                    r.read()
                    try:
                        why = json.loads(r.content)["error"]
                    except Exception:
                        why = f"status {r.status_code}"
                    raise PeerError("relay", f"{r.status_code}: {why}")
                ctype = r.headers.get("content-type", "").split(";")[0].strip()
                if ctype != ohttp.CHUNKED_RESPONSE_MEDIA_TYPE:
                    raise FormatError("relay: the answer is not a chunked OHTTP response")
                dec = bhttp.ResponseDecoder()
                head_sent = False
                total = 0
                for data in r.iter_raw():
                    total += len(data)
                    if total > _MAX_ANSWER:
                        raise PeerError("relay", "answer too large", "max_body")
                    for pt in cctx.open(data):
                        content = dec.feed(pt)
                        if dec.head is not None and not head_sent:
                            head_sent = True
                            yield dec.head
                        if content:
                            yield content
                content = dec.feed(cctx.finish())
                dec.finish()
                if dec.head is not None and not head_sent:
                    yield dec.head
                if content:
                    yield content
        except httpx.HTTPError as e:
            raise PeerError("relay", f"unreachable ({type(e).__name__})") from None

    def _call(self, req: bhttp.Request) -> tuple[bhttp.Response, bytes]:
        head: Optional[bhttp.Response] = None
        buf = bytearray()
        for item in self._exchange(req):
            if isinstance(item, bhttp.Response):
                head = item
            else:
                buf += item
        if head is None:
            raise FormatError("gateway: no response")
        return head, bytes(buf)

    def _inner(self, method: str, path: str, headers: Sequence[tuple[str, Union[str, bytes]]] = (),
               content: bytes = b"") -> bhttp.Request:
        authority = httpx.URL(self.gateway).netloc.decode("ascii")
        return bhttp.Request(method, "https", authority, path, list(headers), content)

    # ------------------------------------------------------------------ discovery

    def nodes(self, model: Optional[str] = None) -> list[attest.Report]:
        """The verified nodes a request for ``model`` (default: the configured one) would be
        sealed to. Client-chosen: a fresh draw from the logged roster (bundles verified once and
        kept until their keys expire); gateway-chosen: the gateway's offer, cached until the
        first of its keys expires. Nodes that fail are kept out (``last_report["rejected"]``)."""
        return list(self._discover(model or self.model).reports)

    def roster(self, model: Optional[str] = None) -> roster.Roster:
        """The verified roster of ``model`` (default: the configured one), fetched through the
        relay and checked against the pinned log and witnesses (cached for a few minutes)."""
        with self._lock:
            return self._roster(model or self.model).roster

    def roster_proof(self, model: Optional[str] = None) -> tuple[bytes, str]:
        """The leaf and tlog-proof of the verified roster of ``model`` (fetched afresh through
        the relay), e.g. to check with :func:`pcc.roster.find_newer` that it is the newest."""
        with self._lock:
            got = self._roster(model or self.model, fresh=True)
            return got.leaf, got.proof

    def _discover(self, model: str, *, fresh: bool = False) -> _Discovery:
        if self.selection == "gateway":
            return self._discover_gateway(model, fresh=fresh)
        return self._discover_roster(model, fresh=fresh)

    def _discover_gateway(self, model: str, *, fresh: bool = False) -> _Discovery:
        with self._lock:
            now = time.time()
            d = self._nodes.get(model)
            if d is not None and not fresh and now < d.expires:
                return d
            q = httpx.QueryParams({"model": model, "k": str(self.k)})
            head, body = self._call(self._inner("GET", f"/v1/nodes?{q}"))
            if head.status == 404:
                raise InvalidArgument(f"unknown model {model!r}")
            if head.status == 503:
                raise StateError("no node is available for this model right now")
            if head.status != 200:
                raise PeerError("gateway", f"discovery answered {head.status}")
            bundles = self._bundles(body)
            good: list[attest.Report] = []
            bad: list[attest.Report] = []
            for b in bundles:
                rep = attest.verify(b, self.trust, model=model)
                (good if rep.ok else bad).append(rep)
            seen: set[Any] = set()
            uniq: list[attest.Report] = []
            for rep in good:
                if rep.node_id not in seen:
                    seen.add(rep.node_id)
                    uniq.append(rep)
            offered: list[bytes] = []
            for rep in good + bad:
                if rep.node_id is not None and rep.node_id not in offered:
                    offered.append(rep.node_id)
            if self.offer_history is not None and offered:
                self._keep_offer(offered)
            expires = min([float(r.key_not_after or 0) for r in uniq], default=now + 5)
            info = {"selection": "gateway", "offered": [n.hex() for n in offered],
                    "offer_history": str(self.offer_history) if self.offer_history else None}
            d = _Discovery(uniq, min(expires - 30, now + 3600), bad, info)
            self._nodes[model] = d
            return d

    def _keep_offer(self, offered: list[bytes]) -> None:
        from pcc.audit import history_line
        assert self.offer_history is not None
        try:
            with open(self.offer_history, "a", encoding="utf-8") as f:
                f.write(history_line(offered))
        except OSError as e:
            raise StateError(f"offer history {self.offer_history}: cannot append "
                             f"({e.strerror or type(e).__name__})") from None

    @staticmethod
    def _bundles(body: bytes) -> list[bytes]:
        try:
            obj = msgpack.unpackb(body, raw=False)
            if not isinstance(obj, dict) or set(obj) != {"nodes"}:
                raise TypeError
            bundles = obj["nodes"]
            if not isinstance(bundles, list) or not all(isinstance(b, bytes) for b in bundles):
                raise TypeError
        except Exception:
            raise FormatError("gateway: malformed discovery answer") from None
        return bundles

    def _roster(self, model: str, fresh: bool = False) -> _Roster:
        """The model's roster, verified (cached for a few minutes)."""
        now = time.time()
        c = self._rosters.get(model)
        if c is not None and not fresh and now - c.fetched < _ROSTER_TTL_S:
            return c
        q = httpx.QueryParams({"model": model})
        head, body = self._call(self._inner("GET", f"/v1/roster?{q}"))
        if head.status == 404:
            why = _error_text(body)
            if why == "unknown model":
                raise InvalidArgument(f"unknown model {model!r}")
            raise VerifyError(f"the gateway serves no logged roster for model {model!r} "
                              f"({why}): client-chosen selection needs one (a cell without "
                              "rosters needs selection='gateway')")
        if head.status == 503:
            raise StateError("no node is available for this model right now")
        if head.status != 200:
            raise PeerError("gateway", f"roster answered {head.status}")
        try:
            leaf, proof = roster.decode_response(body)
        except FormatError as e:
            raise VerifyError(f"roster for {model!r}: malformed answer ({e})") from None
        try:
            r = roster.verify_trusted(leaf, proof, self.trust, model=model,
                                      min_epoch=self.state.epoch(model))
        except (VerifyError, StateError, FormatError) as e:
            raise VerifyError(f"roster for {model!r}: {e}") from None
        index = note.parse_proof(proof).index          # verified just above
        if self.check_newest:
            t = self.trust
            try:
                newer = roster.find_newer(self.log, leaf, proof, t.log_vkey,
                                          list(t.witness_vkeys), t.quorum)
            except (VerifyError, StateError, FormatError) as e:
                raise VerifyError(f"roster for {model!r}: cannot check it is the newest "
                                  f"({e})") from None
            if newer is not None:
                raise VerifyError(f"roster for {model!r}: epoch {r.epoch} (index {index}) is "
                                  f"superseded by epoch {newer.roster.epoch} logged at index "
                                  f"{newer.index}: the gateway serves an old roster")
        self.state.accept(model, r.epoch, index)
        got = _Roster(r, index, now, bytes(leaf), proof)
        self._rosters[model] = got
        return got

    def _fetch_bundles(self, model: str, ids: list[bytes]) -> list[bytes]:
        q = roster.nodes_query(model, ids=ids)
        head, body = self._call(self._inner("GET", f"/v1/nodes?{q}"))
        if head.status == 404:
            raise InvalidArgument(f"unknown model {model!r}")
        if head.status == 503:
            return []
        if head.status != 200:
            raise PeerError("gateway", f"discovery answered {head.status}")
        return self._bundles(body)

    def _discover_roster(self, model: str, *, fresh: bool = False) -> _Discovery:
        """Client-chosen discovery: draw k ids from the verified roster, ask for exactly those
        bundles, refuse any other, redraw for the ones withheld or failing."""
        with self._lock:
            if fresh:
                for key in [key for key in self._verified if key[0] == model]:
                    del self._verified[key]
            rs = self._roster(model, fresh)
            r = rs.roster
            want = min(self.k, len(r))
            info: dict[str, Any] = {
                "selection": "client",
                "roster": {"model": r.model, "epoch": r.epoch, "nodes": len(r),
                           "log_index": rs.index},
                "drawn": [], "withheld": [], "refused": [], "redraws": 0,
                "newest_checked": self.check_newest}
            good: dict[bytes, attest.Report] = {}
            bad: list[attest.Report] = []
            tried: list[bytes] = []
            pending = r.draw(want)
            for round_no in range(_DRAW_ROUNDS):
                tried += pending
                info["drawn"] += [n.hex() for n in pending]
                now = time.time()
                need = []
                for nid in pending:
                    cached = self._verified.get((model, nid))
                    if cached is not None and now < cached[1]:
                        good[nid] = cached[0]
                    else:
                        self._verified.pop((model, nid), None)
                        need.append(nid)
                if need:
                    got: set[bytes] = set()
                    for b in self._fetch_bundles(model, need):
                        rep = attest.verify(b, self.trust, model=model)
                        served: Optional[bytes] = rep.node_id
                        why = None
                        if served is None:
                            bad.append(rep)   # failed before its node id could be trusted
                            continue
                        if served not in r:
                            why = "not in the logged roster"
                        elif served not in need:
                            why = "not one of the nodes asked for"
                        elif served in got:
                            why = "served twice"
                        if why is not None:
                            info["refused"].append({"node_id": served.hex(), "reason": why})
                            continue
                        got.add(served)
                        if rep.ok:
                            good[served] = rep
                            self._verified[(model, served)] = (
                                rep, min(float(rep.key_not_after or 0) - 30, now + _REVERIFY_S))
                        else:
                            bad.append(rep)
                    info["withheld"] += [n.hex() for n in need if n not in got]
                missing = want - len(good)
                if missing <= 0 or round_no == _DRAW_ROUNDS - 1:
                    break
                try:
                    pending = r.redraw_excluding(tried, missing)
                except StateError:
                    info["exhausted"] = True
                    break
                info["redraws"] += 1
            reports = [good[n] for n in tried if n in good]
            # drawn nodes that did not verify: withheld, or served with a failing bundle
            n_withheld = sum(1 for n in tried if n not in good)
            tot = self._withheld_total
            tot[0] += n_withheld
            tot[1] += len(tried)
            info["withheld_count"] = n_withheld
            info["drawn_count"] = len(tried)
            info["withheld_total"] = {"withheld": tot[0], "drawn": tot[1]}
            if reports and self.max_withheld is not None and \
                    n_withheld > self.max_withheld * len(tried):
                info["steering_suspected"] = True
                self.last_report.update(info)
                raise StateError(f"{n_withheld} of the {len(tried)} nodes drawn from the roster "
                                 "were withheld or failed, more than the bound of "
                                 f"{self.max_withheld:g}: the gateway may be steering this "
                                 "request to the nodes it chose to serve; nothing was sent "
                                 "(retry later)")
            if not reports:
                if bad:
                    raise VerifyError(f"no node passed verification (first failure: "
                                      f"{bad[0].failed}); {len(tried)} of the roster's {len(r)} "
                                      "nodes tried")
                if info["refused"]:
                    raise VerifyError("the gateway served only nodes it was not asked for ("
                                      f"{info['refused'][0]['reason']}); {len(tried)} of the "
                                      f"roster's {len(r)} nodes tried")
                raise StateError(f"no node available: the gateway served none of the "
                                 f"{len(tried)} nodes drawn from the roster of {len(r)}"
                                 + (" (roster exhausted)" if info.get("exhausted") else ""))
            expires = min(float(x.key_not_after or 0) for x in reports)
            return _Discovery(reports, expires - 30, bad, info)

    # ------------------------------------------------------------------ chat

    def chat(self, messages: Sequence[Message], *, model: Optional[str] = None,
             max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
             top_k: int = 0, seed: Optional[int] = None, stream: bool = True) -> Iterator[str]:
        """Send a chat through the private path and yield the answer's text pieces as they are
        decrypted (one piece with the whole text when ``stream`` is False)."""
        params = Params(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                        top_k=top_k, seed=seed)
        msgs = list(messages)
        if not msgs:
            raise InvalidArgument("chat needs at least one message")
        gen = self._chat(msgs, model or self.model, params)
        if stream:
            return gen
        return iter(["".join(gen)])

    def complete(self, messages: Sequence[Message], **kw: Any) -> str:
        """The whole answer of :meth:`chat` as one string."""
        kw["stream"] = True
        return "".join(self.chat(messages, **kw))

    def _chat(self, messages: list, model: str, params: Params) -> Iterator[str]:
        report: dict[str, Any] = {"relay": self.relay, "gateway": self.gateway,
                                  "model": model}
        self.last_report = report
        retried: set[str] = set()
        token: Optional[tokens.Token] = None
        busy = 0
        reused = False
        while True:
            disc = self._discover(model)
            report["nodes"] = [r.to_dict() for r in disc.reports]
            report["rejected"] = [r.to_dict() for r in disc.rejected]
            report.update(disc.info)
            if not disc.reports:
                raise VerifyError("no node passed verification"
                                  + (f" (first failure: {disc.rejected[0].failed})"
                                     if disc.rejected else ""))
            keys = [NodeKey(r.node_id, r.key_id, r.hpke_public_key, hpke.Suite(*r.hpke_suite))
                    for r in disc.reports]
            # the payload padded to a size bucket (pcc._padding.pad_payload's rule); the answer
            # reader checks and drops the "pad" of the final chunk
            body, state = seal_request(keys, messages, params, model=model, pad=True)
            if token is None:
                token, reused = self._token(), False
            ok = self._ohttp
            report["ohttp_keys"] = {"log_index": ok[1].index if ok else None,
                                    "not_after": ok[1].not_after if ok else None}
            ik = self._issuer_key
            report["issuer_key"] = {"issuer": ik[2].leaf["issuer"] if ik else None,
                                    "log_index": ik[2].index if ik else None}
            report["sealed_to"] = [k.node_id.hex() for k in keys]
            report["token"] = {"key_id": token.token_key_id.hex(), "spent": True}
            req = self._inner("POST", "/v1/invoke", [
                ("content-type", _REQUEST_MEDIA_TYPE),
                ("authorization", f'PrivateToken token="{_b64(token.encode())}"')],
                msgpack.packb(body, use_bin_type=True))
            it = self._exchange(req)
            head = next(it, None)
            if not isinstance(head, bhttp.Response):
                raise FormatError("gateway: no response")
            if head.status != 200:
                rest = b"".join(x for x in it if isinstance(x, bytes))
                try:
                    why = json.loads(rest)["error"]
                except Exception:
                    why = f"status {head.status}"
                key = str(head.status)
                if head.status == 503 and busy < self.busy_retries:
                    # nothing was answered, so the gateway gave the token back: wait, retry
                    busy += 1
                    reused = True
                    time.sleep(min(2.0, 0.1 * 2 ** busy) * (0.5 + secrets.randbelow(1000) / 1000))
                    if busy >= 2:
                        self._discover(model, fresh=True)
                    continue
                if head.status == 403 and reused:
                    # the gateway kept the token of a busy retry (a node may have worked on
                    # it): the cause is overload, not the token; a fresh one for the next try
                    token, reused = None, False
                    if busy < self.busy_retries:
                        continue
                    raise StateError("no node available: the nodes are overloaded; retry later")
                if head.status == 403 and "403" not in retried:
                    retried.add("403")
                    token = None                # spent elsewhere: take another one
                    continue
                if head.status == 401 and key not in retried:
                    retried.add(key)
                    token = None                # not ours: take another one
                    if head.status == 401:      # the issuer key may have rotated
                        with self._lock:
                            self._issuer_key = None
                            self._wallet.clear()
                    continue
                report["token"]["spent"] = head.status not in (401, 403, 503)
                if head.status == 404:
                    raise InvalidArgument(f"unknown model {model!r}")
                if head.status in (401, 403):
                    raise VerifyError(f"gateway refused the token: {why}")
                if head.status == 503:
                    raise StateError(f"no node available: {why}")
                raise PeerError("gateway", f"{head.status}: {why}")
            raw = dict((bytes(n) if not isinstance(n, str) else n.encode(), v)
                       for n, v in head.headers).get(b"pcc-node", b"")
            node_hex = raw if isinstance(raw, str) else bytes(raw).decode("ascii", "replace")
            try:
                node_id = bytes.fromhex(node_hex)
                reader = state.reader(node_id)
            except (ValueError, InvalidArgument):
                raise VerifyError("the answer names a node the request was not sealed to") \
                    from None
            report["answered_by"] = node_hex
            for data in it:
                assert isinstance(data, bytes)
                for ev in reader.feed(data):
                    if isinstance(ev, str):
                        yield ev
                    elif isinstance(ev, Done):
                        report["usage"] = {"prompt_tokens": ev.prompt_tokens,
                                           "completion_tokens": ev.completion_tokens}
                    elif isinstance(ev, Failed):
                        report["error"] = ev.code
                        raise StateError(f"the node could not answer: {ev.code}")
            try:
                reader.finish()
            except FormatError:
                raise StateError("the answer was cut short (no final frame)") from None
            return

    def explain(self) -> str:
        """What the last request verified, chose and spent, and what the relay and the gateway
        could see, as readable text."""
        r = self.last_report
        if not r:
            return "no request yet"
        lines = [f"gateway OHTTP keys: logged at index {r.get('ohttp_keys', {}).get('log_index')}"
                 f", proof checked against the pinned log and witnesses",
                 f"issuer key ({r.get('issuer_key', {}).get('issuer')}): logged at index "
                 f"{r.get('issuer_key', {}).get('log_index')}, proof checked",
                 f"token: one anonymous token of key {r.get('token', {}).get('key_id', '?')[:16]}"
                 f" spent"]
        ro = r.get("roster")
        if r.get("selection") == "client" and ro:
            lines.append(f"roster for {ro['model']}: epoch {ro['epoch']}, {ro['nodes']} node(s), "
                         f"logged at index {ro['log_index']}, proof checked against the pinned "
                         "log and witnesses")
            drawn = ", ".join(n[:16] for n in r.get("drawn", []))
            lines.append(f"nodes drawn from the roster by this client (its own CSPRNG): {drawn}")
            for n in r.get("withheld", []):
                lines.append(f"node {n[:16]}: withheld by the gateway or failing, replaced by "
                             "a fresh draw from the rest of the roster")
            if r.get("exhausted"):
                lines.append("roster exhausted: fewer nodes than asked for were available")
            if "withheld_count" in r:
                tot = r.get("withheld_total", {})
                lines.append(f"withheld: {r['withheld_count']} of {r['drawn_count']} drawn node(s) "
                             f"in this request, {tot.get('withheld')} of {tot.get('drawn')} since "
                             f"this client started (bound: {self.max_withheld})")
            if r.get("steering_suspected"):
                lines.append("REFUSED: too many drawn nodes withheld; the gateway may be steering")
            if r.get("newest_checked"):
                lines.append("roster checked against the log: no newer roster for the model")
        elif r.get("selection") == "gateway":
            lines.append("nodes chosen by the gateway (gateway-chosen mode): "
                         + (", ".join(n[:16] for n in r.get("offered", [])) or "none")
                         + (f"; offer kept in {r['offer_history']}" if r.get("offer_history")
                            else ""))
        for n in r.get("refused", []):
            lines.append(f"node {(n['node_id'] or '?')[:16]}: REFUSED ({n['reason']})")
        for n in r.get("nodes", []):
            checks = ", ".join(c["name"] for c in n["checks"] if c["ok"])
            what = {"tpm": "enclave tpm: identity key and registers in a TPM, quote checked",
                    "sim": "enclave sim: software identity key, no hardware quote"}.get(
                        n.get("backend") or "", "enclave backend unknown")
            lines.append(f"node {n['node_id'][:16]}: verified ({checks}); {what}")
        for n in r.get("rejected", []):
            lines.append(f"node {(n['node_id'] or '?')[:16]}: REJECTED at {n['failed']}")
        lines.append(f"request key sealed to {len(r.get('sealed_to', []))} node(s)")
        if r.get("answered_by"):
            lines.append(f"answered by node {r['answered_by'][:16]}")
        if r.get("usage"):
            u = r["usage"]
            lines.append(f"usage: {u['prompt_tokens']} prompt tokens, "
                         f"{u['completion_tokens']} completion tokens")
        lines.append("relay saw: your address and the size and timing of encrypted messages; "
                     "not the gateway's view, not the prompt")
        lines.append("gateway saw: the relay's address, a valid unlinkable token, the model and "
                     "the nodes named; not your address, not the prompt or the answer")
        return "\n".join(lines)
