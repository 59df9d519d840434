"""The log survives kill -9 at any moment of an append batch.

For several rounds: clients add leaves concurrently to a log (uvicorn subprocess) witnessed by a
witness (another subprocess, quorum 1); the log is SIGKILLed at a random moment and restarted.
After each restart: the checkpoint verifies and is cosigned (so the witness accepted the
restarted log's checkpoint), every acknowledged entry is in the log at its index with its proof
still valid, and a full audit (replay of every entry and tile, root recomputed, consistency with
the previous round's checkpoint) passes.
"""
import os
import random
import threading
import time

import httpx
import pytest

from _tlog_util import Server, free_port, keygen, log_args, start_witness, wait_checkpoint
from pcc import transparency
from pcc.transparency import _note as tlognote, leaves
from pcc.transparency.tiles import Tile, decode_bundle
from pcc.transparency.client import Auditor, TileReader

ORIGIN = "log.example/crash"
ROUNDS = 5


def _leaf(n: int) -> bytes:
    return leaves.roster("crash-model", n, [n.to_bytes(32, "big")])


def _client_loop(url, signer, counter, acked, stop, errors):
    import msgpack
    with httpx.Client(timeout=10.0) as c:
        while not stop.is_set():
            with counter["lock"]:
                n = counter["n"]
                counter["n"] += 1
            leaf = _leaf(n)
            body = msgpack.packb({"leaf": leaf, "sig": tlognote.raw_sign(signer, leaf)},
                                 use_bin_type=True)
            try:
                r = c.post(url + "/add", content=body)
            except httpx.HTTPError:
                time.sleep(0.02)
                continue
            if r.status_code == 200:
                obj = msgpack.unpackb(r.content, raw=False)
                acked.append((obj["index"], leaf, obj["proof"]))
            elif r.status_code != 503:
                errors.append((r.status_code, r.text))


@pytest.mark.timeout(300)
def test_kill9_during_appends(tmp_path):
    rng = random.Random(0x7106)
    log_sk, log_vk = keygen(tmp_path, ORIGIN)
    pub_sk, pub_vk = keygen(tmp_path, "publisher.example")
    signer = tlognote.load_signer(tlognote.read_key_file(pub_sk))
    wit, wit_vk = start_witness(tmp_path, "w.example", [(ORIGIN, log_vk)])
    port = free_port()
    srv = Server(log_args(tmp_path, ORIGIN, log_sk, [pub_vk], [(wit.url, wit_vk)], quorum=1)
                 + ["--batch-ms", "2"], port, tmp_path / "log.log", "/checkpoint")
    counter = {"n": 0, "lock": threading.Lock()}
    acked: list = []
    errors: list = []
    state = None
    reader_client = httpx.Client(timeout=30.0)
    try:
        srv.start()
        for rnd in range(ROUNDS):
            wait_checkpoint(srv.url, 0)
            stop = threading.Event()
            threads = [threading.Thread(target=_client_loop,
                                        args=(srv.url, signer, counter, acked, stop, errors))
                       for _ in range(6)]
            for t in threads:
                t.start()
            # let appends get going, then kill at a random moment while they stream in
            target, deadline = len(acked) + 10, time.monotonic() + 30
            while len(acked) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.5))
            srv.kill()                                  # SIGKILL mid-batch
            stop.set()
            for t in threads:
                t.join(15)
            srv.start()
            # the restarted log publishes a checkpoint for everything it committed, and the
            # witness cosigns it (quorum 1: no cosignature, no checkpoint)
            note = wait_checkpoint(srv.url, max([i + 1 for i, _, _ in acked] or [0]))
            n = tlognote.open_note(note, [tlognote.load_verifier(log_vk)])
            assert tlognote.verify_cosignatures(n.text, n.lines,
                                                [tlognote.load_verifier(wit_vk)])
            # full audit, consistent with the previous round's checkpoint
            auditor = Auditor(TileReader(srv.url), log_vk, [wit_vk], 1)
            state = auditor.run_once(state)
            # every acknowledged entry is present at its index, its proof still verifies
            for idx, leaf, proof in acked:
                got, _ = transparency.verify_proof(leaf, proof, log_vk, [wit_vk], 1, 3600)
                assert got == idx
            bundle_cache = {}
            for idx, leaf, _ in acked:
                b = idx // 256
                if b not in bundle_cache:
                    width = min(256, state.size - b * 256)
                    r = reader_client.get(f"{srv.url}/{Tile(-1, b, width).path}")
                    assert r.status_code == 200
                    bundle_cache[b] = decode_bundle(r.content, width)
                assert bundle_cache[b][idx % 256] == leaf
        assert not errors, errors[:3]
        assert len(acked) >= 10 * ROUNDS, "too few acknowledgements to test anything"
        indices = [i for i, _, _ in acked]
        assert len(set(indices)) == len(indices)
    finally:
        reader_client.close()
        srv.stop()
        wit.stop()


def _setup(tmp_path, name):
    log_sk, log_vk = keygen(tmp_path, ORIGIN)
    pub_sk, pub_vk = keygen(tmp_path, "publisher.example")
    wit, wit_vk = start_witness(tmp_path, name, [(ORIGIN, log_vk)])
    srv = Server(log_args(tmp_path, ORIGIN, log_sk, [pub_vk], [(wit.url, wit_vk)], quorum=1)
                 + ["--add-timeout", "2"], free_port(), tmp_path / "log.log", "/checkpoint")
    return srv, wit, log_vk, wit_vk, tlognote.load_signer(tlognote.read_key_file(pub_sk))


def _post(url, signer, leaf, timeout=30.0):
    import msgpack
    body = msgpack.packb({"leaf": leaf, "sig": tlognote.raw_sign(signer, leaf)}, use_bin_type=True)
    return httpx.post(url + "/add", content=body, timeout=timeout)


def _cosigned_size(url, log_vk, wit_vk):
    note = httpx.get(url + "/checkpoint").text
    n = tlognote.open_note(note, [tlognote.load_verifier(log_vk)])
    assert tlognote.verify_cosignatures(n.text, n.lines, [tlognote.load_verifier(wit_vk)])
    return tlognote.parse_checkpoint(n.text).size


def test_kill9_while_witness_hangs(tmp_path):
    """Killed after committing a batch but before its checkpoint was cosigned: the restarted
    log publishes the committed entries once the witness answers again."""
    import signal
    srv, wit, log_vk, wit_vk, pub = _setup(tmp_path, "w.example")
    try:
        srv.start()
        wait_checkpoint(srv.url, 0)
        assert _post(srv.url, pub, _leaf(1)).status_code == 200
        os.kill(wit.proc.pid, signal.SIGSTOP)          # the witness stops answering
        try:
            r = _post(srv.url, pub, _leaf(2))
            assert r.status_code == 503 and r.json()["index"] == 1   # committed, unpublished
            srv.kill()
        finally:
            os.kill(wit.proc.pid, signal.SIGCONT)
        srv.start()
        wait_checkpoint(srv.url, 2)
        assert _cosigned_size(srv.url, log_vk, wit_vk) == 2
        r = _post(srv.url, pub, _leaf(2))             # the retried add finds its entry
        assert r.status_code == 200
        import msgpack
        assert msgpack.unpackb(r.content)["index"] == 1
    finally:
        srv.stop()
        wit.stop()


def test_witness_ahead_of_the_log(tmp_path):
    """The witness cosigned a checkpoint the log never recorded (crash between the two): the
    witness answers 409 with its size and the log continues from there."""
    import sqlite3
    srv, wit, log_vk, wit_vk, pub = _setup(tmp_path, "w.example")
    try:
        srv.start()
        for i in range(5):
            assert _post(srv.url, pub, _leaf(10 + i)).status_code == 200
        srv.stop()
        conn = sqlite3.connect(tmp_path / "log.db")
        conn.execute("DELETE FROM witness_state")       # the log forgets what the witness saw
        conn.commit()
        conn.close()
        srv.start()
        assert _post(srv.url, pub, _leaf(99)).status_code == 200
        assert _cosigned_size(srv.url, log_vk, wit_vk) == 6
    finally:
        srv.stop()
        wit.stop()
