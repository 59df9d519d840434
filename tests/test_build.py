"""The build fails closed: a library pkg-config cannot find stops it with the Debian package."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_missing_library_names_the_debian_package(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH=str(tmp_path))
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "b"),
                        "--build-temp", str(tmp_path / "t")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "apt-get install libssl-dev" in r.stderr
    assert not list(tmp_path.glob("b/**/*.so"))  # nothing half-built


def _pc_dir_without(tmp_path, hidden):
    """A pkg-config search directory with every installed .pc file except those named hidden."""
    out = tmp_path / "pc"
    out.mkdir()
    dirs = subprocess.run(["pkg-config", "--variable", "pc_path", "pkg-config"],
                          capture_output=True, text=True).stdout.strip().split(":")
    for d in dirs:
        for pc in pathlib.Path(d).glob("*.pc") if d and pathlib.Path(d).is_dir() else []:
            if pc.stem not in hidden and not (out / pc.name).exists():
                (out / pc.name).symlink_to(pc)
    return out


def test_missing_tpm2_tss_names_the_debian_package(tmp_path):
    pc = _pc_dir_without(tmp_path, {"tss2-esys"})
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(pc), PKG_CONFIG_PATH=str(pc))
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "b"),
                        "--build-temp", str(tmp_path / "t")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "apt-get install libtss2-dev" in r.stderr
    assert not list(tmp_path.glob("b/**/*.so"))
    r = subprocess.run(["make", "--no-print-directory", "check-pkgs"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "apt-get install libtss2-dev" in r.stderr
