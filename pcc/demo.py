"""`make demo`: one real prompt answered through the private path, end to end.

A whole cell starts in a temporary folder on loopback (provisioning CA, transparency log with two
witnesses, token issuer, relay, gateway and two compute nodes serving SmolLM2-135M-Instruct); the
client checks the gateway's and the issuer's keys against the log, fetches anonymous tokens,
verifies the model's roster against the log, draws its nodes from it and verifies their
attestations, seals the prompt to them and sends it through the relay; the answer streams back,
decrypted as it arrives (greedy, :data:`pcc.llm.DEFAULTS`). Then it prints what was verified
(the roster included), which nodes were drawn, which node answered and what the relay and the
gateway could see, and stops the cell. ``--dir`` keeps the cell in a folder of your choice
instead (reused when run again).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time


def _say(msg: str) -> None:
    print(f"... {msg}", file=sys.stderr, flush=True)


def run(prompt: str, max_tokens: int, directory: str, nodes: int = 2) -> int:
    """Start a cell in ``directory``, answer ``prompt`` through it with the explanation, stop."""
    from pcc.cell import Cell
    from pcc.client import Client
    from pcc.errors import PccError

    cell = Cell(directory, nodes=nodes, progress=_say)
    t0 = time.perf_counter()
    try:
        cell.start()
        _say(f"cell up in {time.perf_counter() - t0:.1f} s:")
        for name, url in cell.services:
            print(f"  {name:<10} {url}")
        with Client.from_config(cell.dir / "client.json") as client:
            print(f"\nprompt : {prompt}\nanswer : ", end="", flush=True)
            t1 = time.perf_counter()
            for piece in client.chat([{"role": "user", "content": prompt}],
                                     max_tokens=max_tokens):
                sys.stdout.write(piece)
                sys.stdout.flush()
            dt = time.perf_counter() - t1
            print(f"\n\n(answered through relay -> gateway -> node in {dt:.2f} s)\n")
            print(client.explain())
    except PccError as e:
        print(f"\ndemo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    finally:
        _say("stopping the cell")
        cell.stop()
    _say("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; ``--max-tokens`` defaults to :data:`pcc.llm.DEFAULTS`."""
    from pcc.llm import DEFAULTS
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--prompt", default="Explain in one sentence why privacy matters.",
                    help="the prompt the model answers")
    ap.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens,
                    help="most tokens the model generates (greedy decoding)")
    ap.add_argument("--dir", default=None,
                    help="keep the cell in this folder (default: a temporary one, removed)")
    ap.add_argument("--nodes", type=int, default=2, help="compute nodes in the cell")
    args = ap.parse_args(argv)
    if args.dir:
        return run(args.prompt, args.max_tokens, args.dir, args.nodes)
    with tempfile.TemporaryDirectory(prefix="pcc-demo-") as d:
        return run(args.prompt, args.max_tokens, d, args.nodes)


if __name__ == "__main__":
    raise SystemExit(main())
