"""Optional sampling profile of the service process with py-spy (if installed).

py-spy is not a dependency: ``pip install py-spy`` into the virtualenv to use ``--py-spy``.
The output is py-spy's "raw" format (collapsed stacks, one line per stack with its count),
which ``bench/hotspots.py`` (or any flame-graph tool) summarises.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_STOP_WAIT_S = 30.0


@contextlib.contextmanager
def py_spy(
    pid: int, output: Path | None, *, rate_hz: int = 100, gil_only: bool = True
) -> Iterator[None]:
    """Sample ``pid`` into ``output`` while the block runs.

    ``gil_only``: sample only the thread holding the GIL. The service is GIL-bound under
    load, so this shows where its Python time goes; time spent in syscalls with the GIL
    released (socket writes, futex wake-ups) does not show, run with ``gil_only=False``
    to see those.
    """
    if output is None:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [exe, "record", "-p", str(pid), "-o", str(output), "--format", "raw"]
    command += ["-r", str(rate_hz), "--nonblocking", "--threads"]
    if gil_only:
        command.append("--gil")
    with output.with_suffix(".log").open("wb") as errors:
        recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            yield
        finally:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                recorder.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait(_STOP_WAIT_S)
