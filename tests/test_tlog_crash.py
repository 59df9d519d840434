"""The log survives kill -9 at any moment of an append batch.

For several rounds: clients add leaves concurrently to a log (uvicorn subprocess) witnessed by a
witness (another subprocess, quorum 1); the log is SIGKILLed at a random moment and restarted.
After each restart: the checkpoint verifies and is cosigned (so the witness accepted the
restarted log's checkpoint), every acknowledged entry is in the log at its index with its proof
still valid, and a full audit (replay of every entry and tile, root recomputed, consistency with
the previous round's checkpoint) passes.
"""
import random
import threading
import time

import httpx
import pytest

from _tlog_util import Server, free_port, keygen, log_args, start_witness, wait_checkpoint
from pcc import transparency
from pcc._internal import leaves, tlognote
from pcc._internal.tiles import Tile, decode_bundle
from pcc._internal.tlogclient import Auditor, TileReader

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
    signer = tlognote.read_key_file(pub_sk)
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
            auditor = Auditor(TileReader(srv.url, reader_client), log_vk, [wit_vk], 1)
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
