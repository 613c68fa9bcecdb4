"""Parallel clients, for the trace-linking kernel tests.

    parallel_client.py PORT PREFIX THREADS REQUESTS

THREADS threads start together and each makes REQUESTS GETs of 127.0.0.1:PORT, one after another,
each on a new connection, path PREFIX/c<thread>/r<request>: unique, so that every span of one
request can be told from the spans of the others. Prints "ok <count>" when every answer was 200.
"""
import sys
import threading
import urllib.request

port, prefix, threads, requests = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
start = threading.Barrier(threads)
failures = []
done = []


def run(i):
    start.wait()
    for j in range(requests):
        path = "%s/c%d/r%d" % (prefix, i, j)
        try:
            with opener.open("http://127.0.0.1:%d%s" % (port, path), timeout=30) as answer:
                answer.read()
                if answer.status != 200:
                    failures.append("%s: %d" % (path, answer.status))
                else:
                    done.append(path)
        except Exception as e:  # reported below, with the others
            failures.append("%s: %r" % (path, e))


workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
if failures:
    sys.exit("failures: %s" % failures)
print("ok %d" % len(done))
