"""What the benchmarks share: timing a child process."""
import os
import resource
import subprocess
import time

# The timer event that starts to-cos's scheduled dump.
TIMER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "events", "timer", "scf-timer.json")


def child(cmd, **kw):
    """Runs cmd (output discarded); returns (wall seconds, CPU user+sys seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
