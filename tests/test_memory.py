"""The daemon fixes glibc's malloc thresholds so freed inference buffers leave the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_thresholds_are_fixed_on_glibc() -> None:
    """On this glibc system mallopt accepts both settings (elsewhere the call is a no-op)."""
    from edge_ocr.memory import release_freed_memory

    assert release_freed_memory() is True


def test_freed_large_buffers_return_to_the_system() -> None:
    """After the fix, freeing many mid-size buffers brings RSS back down instead of keeping it."""
    script = textwrap.dedent(
        """
        import sys
        from edge_ocr.memory import release_freed_memory
        if sys.argv[1] == "fixed":
            release_freed_memory()
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        start = rss()
        for _ in range(3):
            # Freeing a big mapped buffer raises glibc's dynamic mmap threshold, so the
            # following 2 MB buffers come from the heap; the survivors pin it.
            big = bytearray(64 << 20); del big
            blocks = [bytearray(2 << 20) for _ in range(40)]
            keep = blocks[::8]
            del blocks
        print(rss() - start)
        """
    )
    grown = {}
    for mode in ("default", "fixed"):
        out = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, check=True
        )
        grown[mode] = float(out.stdout.strip())
    assert grown["fixed"] < grown["default"] - 20, grown
