"""Secure memory: guard pages, canaries, wipe on free/reset, constant-time compare.

Crash tests run in a subprocess so the fault kills that process, not pytest.
"""
import signal
import subprocess
import sys
import textwrap

import pytest

from pcc import _core, errors


def run_child(code):
    """Run code in a fresh interpreter; return (returncode, stderr)."""
    env = {"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin",
           "ASAN_OPTIONS": "handle_segv=0:detect_leaks=0:handle_abort=0"}
    import os
    if "LD_PRELOAD" in os.environ:
        env["LD_PRELOAD"] = os.environ["LD_PRELOAD"]
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=env, timeout=60)
    return p.returncode, p.stderr


def test_roundtrip_and_bounds():
    b = _core.SecureBuffer(100)
    b.write(0, b"x" * 100)
    assert b.read(0, 100) == b"x" * 100
    with pytest.raises(errors.LimitError):
        b.write(1, b"x" * 100)
    with pytest.raises(errors.LimitError):
        b.read(50, 51)
    b.free()
    with pytest.raises(errors.StateError):
        b.read(0, 1)


def test_fresh_allocation_is_zero():
    b = _core.SecureBuffer(5000)
    assert b.read(0, 5000) == bytes(5000)


@pytest.mark.parametrize("size", [1, 33, 4096, 4097, 10000])
def test_data_ends_at_guard_page(size):
    b = _core.SecureBuffer(size)
    assert (b.address + size) % 4096 == 0


def test_invalid_size():
    with pytest.raises(errors.InvalidArgument):
        _core.SecureBuffer(0)


@pytest.mark.parametrize("size", [1, 100, 4096, 5000])
def test_write_past_end_segfaults(size):
    rc, err = run_child(f"""
        from pcc import _core
        b = _core.SecureBuffer({size})
        b._unchecked_write({size} - 1, b"ok")   # one byte past the end
        print("survived")
    """)
    assert rc == -signal.SIGSEGV, (rc, err)


def test_write_before_start_hits_guard_or_canary():
    # The byte just below the data's page is the lower guard page (a 64-byte block fits one page).
    rc, _ = run_child("""
        from pcc import _core
        b = _core.SecureBuffer(64)
        b._unchecked_write(-(b.address % 4096) - 1, b"x")
    """)
    assert rc == -signal.SIGSEGV


def test_smashed_canary_detected_at_free():
    rc, err = run_child("""
        from pcc import _core
        b = _core.SecureBuffer(64)
        b._unchecked_write(-1, b"\\x00")
        b.free()
        print("survived")
    """)
    assert rc == -signal.SIGABRT, (rc, err)
    assert "canary" in err


def test_small_object_smashed_canary_aborts_at_free():
    # pcc_secure_small_alloc slots carry a canary just before the object, checked on free.
    rc, err = run_child("""
        from pcc import _core
        _core._small_slot_smash_test()
        print("survived")
    """)
    assert rc == -signal.SIGABRT, (rc, err)
    assert "canary" in err


@pytest.mark.parametrize("where, message", [
    ("front", "canary before the object"),
    ("rear", "canary after the object"),
    ("slack", "slack after the object"),        # past the rear canary, as a skipping write would
    ("free-alloc", "free slot was written"),    # overflow into a free neighbour, found at alloc
    ("free-free", "free slot was written"),     # the same, found when the object is freed
])
def test_small_object_damage_aborts(where, message):
    rc, err = run_child(f"""
        from pcc import _core
        _core._small_slot_smash_test({where!r})
        print("survived")
    """)
    assert rc == -signal.SIGABRT, (rc, err)
    assert message in err and "survived" not in err


def test_small_object_smash_hook_checks_its_argument():
    with pytest.raises(errors.InvalidArgument):
        _core._small_slot_smash_test("nowhere")
    with pytest.raises(TypeError):
        _core._small_slot_smash_test(1)


def test_read_after_free_faults():
    # Freed secure memory is wiped and unmapped: a stale pointer cannot read it back.
    rc, err = run_child("""
        import ctypes
        from pcc import _core
        b = _core.SecureBuffer(64)
        b.write(0, b"secret!!" * 8)
        addr = b.address
        b.free()
        ctypes.string_at(addr, 8)
        print("survived")
    """)
    assert rc == -signal.SIGSEGV, (rc, err)


def test_arena_reset_reads_back_zeros():
    a = _core.Arena(1 << 20)
    assert a.capacity >= 1 << 20
    off = a.alloc(1000)
    a.write(off, b"\xaa" * 1000)
    off2 = a.alloc(3000, 64)
    assert off2 % 64 == 0 and off2 >= off + 1000
    a.write(off2, b"\xbb" * 3000)
    assert a.read(off, 4) == b"\xaa" * 4
    a.reset()
    assert a.used == 0
    assert a.read(0, off2 + 3000) == bytes(off2 + 3000)


def test_arena_full_and_bad_args():
    a = _core.Arena(4096)
    a.alloc(4000)
    with pytest.raises(errors.LimitError):
        a.alloc(200)
    with pytest.raises(errors.InvalidArgument):
        a.alloc(8, 3)
    with pytest.raises(errors.LimitError):
        a.write(a.used, b"x")


def test_arena_read_past_capacity_is_refused():
    rc, _ = run_child("""
        from pcc import _core
        a = _core.Arena(4096)
        a.read(4096, 1)
    """)
    # read() is bounds-checked: raises LimitError, exits 1, no crash
    assert rc == 1


def test_ct_equal_and_wipe():
    assert _core.ct_equal(b"abc", b"abc")
    assert not _core.ct_equal(b"abc", b"abd")
    assert not _core.ct_equal(b"abc", b"ab")
    buf = bytearray(b"secret")
    _core.wipe(buf)
    assert buf == bytearray(6)
