"""Crypto benchmarks: every protocol beside the raw OpenSSL primitives it is built from.

Runs each benchmarks/bench_<part>.py that is present (HPKE, OHTTP, blind RSA, Merkle and signed
notes) in turn; each prints medians of several repeats and the ratio to its baseline measured in
the same run. Usage: `python benchmarks/bench_crypto.py [part …]`.
"""
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
PARTS = ["hpke", "ohttp", "blindrsa", "merkle"]


def run_part(name: str) -> bool:
    path = HERE / f"bench_{name}.py"
    if not path.exists():
        print(f"== {name}: not present, skipped")
        return False
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    print(f"== {name}")
    saved, sys.argv = sys.argv, [str(path)]  # each part parses its own (default) arguments
    try:
        mod.main()
    finally:
        sys.argv = saved
    return True


def main(argv: list[str]) -> int:
    parts = argv or PARTS
    ran = [p for p in parts if run_part(p)]
    return 0 if ran else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
