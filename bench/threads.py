#!/usr/bin/env python3
"""Each thread's share of a process's CPU over a while.

Usage: threads.py PID SECONDS

Reads utime + stime of every thread in /proc/PID/task at the start and the
end, and prints one line per thread that used CPU, busiest first:
"share% name (tid)". The last line is "busiest thread: N% of the process".
Run it while the process is under load.
"""

import os
import sys
import time


def sample(pid):
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                text = stat.read()
        except FileNotFoundError:
            continue  # the thread ended
        # The name is in parentheses and may hold spaces.
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # utime and stime are fields 14 and 15 of stat; here 11 and 12.
        threads[tid] = (name, int(fields[11]) + int(fields[12]))
    return threads


def main():
    pid, seconds = sys.argv[1], float(sys.argv[2])
    before = sample(pid)
    time.sleep(seconds)
    after = sample(pid)
    used = {
        tid: (name, ticks - before.get(tid, (name, 0))[1])
        for tid, (name, ticks) in after.items()
    }
    total = sum(ticks for _, ticks in used.values())
    if total == 0:
        print("the process used no CPU")
        return
    busiest = sorted(used.items(), key=lambda item: -item[1][1])
    for tid, (name, ticks) in busiest:
        if ticks > 0:
            print(f"{100 * ticks / total:5.1f}% {name} ({tid})")
    print(f"busiest thread: {100 * busiest[0][1][1] / total:.0f}% of the process")


if __name__ == "__main__":
    main()
