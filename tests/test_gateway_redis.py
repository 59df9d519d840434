"""Two gateways sharing one real redis-server: a token spent at one is refused at the other."""
from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time

import pytest

from pcc import blindrsa, tokens
from pcc.services._spend import RedisSpendStore, SQLiteSpendStore

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tmp_path_factory.mktemp("redis")
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", str(d)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                p.kill()
                raise
            time.sleep(0.05)
    yield url
    p.terminate()
    p.wait(10)


def test_redis_spend_store_is_shared(redis_url):
    a, b = RedisSpendStore(redis_url, "t1:"), RedisSpendStore(redis_url, "t1:")
    assert a.spend(b"k" * 32, b"n" * 32, 60)
    assert not b.spend(b"k" * 32, b"n" * 32, 60)
    assert b.spend(b"k" * 32, b"m" * 32, 60)
    b.unspend(b"k" * 32, b"m" * 32)               # given back: spendable once more
    assert a.spend(b"k" * 32, b"m" * 32, 60) and not b.spend(b"k" * 32, b"m" * 32, 60)
    assert a.redis.ttl(b"t1:spent:" + (b"k" * 32).hex().encode() + b":" +
                       (b"n" * 32).hex().encode()) > 0
    a.close(), b.close()


def test_sqlite_spend_store(tmp_path):
    s = SQLiteSpendStore(str(tmp_path / "s.db"))
    assert s.spend(b"k", b"n", 60) and not s.spend(b"k", b"n", 60)
    s.unspend(b"k", b"n")
    assert s.spend(b"k", b"n", 60) and not s.spend(b"k", b"n", 60)
    s.close()
    s = SQLiteSpendStore(str(tmp_path / "s.db"))      # survives a restart
    assert not s.spend(b"k", b"n", 60)
    s.close()


def test_two_gateways_one_redis(redis_url, tmp_path):
    """A token spent through one gateway is refused (403) at a second one sharing the Redis
    spend store (each behind its own relay); the second finds the node in the Redis registry."""
    import dataclasses
    import llm_tiny
    from _testnode import LocalNode
    from pcc.cell import Cell
    from pcc.client import Client
    from pcc.services import gateway, relay, serve_in_thread
    from test_path import MSGS, _auth, _invoke_raw, wait_nodes
    tiny = llm_tiny.build(tmp_path, llm_tiny.F32, name="tiny-chat.gguf").path
    cell = Cell(tmp_path / "cell", nodes=0, model=str(tiny), redis_url=redis_url)
    cell.start()
    node = LocalNode(cell, str(tiny), "tiny-chat", "SN-REDIS")
    cell.gateway_app.state.add_node(node.url)
    cell._write_client_json()
    # the second gateway knows no node: it finds it in the shared Redis registry
    import redis
    redis.Redis.from_url(redis_url).sadd(cell.gateway_config.redis_prefix + "nodes", node.url)
    gw2 = serve_in_thread(gateway.create_app(dataclasses.replace(cell.gateway_config, nodes=())))
    rl2 = serve_in_thread(relay.create_app(relay.RelayConfig(gateway_url=gw2.url + "/")))
    try:
        c1 = Client.from_config(cell.dir / "client.json")
        cfg2 = cell.client_config()
        cfg2["relay"], cfg2["gateway"] = rl2.url + "/", gw2.url
        c2 = Client.from_config(cfg2)
        wait_nodes(c1, 1), wait_nodes(c2, 1)
        tok = c1._token()
        assert _invoke_raw(c1, _auth(tok))[0].status == 200
        head, _ = _invoke_raw(c2, _auth(tok))
        assert head.status == 403
        tok2 = c1._token()
        assert _invoke_raw(c2, _auth(tok2))[0].status == 200      # spent at the second
        assert _invoke_raw(c1, _auth(tok2))[0].status == 403      # refused at the first
        assert c2.complete(MSGS, max_tokens=2)
        c1.close(), c2.close()
    finally:
        rl2.stop(), gw2.stop(), node.stop(), cell.stop()


# ---- the gateway's invoke-body parser on hostile input ---------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from pcc.errors import FormatError  # noqa: E402
from pcc.services.gateway import _check_invoke  # noqa: E402

_GOOD = {"v": 1, "model": "m", "keys": [{"node": b"\x01" * 32, "key_id": b"k" * 8,
                                         "enc": b"e" * 32, "ct": b"c" * 32}],
         "nonce": b"n" * 12, "body": [b"x"]}


def test_invoke_parser_accepts_the_format():
    import msgpack
    assert _check_invoke(msgpack.packb(_GOOD, use_bin_type=True))["model"] == "m"


@pytest.mark.parametrize("change", [
    {"v": 2}, {"model": ""}, {"model": 5}, {"nonce": b"short"}, {"body": []}, {"body": ["text"]},
    {"keys": []}, {"keys": [{"node": b"\x01" * 31, "key_id": b"k" * 8, "enc": b"e", "ct": b"c"}]},
    {"keys": [_GOOD["keys"][0], _GOOD["keys"][0]]}, {"extra": 1}])
def test_invoke_parser_refuses(change):
    import msgpack
    bad = dict(_GOOD, **change)
    with pytest.raises(FormatError):
        _check_invoke(msgpack.packb(bad, use_bin_type=True))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_invoke_parser_random_bytes(data):
    try:
        _check_invoke(data)
    except FormatError:
        pass
