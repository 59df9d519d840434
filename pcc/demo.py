"""`make demo`: the end-to-end demo of what pcc can do today.

A client OHTTP-encapsulates a binary-HTTP request to a gateway's key configuration; the gateway
decapsulates it, answers, and the client opens the answer. Each side prints what it saw, so you
can check that the relay in the middle only ever carries ciphertext. Then the inference engine
answers the prompt with SmolLM2, greedily, with the defaults of ``pcc.llm.DEFAULTS`` (the full
cell arrives with a later issue).
"""
from __future__ import annotations

import argparse
import sys
import time


def _show(label: str, data: bytes, limit: int = 48) -> str:
    head = data[:limit].hex()
    return f"{label} ({len(data)} bytes): {head}{'…' if len(data) > limit else ''}"


def crypto_demo(prompt: str) -> bytes:
    """Run one OHTTP round trip carrying a BHTTP request; return the answer's content."""
    from pcc import bhttp, hpke, ohttp

    # Gateway: one X25519 key, offering AES-128-GCM and ChaCha20-Poly1305.
    sk = hpke.PrivateKey.generate(0x0020)
    cfg = ohttp.KeyConfig(key_id=1, kem=0x0020, public_key=sk.public_bytes(),
                          suites=[(0x0001, 0x0001), (0x0001, 0x0003)])
    keys = ohttp.encode_key_configs([cfg])
    gateway = ohttp.Gateway([(cfg, sk)])
    print("gateway: publishes application/ohttp-keys", _show("", keys).strip())

    # Client: fetches the key list, builds and encapsulates the request.
    client_cfg = ohttp.decode_key_configs(keys)[0]
    req = bhttp.Request("POST", "https", "pcc.example", "/v1/echo",
                        headers=[("content-type", "text/plain")], content=prompt.encode())
    enc_req, cctx = ohttp.encapsulate_request(client_cfg, req.encode())
    print("client : sends", _show("message/ohttp-req", enc_req))
    print("relay  : forwards only that ciphertext; it cannot read the prompt")

    # Gateway: decapsulates and answers.
    inner, rctx = gateway.decapsulate(enc_req)
    got = bhttp.Request.decode(inner)
    print(f"gateway: decrypted {got.method} {got.path} with {len(got.content)} bytes of content")
    answer = b"echo: " + got.content
    resp = bhttp.Response(200, headers=[("content-type", "text/plain")], content=answer)
    enc_resp = rctx.encapsulate(resp.encode())
    print("gateway: returns", _show("message/ohttp-res", enc_resp))

    # Client: opens the answer.
    out = bhttp.Response.decode(cctx.decapsulate_response(enc_resp))
    print(f"client : status {out.status}, answer {out.content.decode()!r}")
    return out.content


def llm_demo(prompt: str, max_tokens: int) -> None:
    """Answer prompt with the real SmolLM2 model, streaming the text."""
    from pcc import llm

    model = llm.Model.load(llm.default_model())
    print(f"model  : {model.info.get('name', 'SmolLM2')} loaded; answering {prompt!r}")
    n = 0
    t0 = time.perf_counter()
    for piece in model.generate(messages=[{"role": "user", "content": prompt}],
                                max_tokens=max_tokens):          # greedy: pcc.llm.DEFAULTS
        sys.stdout.write(piece)
        sys.stdout.flush()
        n += 1
    dt = time.perf_counter() - t0
    print(f"\nmodel  : {n} pieces in {dt:.2f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; ``--max-tokens`` defaults to :data:`pcc.llm.DEFAULTS`."""
    from pcc.llm import DEFAULTS
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--prompt", default="Explain in one sentence why privacy matters.",
                    help="the prompt the model answers")
    ap.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens,
                    help="most tokens the model generates (greedy decoding)")
    args = ap.parse_args(argv)
    crypto_demo(args.prompt)
    llm_demo(args.prompt, args.max_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
