"""Build pcc._core from csrc/ against the system's libcrypto, msgpack-c, OpenBLAS and tpm2-tss.

Libraries are found with pkg-config; a missing one stops the build with the Debian package that
provides it. Set PCC_WERROR=1 to turn warnings into errors (CI), PCC_SANITIZE=1 for ASan+UBSan.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

# (pkg-config names to try, Debian package, what it is)
REQUIRED = [
    (("libcrypto",), "libssl-dev", "OpenSSL libcrypto >= 3.0"),
    (("msgpack-c", "msgpack"), "libmsgpack-dev", "msgpack-c"),
    (("openblas",), "libopenblas-dev", "OpenBLAS"),
    (("tss2-esys",), "libtss2-dev", "tpm2-tss ESAPI (tss2-esys)"),
    (("tss2-mu",), "libtss2-dev", "tpm2-tss marshalling (tss2-mu)"),
    (("tss2-tctildr",), "libtss2-dev", "tpm2-tss TCTI loader (tss2-tctildr)"),
    (("libseccomp",), "libseccomp-dev", "libseccomp (the worker's system-call filter)"),
]


def _fail(msg):
    sys.stderr.write(f"\npcc build error: {msg}\n\n")
    raise SystemExit(1)


def pkg_config(names, deb, what):
    if shutil.which("pkg-config") is None:
        _fail("pkg-config not found: install it with `apt-get install pkg-config`")
    for name in names:
        r = subprocess.run(["pkg-config", "--exists", name])
        if r.returncode == 0:
            cflags = subprocess.check_output(["pkg-config", "--cflags", name], text=True).split()
            libs = subprocess.check_output(["pkg-config", "--libs", name], text=True).split()
            return cflags, libs
    _fail(f"{what} not found by pkg-config (tried {', '.join(names)}): "
          f"install it with `apt-get install {deb}`")


def sources():
    found = sorted(glob.glob("csrc/**/*.c", recursive=True))
    return [s for s in found if "/fuzz/" not in s and "/tests/" not in s]


def build_flags():
    cflags = ["-std=c11", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wshadow",
              "-Wconversion", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
              "-D_GNU_SOURCE", "-Icsrc/include", "-pthread"]
    ldflags = ["-pthread", "-lm"]
    if os.environ.get("PCC_WERROR") == "1":
        cflags.append("-Werror")
    if os.environ.get("PCC_SANITIZE") == "1":
        cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"]
        ldflags += ["-fsanitize=address,undefined"]
    if os.environ.get("PCC_DEBUG") == "1":
        cflags += ["-g", "-O0"]
    for names, deb, what in REQUIRED:
        c, l = pkg_config(names, deb, what)
        cflags += c
        ldflags += l
    return cflags, ldflags


if any(cmd in sys.argv for cmd in ("build_ext", "build", "bdist_wheel", "install", "develop",
                                   "editable_wheel", "bdist_editable")) or len(sys.argv) == 1:
    CFLAGS, LDFLAGS = build_flags()
else:
    CFLAGS, LDFLAGS = [], []

setup(
    ext_modules=[
        Extension(
            "pcc._core",
            sources=sources(),
            extra_compile_args=CFLAGS,
            extra_link_args=LDFLAGS,
        )
    ],
)
