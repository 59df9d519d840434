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

from pcc import _padding, attest, bhttp, hpke, ohttp, tokens, transparency
from pcc._request import Done, Failed, NodeKey, Params, seal_request
from pcc.errors import (FormatError, InvalidArgument, LimitError, PeerError,
                        StateError, VerifyError)
from pcc.transparency import leaves

__all__ = ["Client", "Message"]

Message = Union[Mapping[str, str], tuple]

_NODES_MEDIA_TYPE = "application/pcc-nodes+msgpack"
_REQUEST_MEDIA_TYPE = "application/pcc-request+msgpack"
_DIRECTORY = "/.well-known/private-token-issuer-directory"
_SMALL = 1 << 20          # cap on keys, proofs, directories and discovery answers
_MAX_ANSWER = 64 << 20


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


class Client:
    """A client of one cell: relay, gateway, issuer and log URLs, an issuer account, the default
    model and the pinned trust (:class:`pcc.attest.Trust`). ``k``: nodes asked for at discovery
    (the request is sealed to every one that verifies); ``wallet_batch``: tokens fetched at a
    time; ``busy_retries``: how often a request no node could take (503; its token is given
    back) is retried, with jittered backoff. Thread-safe for sequential use from
    several threads (one request at a time per client is the common case)."""

    def __init__(self, *, relay: str, gateway: str, issuer: str, log: str, account: str,
                 model: str, trust: attest.Trust, k: int = 3, wallet_batch: int = 8,
                 timeout_s: float = 600.0, busy_retries: int = 4) -> None:
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
        self.last_report: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<pcc Client relay={self.relay} model={self.model} wallet={len(self._wallet)}>"

    @classmethod
    def from_config(cls, path_or_dict: Union[str, pathlib.Path, Mapping[str, Any]],
                    **kw: Any) -> "Client":
        """A client from a ``client.json`` (a path, or the dict it holds): ``relay``,
        ``gateway``, ``issuer``, ``log``, ``account``, ``model`` and ``trust``."""
        if isinstance(path_or_dict, Mapping):
            cfg = dict(path_or_dict)
        elif isinstance(path_or_dict, (str, pathlib.Path)):
            try:
                cfg = json.loads(pathlib.Path(path_or_dict).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"client: cannot read {path_or_dict} "
                                      f"({type(e).__name__})") from None
        else:
            raise TypeError("from_config takes a path or a dict")
        if cfg.get("v") != 1:
            raise InvalidArgument("client.json: v must be 1")
        try:
            return cls(relay=cfg["relay"], gateway=cfg["gateway"], issuer=cfg["issuer"],
                       log=cfg["log"], account=cfg["account"], model=cfg["model"],
                       trust=attest.Trust.from_client_config(cfg["trust"]), **kw)
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
        """Discover nodes serving ``model`` (default: the configured one) through the relay and
        return the reports of those that pass verification; cached until the first of their
        keys expires. Nodes that fail are kept out (see ``last_report["rejected"]``)."""
        return list(self._discover(model or self.model).reports)

    def _discover(self, model: str, *, fresh: bool = False) -> _Discovery:
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
            try:
                bundles = msgpack.unpackb(body, raw=False)["nodes"]
                if not all(isinstance(b, bytes) for b in bundles):
                    raise TypeError
            except Exception:
                raise FormatError("gateway: malformed discovery answer") from None
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
            expires = min([float(r.key_not_after or 0) for r in uniq], default=now + 5)
            d = _Discovery(uniq, min(expires - 30, now + 3600), bad)
            self._nodes[model] = d
            return d

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
        for n in r.get("nodes", []):
            checks = ", ".join(c["name"] for c in n["checks"] if c["ok"])
            lines.append(f"node {n['node_id'][:16]}: verified ({checks})")
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
