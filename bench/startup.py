#!/usr/bin/python3
"""The agent's first seconds under load (issue 19): nginx (`return 200`, keep-alive) on loopback
under wrk -c32, and the agent started with its default settings (every process traced) while the
load runs. Reports the share of requests traced in the first 10 s after the agent's start, and
what the kernel lost or shed meanwhile.

The share counts both ends: wrk's client span and nginx's server span of each request, so it is
spans / (2 x requests). Requests are nginx's own count (stub_status) at the agent's start and when
wrk stops, 10 s later; "after attach" counts from the moment the agent said its programs were
attached (before that, nothing can be traced).

Run through bench/run --startup (nginx, wrk and the build), or directly after a build:
  /usr/bin/python3 bench/startup.py [--runs 3] [--agent-root DIR] [--out bench/RESULTS.md]
--agent-root measures another checkout's build (an earlier commit, for a before/after).
"""
import argparse
import datetime
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import harness

WINDOW = 10
LEAD = 3  # seconds of load before the agent starts


def nginx_requests():
    with urllib.request.urlopen(f"http://127.0.0.1:{harness.NGINX_PORT}/status") as r:
        # "Active connections: 33 \n server accepts handled requests\n 33 33 123456 \n..."
        return int(r.read().decode().splitlines()[2].split()[2])


def wait_for_spans_to_settle():
    """The sink's count once the agent's backlog is out. Not harness.wait_for_sink_quiet: with every
    process traced, each /count query is itself traced (the harness's client, the sink's server),
    so the count never stands still; a handful of new spans in 1.5 s is quiet."""
    last = harness.sink_count()[0]
    while True:
        time.sleep(1.5)
        now = harness.sink_count()[0]
        if now - last < 20:
            return now
        last = now


def stop_report(err):
    counters = {}
    for key, pattern in (("ring_drops", r"(\d+) lost \(ring buffer full\)"),
                         ("shed_records", r"(\d+) shed with their connection"),
                         ("shed_connections", r"(\d+) connections not followed from their start"),
                         ("incomplete", r"(\d+) incomplete"),
                         ("parse_failures", r"(\d+) HTTP/1 and"),
                         ("unmatched", r"(\d+) responses without request")):
        m = re.search(pattern, err)
        counters[key] = int(m.group(1)) if m else None
    return counters


def one_run(root):
    spans_before = wait_for_spans_to_settle()
    load = threading.Thread(target=lambda: harness.wrk(32, LEAD + WINDOW))
    load.start()
    time.sleep(LEAD)
    started = time.monotonic()
    at_start = nginx_requests()
    agent = subprocess.Popen([os.path.join(root, "periscope"), "--otlp-endpoint", f"http://127.0.0.1:{harness.SINK_PORT}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = agent.stdout.readline()
    if "attached" not in line:
        raise SystemExit("agent did not start: " + line + agent.stderr.read())
    attached = time.monotonic()
    at_attach = nginx_requests()
    load.join()
    ended = time.monotonic()
    at_end = nginx_requests()
    spans = wait_for_spans_to_settle() - spans_before
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=60)
    result = {
        "window_s": ended - started,
        "attach_s": attached - started,
        "requests": at_end - at_start,
        "requests_after_attach": at_end - at_attach,
        "spans": spans,
    }
    result["share"] = spans / (2 * result["requests"])
    result["share_after_attach"] = spans / (2 * result["requests_after_attach"])
    result.update(stop_report(err))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--agent-root", default=harness.ROOT)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", default=os.path.join(harness.HERE, "RESULTS.md"))
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="periscope-startup-")
    conf = harness.NGINX_CONF.replace("location / {{", "location = /status {{ stub_status; }}\n    location / {{")
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(conf.format(tmp=tmp, port=harness.NGINX_PORT, tls=""))
    nginx = subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf"), "-p", tmp])
    jar = os.path.join(harness.HERE, "target", "benchmarks.jar")
    java = os.path.join(harness.run([os.path.join(harness.ROOT, "scripts", "find-jdk")]).strip(), "bin", "java")
    sink = subprocess.Popen([java, "-Xmx256m", "-cp", jar, "io.periscope.bench.OtlpSink", str(harness.SINK_PORT)],
                            stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()
    runs = []
    try:
        time.sleep(1)
        for i in range(args.runs):
            result = one_run(args.agent_root)
            print(f"run {i + 1}: {result}", file=sys.stderr)
            runs.append(result)
            time.sleep(2)
    finally:
        sink.terminate()
        nginx.terminate()
        nginx.wait(timeout=10)
    report(runs, args)


def report(runs, args):
    def median(key):
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None

    commit = harness.run(["git", "-C", args.agent_root, "rev-parse", "--short", "HEAD"]).strip()
    lines = [
        "",
        f"## Startup under load{(' (' + args.label + ')') if args.label else ''}, {datetime.date.today()}",
        "",
        f"`bench/startup.py` at {commit}: nginx `return 200` under wrk -t1 -c32, the agent started {LEAD} s into",
        f"the load with its default settings (every process traced), {len(runs)} runs; medians, each run in the",
        f"table. Share = spans / (2 x requests nginx counted in the {WINDOW} s from the agent's start): wrk's",
        "client span and nginx's server span of each request.",
        "",
        "| run | requests | attached after (s) | spans | share traced | share after attach | ring buffer drops |"
        " records shed | connections shed | incomplete | parse failures | responses without request |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs):
        lines.append(f"| {i + 1} | {r['requests']} | {r['attach_s']:.2f} | {r['spans']} | {r['share']:.3f} |"
                     f" {r['share_after_attach']:.3f} | {r['ring_drops']} | {r['shed_records']} |"
                     f" {r['shed_connections']} | {r['incomplete']} | {r['parse_failures']} | {r['unmatched']} |")
    lines.append(f"| median | {median('requests')} | {median('attach_s'):.2f} | {median('spans')} |"
                 f" {median('share'):.3f} | {median('share_after_attach'):.3f} | {median('ring_drops')} |"
                 f" {median('shed_records')} | {median('shed_connections')} | {median('incomplete')} |"
                 f" {median('parse_failures')} | {median('unmatched')} |")
    with open(args.out, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
