"""Measured non-targetability promises, with real cryptography.

1. In a cell of N nodes where each request's key DK is sealed (HPKE, X25519) to k nodes drawn by
   the client from the roster, one compromised node's private key opens a share k/N of the
   requests (within binomial bounds), and none of the requests whose drawn set excluded it.
2. At the gateway, tokens that several clients fetched in batches (real RFC 9578 type-2 tokens
   from one issuer key) and redeemed in random interleaved order cannot be attributed to their
   client better than chance by simple classifiers over what the gateway sees (token key id,
   nonce, authenticator, padded request size, arrival order). As a control, the same
   classifiers do link tokens when the issuer signs different clients with different keys (the
   attack that logging the one issuer key prevents)."""
from __future__ import annotations

import hashlib
import math
import os
import random

import numpy as np
import pytest

from pcc import _padding as padding
from pcc import blindrsa, bhttp, hpke, tokens
from pcc.errors import DecryptError, PccError
from pcc.roster import Roster

SUITE = hpke.Suite(kem=0x0020, kdf=0x0001, aead=0x0001)
INFO = b"pcc request key v1"


# ----------------------------------------------------------------------------- compromised node

def _cell(n: int):
    keys = [hpke.PrivateKey.generate(0x0020) for _ in range(n)]
    ids = [hashlib.sha256(b"node identity " + k.public_bytes()).digest() for k in keys]
    by_id = dict(zip(ids, keys))
    return Roster("smollm2", 1, tuple(sorted(ids))), by_id


def _seal_request(roster: Roster, pks: dict, k: int, rng: random.Random):
    """What a client sends: a fresh DK sealed to k nodes it drew itself."""
    dk = os.urandom(16)
    entries = []
    for node in roster.draw(k, rng):
        enc, ctx = hpke.setup_sender(SUITE, pks[node], info=INFO + node)
        entries.append({"node": node, "enc": enc, "ct": ctx.seal(dk)})
    return dk, entries


def _try_open(sk, node_id: bytes, entry) -> bytes | None:
    try:
        return hpke.setup_recipient(SUITE, entry["enc"], sk, info=INFO + node_id).open(
            entry["ct"])
    except (DecryptError, PccError):
        return None


@pytest.mark.parametrize("n_nodes,k", [(10, 2), (16, 3)])
def test_compromised_node_opens_k_over_n(n_nodes, k):
    requests = 2000
    roster, by_id = _cell(n_nodes)
    pks = {i: sk.public_bytes() for i, sk in by_id.items()}
    victim = roster.nodes[3]
    stolen = by_id[victim]
    rng = random.Random(1234 + n_nodes)
    opened = opened_excluded = excluded = 0
    for _ in range(requests):
        dk, entries = _seal_request(roster, pks, k, rng)
        # the attacker holds the victim's key and sees every entry (more than the gateway
        # forwards to one node): it tries each under its own node id
        got = {_try_open(stolen, victim, e) for e in entries} - {None}
        assert got <= {dk}
        chosen = victim in {e["node"] for e in entries}
        excluded += not chosen
        if got:
            opened += 1
            opened_excluded += not chosen
        assert bool(got) == chosen
    assert opened_excluded == 0 and excluded > 0
    p = k / n_nodes
    sd = math.sqrt(requests * p * (1 - p))
    assert abs(opened - requests * p) <= 4 * sd, (opened, requests * p)


def test_node_id_binds_the_key_entry():
    """An entry sealed to node A does not open under node B's id, even with A's key: the info
    string names the node, so an entry cannot be replayed as another node's."""
    roster, by_id = _cell(3)
    a, b = roster.nodes[0], roster.nodes[1]
    enc, ctx = hpke.setup_sender(SUITE, by_id[a].public_bytes(), info=INFO + a)
    entry = {"enc": enc, "ct": ctx.seal(b"k" * 16)}
    assert _try_open(by_id[a], a, entry) == b"k" * 16
    assert _try_open(by_id[a], b, entry) is None
    assert _try_open(by_id[b], b, entry) is None


# ----------------------------------------------------------------------------- token linkage

CLIENTS, BATCH = 6, 24
CONTROL_BATCH = 60


def _issue(issuer: tokens.Issuer, n: int) -> list[tokens.Token]:
    ch = tokens.TokenChallenge("issuer.example", origin_info=["pcc"])
    out = []
    for _ in range(n):
        state, req = tokens.begin_issuance(issuer.spki, ch)
        out.append(tokens.finalize_issuance(state, issuer.issue(req)))
    return out


def _gateway_view(batches: list[list[tokens.Token]], seed: int):
    """Redeem every client's batch in one random interleaved order; return the features the
    gateway sees per redemption and the true client of each."""
    rng = random.Random(seed)
    events = [(c, t) for c, batch in enumerate(batches) for t in batch]
    rng.shuffle(events)
    feats, labels = [], []
    for pos, (client, tok) in enumerate(events):
        prompt = bytes(rng.randrange(50, 900))      # every client: the same prompt-size law
        req = bhttp.Request("POST", "https", "gw.example", "/v1/invoke",
                            [("authorization", "PrivateToken token=...")], prompt)
        size = len(padding.encode_request(req))
        raw = tok.encode()
        f = np.concatenate([
            np.frombuffer(tok.token_key_id[:8], dtype=np.uint8),
            np.frombuffer(tok.nonce, dtype=np.uint8),
            np.frombuffer(tok.authenticator[:32], dtype=np.uint8),
            [size / 1024.0, pos / len(events), len(raw)]]).astype(np.float64)
        feats.append(f)
        labels.append(client)
    return np.array(feats), np.array(labels)


def _standardise(train, test):
    mu = train.mean(axis=0)
    sd = train.std(axis=0)
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def nearest_centroid(xtr, ytr, xte):
    cents = np.stack([xtr[ytr == c].mean(axis=0) for c in range(CLIENTS)])
    d = ((xte[:, None, :] - cents[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def logistic(xtr, ytr, xte, steps=400, lr=0.5, l2=1e-3):
    """Multinomial logistic regression by gradient descent (numpy only)."""
    n, d = xtr.shape
    w = np.zeros((d + 1, CLIENTS))
    xb = np.hstack([xtr, np.ones((n, 1))])
    y = np.eye(CLIENTS)[ytr]
    for _ in range(steps):
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        w -= lr * (xb.T @ (p - y) / n + l2 * w)
    return (np.hstack([xte, np.ones((len(xte), 1))]) @ w).argmax(axis=1)


def _accuracies(x, y, seed):
    """Accuracy of both classifiers, trained on one half and tested on the other, both ways."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    halves = (idx[: len(y) // 2], idx[len(y) // 2:])
    accs = {"centroid": [], "logistic": []}
    for tr, te in (halves, halves[::-1]):
        xtr, xte = _standardise(x[tr], x[te])
        accs["centroid"].append(np.mean(nearest_centroid(xtr, y[tr], xte) == y[te]))
        accs["logistic"].append(np.mean(logistic(xtr, y[tr], xte) == y[te]))
    return {k: float(np.mean(v)) for k, v in accs.items()}, len(y) // 2


@pytest.fixture(scope="module")
def issuers():
    return [tokens.Issuer(blindrsa.PrivateKey.generate(bits=2048)) for _ in range(2)]


def test_batched_tokens_cannot_be_linked_to_their_client(issuers):
    one = issuers[0]
    batches = [_issue(one, BATCH) for _ in range(CLIENTS)]
    x, y = _gateway_view(batches, seed=77)
    assert len({bytes(r[:8]) for r in x.astype(np.uint8)}) == 1     # one key id for everyone
    accs, n_test = _accuracies(x, y, seed=5)
    chance = 1 / CLIENTS
    # each accuracy averages two test halves of n_test; allow 3.5 standard errors above chance
    bound = chance + 3.5 * math.sqrt(chance * (1 - chance) / (2 * n_test))
    for name, acc in accs.items():
        assert acc <= bound, (name, acc, bound)


def test_control_per_client_issuer_keys_are_linked(issuers):
    """The same classifiers separate clients when the issuer tags them with different keys.

    The best they can do here is about 1/3 (the key id names a group of three clients); with
    CONTROL_BATCH tokens per client that sits about four standard errors above the bound, so
    this control does not fail by chance."""
    batches = [_issue(issuers[c % 2], CONTROL_BATCH) for c in range(CLIENTS)]
    x, y = _gateway_view(batches, seed=78)
    accs, n_test = _accuracies(x, y, seed=6)
    chance = 1 / CLIENTS
    bound = chance + 3.5 * math.sqrt(chance * (1 - chance) / (2 * n_test))
    # the key id splits the clients in two groups: accuracy near 2/CLIENTS, far above chance
    assert max(accs.values()) > bound
