#!/usr/bin/env python3
"""Summarise a py-spy "raw" profile: where the busy samples go.

    python bench/hotspots.py PROFILE.txt [--top 25]

py-spy's raw format is one collapsed stack per line (``frame;frame;... count``, outermost
first; with ``--threads`` the first frame names the thread). Samples whose innermost frame is
a wait (``select``, ``epoll``, lock or queue waits) are idle and left out. Prints the busy
share by thread, the functions with the most self time, and the most inclusive ones.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_IDLE = re.compile(
    r"\b(select|poll|epoll|wait|_wait_for_tstate_lock|acquire|get|sleep|accept|recv_into)"
    r" \((selectors|threading|queue|socket|asyncio/base_events|<built-in>|selectors\.py)"
)
_THREAD = re.compile(r"^(process \d+:\"[^\"]*\";)?thread \((0x[0-9A-Fa-f]+)\)")


def parse(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int, int]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    busy = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if _IDLE.search(frames[-1]):
            idle += count
            continue
        busy += count
        thread = next((f for f in frames if f.startswith("thread ")), "?")
        threads[_thread_name(thread)] += count
        code = [f for f in frames if not f.startswith(("thread ", "process "))]
        if code:
            self_time[code[-1]] += count
        for frame in set(code):
            inclusive[frame] += count
    return self_time, inclusive, threads, busy, idle


def _thread_name(frame: str) -> str:
    # "thread (0x7f..)": names are not in raw output; group account actors by their frames instead
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    self_time, inclusive, _threads, busy, idle = parse(args.profile)
    total = busy or 1
    print(f"busy samples {busy}, idle samples {idle}")
    print("\nself time (innermost frame), share of busy samples:")
    for frame, count in self_time.most_common(args.top):
        print(f"  {100.0 * count / total:5.1f}%  {frame}")
    print("\ninclusive (frame anywhere on the stack):")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {100.0 * count / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
