# Runs one command and reports, as JSON on file descriptor 3, its wall time
# (from just before the fork to its exit) and its peak RSS (wait4's ru_maxrss).
# Every contender, tool or netfwd, is measured by this same wrapper, so the
# cost of starting the measuring process is outside every figure.
import json, os, sys, time

argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = (time.perf_counter() - t0) * 1000
code = os.waitstatus_to_exitcode(status)
os.write(3, json.dumps({'wallMs': wall, 'rssKb': usage.ru_maxrss, 'code': code, 'userMs': usage.ru_utime * 1000, 'sysMs': usage.ru_stime * 1000}).encode())
sys.exit(0)
