# pyroute2 (Debian python3-pyroute2): the same routes, one request and ACK each,
# which is how pyroute2's IPRoute API is used.
import json, sys, time
from pyroute2 import NetNS

ns, count = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
ipr = NetNS(ns)
for i in range(count):
    ipr.route('add', dst='10.%d.%d.%d/32' % ((i >> 16) & 255, (i >> 8) & 255, i & 255), oif=1, table=5000)
ipr.close()
print(json.dumps({'opMs': (time.perf_counter() - t0) * 1000}))
