"""A bench worker that dies by SIGKILL on any job that holds a BiFPN, and otherwise hands the job
to the real worker (``fpnprof.bench.worker``) and relays its answer, line by line both ways (the
parent answers a worker's warm-up report on its stdin)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

payload = sys.stdin.readline()
if "bifpn" in payload:
    os.kill(os.getpid(), signal.SIGKILL)
with subprocess.Popen(
    [sys.executable, "-m", "fpnprof.bench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
) as real:
    assert real.stdin is not None and real.stdout is not None
    real.stdin.write(payload)
    real.stdin.flush()
    for line in real.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith('{"event"') and not real.stdin.closed:
            real.stdin.write(sys.stdin.readline())
            real.stdin.close()
    if not real.stdin.closed:
        real.stdin.close()
sys.exit(real.returncode)
