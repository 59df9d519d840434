"""Software TPMs for tests and ``pcc up --enclave tpm``: swtpm (TPM 2.0) manufactured by
swtpm_setup, with an EK certificate from a local manufacturer CA of its own (swtpm_localca),
SHA-256 and SHA-384 PCR banks, served on free loopback ports and reached through the tpm2-tss
"swtpm" TCTI. swtpm keeps its secrets in a state file: it is for development, and its local CA
must never be in a production inventory of TPM manufacturers.

    with LocalCA(tmp / "ca") as ca, Swtpm(tmp / "tpm", ca) as sw:
        tpm = pcc.tpm.Tpm(sw.tcti)
"""
from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

TOOLS = ("swtpm", "swtpm_setup", "swtpm_localca")


# TPM2_Shutdown(TPM_SU_CLEAR) with no sessions: tag 0x8001, size 12, command code 0x145
SHUTDOWN = bytes.fromhex("80010000000c000001450000")


def missing_tools() -> list[str]:
    """The swtpm programs that are not installed (Debian: swtpm, swtpm-tools)."""
    return [t for t in TOOLS if shutil.which(t) is None]


class LocalCA:
    """A manufacturer CA of its own (root + issuing CA), made by swtpm_localca on first use."""

    def __init__(self, directory: pathlib.Path):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "swtpm-localca.conf"
        self.options = self.dir / "swtpm-localca.options"
        self.config.write_text(
            f"statedir = {self.dir}\n"
            f"signingkey = {self.dir}/signkey.pem\n"
            f"issuercert = {self.dir}/issuercert.pem\n"
            f"certserial = {self.dir}/certserial\n")
        self.options.write_text(
            "--platform-manufacturer pcc-test\n--platform-version 2.1\n--platform-model swtpm\n")

    @property
    def root_pem(self) -> bytes:
        """The manufacturer root (exists once a TPM was manufactured with this CA)."""
        return (self.dir / "swtpm-localca-rootca-cert.pem").read_bytes()

    @property
    def intermediate_pem(self) -> bytes:
        """The CA that signs the EK certificates, certified by the root."""
        return (self.dir / "issuercert.pem").read_bytes()

    def __enter__(self) -> "LocalCA":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _free_port_pair() -> int:
    """A port P with P and P + 1 free on 127.0.0.1 (swtpm's server and control ports)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free loopback ports")


class Swtpm:
    """One swtpm process: manufactured (EK + certificate, platform certificate, PCR banks sha256 and
    sha384) in directory, then served on loopback until stop()."""

    def __init__(self, directory: pathlib.Path, ca: LocalCA, *, banks: str = "sha256,sha384"):
        self.dir = pathlib.Path(directory)
        self.ca = ca
        self.banks = banks
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log = self.dir / "swtpm.log"

    @property
    def tcti(self) -> str:
        """The TCTI configuration string for tpm2-tss."""
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def manufacture(self) -> None:
        state = self.dir / "state"
        state.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "swtpm_setup.conf"
        conf.write_text(
            "create_certs_tool = swtpm_localca\n"
            f"create_certs_tool_config = {self.ca.config}\n"
            f"create_certs_tool_options = {self.ca.options}\n"
            f"active_pcr_banks = {self.banks}\n")
        r = subprocess.run(
            ["swtpm_setup", "--tpm2", "--tpmstate", str(state), "--config", str(conf),
             "--create-ek-cert", "--create-platform-cert", "--pcr-banks", self.banks,
             "--overwrite"],
            capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"swtpm_setup failed: {r.stdout}{r.stderr}")

    def start(self) -> None:
        if not (self.dir / "state").exists():
            self.manufacture()
        last = ""
        for _ in range(5):
            self.port = _free_port_pair()
            log = open(self._log, "ab")
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.dir / 'state'}",
                 "--server", f"type=tcp,bindaddr=127.0.0.1,port={self.port}",
                 "--ctrl", f"type=tcp,bindaddr=127.0.0.1,port={self.port + 1}",
                 "--flags", "not-need-init,startup-clear"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                except OSError:
                    time.sleep(0.02)
            last = self._log.read_text(errors="replace")
            self.stop()
        raise RuntimeError(f"swtpm did not start: {last}")

    def shutdown(self) -> bool:
        """Send TPM2_Shutdown(CLEAR): the next start is then an orderly reset. A TPM counts every
        disorderly one as a dictionary-attack failure and locks out keys with a password (the AK)
        after a few. Returns whether the TPM said success."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
                c.sendall(SHUTDOWN)
                got = b""
                while len(got) < 10:
                    piece = c.recv(64)
                    if not piece:
                        break
                    got += piece
        except OSError:
            return False
        return got[6:10] == bytes(4)  # TPM_RC_SUCCESS

    def stop(self) -> None:
        """An orderly TPM2_Shutdown, then the process ends (its state stays in the folder)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.shutdown()
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None

    def __enter__(self) -> "Swtpm":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

