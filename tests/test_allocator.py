"""The timing processes' steady allocator: after it, a large tensor freed and made again faults no
pages in (glibc's default gives it back to the system and faults it in afresh every time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fpnprof.bench.allocator import steady_allocator

# A 64 MiB buffer made and freed ten times after one warm-up: the minor page faults the ten cost.
_PROBE = """
import json, resource, sys
if sys.argv[1] == "steady":
    from fpnprof.bench.allocator import steady_allocator
    assert steady_allocator()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
bytearray(64 << 20)
before = faults()
for _ in range(10):
    bytearray(64 << 20)
print(json.dumps(faults() - before))
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(json.loads(done.stdout))


@pytest.mark.skipif(not sys.platform.startswith("linux") or not steady_allocator(), reason="glibc's mallopt only")
def test_the_steady_allocator_faults_no_pages_in_again() -> None:
    pages = (64 << 20) // 4096
    assert _faults("default") >= 10 * pages * 0.9  # every buffer faulted in afresh
    assert _faults("steady") < pages * 0.1  # the warm-up's pages reused
