#!/usr/bin/python3
"""Measures what tracing costs: nginx (`return 200`, keep-alive) on loopback under wrk, with the
agent off and on, in interleaved pairs so that machine drift cancels out in the ratios.

Run through bench/run, which installs nginx and wrk and builds the agent. Writes bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NGINX_PORT = 18980
SINK_PORT = 18981
TICKS = os.sysconf("SC_CLK_TCK")
# https with --tls: nginx with a self-signed certificate, the agent taking the plaintext from OpenSSL.
SCHEME = "http"

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port}{tls};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def pinned(cmd, cpus):
    """The command run on these cores only (None: wherever the scheduler puts it)."""
    return cmd if cpus is None else ["taskset", "-c", ",".join(map(str, sorted(cpus)))] + cmd


def pin(pid, cpus):
    """Moves every thread of a running process, and of its children, to these cores."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            for child in f.read().split():
                pin(int(child), cpus)


def wrk(connections, seconds, latency=False, cpus=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"{SCHEME}://127.0.0.1:{NGINX_PORT}/"]
    if latency:
        cmd.insert(1, "--latency")
    cmd = pinned(cmd, cpus)
    out = run(cmd)
    result = {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit("wrk saw errors: " + out)
    if latency:
        for pct, key in (("50", "p50"), ("99", "p99")):
            m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            value, unit = float(m.group(1)), m.group(2)
            result[key] = value * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]
    return result


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS  # utime + stime


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def sink_count():
    with urllib.request.urlopen(f"http://127.0.0.1:{SINK_PORT}/count") as r:
        spans, bad = r.read().decode().split()
        return int(spans), int(bad)


def prog_ids():
    return {p["id"] for p in json.loads(run(["bpftool", "-j", "prog", "show"]))}


def prog_stats(ids):
    """run_time_ns and run_cnt summed over the agent's programs (BPF statistics enabled)."""
    time_ns = count = 0
    for p in json.loads(run(["bpftool", "-j", "prog", "show"])):
        if p["id"] in ids:
            time_ns += p.get("run_time_ns", 0)
            count += p.get("run_cnt", 0)
    return time_ns, count


def start_agent(cpus=None):
    """Starts the agent; returns it and the ids of the programs it loaded (bpftool shows no owner pids here)."""
    before = prog_ids()
    agent = subprocess.Popen(
        pinned([os.path.join(ROOT, "periscope"), "--process", "nginx", "--port", str(NGINX_PORT),
                "--otlp-endpoint", f"http://127.0.0.1:{SINK_PORT}"], cpus),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = agent.stdout.readline()
    if "attached" not in line:
        raise SystemExit("agent did not start: " + line + agent.stderr.read())
    return agent, prog_ids() - before


def stop_agent(agent):
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=30)
    counters = {}
    for key, pattern in (("ring_drops", r"(\d+) lost \(ring buffer full\)"),
                         ("parse_failures", r"(\d+) parse failures"),
                         ("export_dropped", r"(\d+) dropped \(queue full\)"),
                         ("export_failed", r"(\d+) failed")):
        m = re.search(pattern, err)
        counters[key] = int(m.group(1)) if m else None
    return counters


def wait_for_sink_quiet():
    last = sink_count()[0]
    while True:
        time.sleep(1.5)  # the agent exports every second
        now = sink_count()[0]
        if now == last:
            return now
        last = now


def measure(on, seconds, warmup):
    result = {}
    agent, programs = start_agent() if on else (None, set())
    try:
        wrk(32, warmup)
        if on:
            spans_before = wait_for_sink_quiet()
            cpu_before = cpu_ms(agent.pid)
        load = wrk(32, seconds)
        result["rps"] = load["rps"]
        if on:
            cpu_after = cpu_ms(agent.pid)
            spans = wait_for_sink_quiet() - spans_before
            result["cpu_ms_per_1k"] = (cpu_after - cpu_before) / load["requests"] * 1000
            result["completeness"] = spans / load["requests"]
            result["requests"] = load["requests"]
            result["spans"] = spans
            result["rss_mb"] = rss_mb(agent.pid)
        if on:
            spans_before = wait_for_sink_quiet()
        latency = wrk(4, seconds, latency=True)
        result["p50_us"] = latency["p50"]
        result["p99_us"] = latency["p99"]
        if on:
            # Completeness again at the lower load of 4 connections, where the machine has headroom.
            result["completeness_c4"] = (wait_for_sink_quiet() - spans_before) / latency["requests"]
        if on:
            # BPF statistics cost two clock reads per program run, so they are on only for this
            # separate run, never while throughput or latency is measured.
            run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"])
            try:
                bpf_before = prog_stats(programs)
                wrk(32, min(seconds, 10))
                bpf_after = prog_stats(programs)
            finally:
                run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
            ran = bpf_after[1] - bpf_before[1]
            result["ns_per_hook"] = (bpf_after[0] - bpf_before[0]) / ran if ran else 0
    finally:
        if agent:
            result.update(stop_agent(agent))
    return result


def measure_headroom(on, seconds, warmup, load_cpus, agent_cpus):
    """Throughput and latency with the agent (and the sink) on cores of their own."""
    result = {}
    agent = start_agent(agent_cpus)[0] if on else None
    try:
        wrk(32, warmup, cpus=load_cpus)
        result["rps"] = wrk(32, seconds, cpus=load_cpus)["rps"]
        latency = wrk(4, seconds, latency=True, cpus=load_cpus)
        result["p50_us"] = latency["p50"]
        result["p99_us"] = latency["p99"]
    finally:
        if agent:
            result.update(stop_agent(agent))
    return result


def interleaved(count, measure_one):
    """count off/on pairs, the order alternating so that a slow drift of the machine favours neither side."""
    pairs = []
    for i in range(count):
        pair = {}
        for on in ((False, True) if i % 2 == 0 else (True, False)):
            pair["on" if on else "off"] = measure_one(on)
        pairs.append(pair)
        yield i, pair


def spread(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=20)
    # The agent is a daemon that runs for days: what it costs then is what it costs once the JIT has
    # compiled its hot paths. Five seconds left C2 compiling tens of methods a second into the
    # measured run; after fifteen it has mostly settled (what it still compiles is counted).
    parser.add_argument("--warmup", type=int, default=15)
    # The same load with a core left to the agent, as on a node with headroom: what tracing then
    # costs the application is what runs in its own syscalls, in the kernel.
    parser.add_argument("--headroom-pairs", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    # The same over TLS (nginx `ssl`, wrk over https): what taking the plaintext at OpenSSL costs.
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="periscope-bench-")
    tls = ""
    if args.tls:
        global SCHEME
        SCHEME = "https"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-keyout", os.path.join(tmp, "key.pem"), "-out", os.path.join(tmp, "cert.pem")])
        tls = f" ssl;\n    ssl_certificate {tmp}/cert.pem;\n    ssl_certificate_key {tmp}/key.pem"
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, port=NGINX_PORT, tls=tls))
    nginx = subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf"), "-p", tmp])
    jar = os.path.join(HERE, "target", "benchmarks.jar")
    java = os.path.join(run([os.path.join(ROOT, "scripts", "find-jdk")]).strip(), "bin", "java")
    sink = subprocess.Popen([java, "-Xmx256m", "-cp", jar, "io.periscope.bench.OtlpSink", str(SINK_PORT)],
                            stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()
    pairs, headroom = [], []
    try:
        time.sleep(1)
        for i, pair in interleaved(args.pairs, lambda on: measure(on, args.seconds, args.warmup)):
            print(f"pair {i + 1}: off {pair['off']['rps']:.0f} rps, on {pair['on']['rps']:.0f} rps, "
                  f"completeness {pair['on']['completeness']:.5f}", file=sys.stderr)
            pairs.append(pair)
        if args.headroom_pairs:
            # The last core to the agent and the sink, the others to nginx and wrk.
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) < 2:
                raise SystemExit("the headroom runs need two cores; --headroom-pairs 0 leaves them out")
            load_cpus, agent_cpus = set(cores[:-1]), {cores[-1]}
            pin(nginx.pid, load_cpus)
            pin(sink.pid, agent_cpus)
            for i, pair in interleaved(args.headroom_pairs, lambda on: measure_headroom(
                    on, args.seconds, args.warmup, load_cpus, agent_cpus)):
                print(f"headroom pair {i + 1}: off {pair['off']['rps']:.0f} rps, on {pair['on']['rps']:.0f} rps",
                      file=sys.stderr)
                headroom.append(pair)
        undecodable = sink_count()[1]
    finally:
        sink.terminate()
        nginx.terminate()
        nginx.wait(timeout=10)

    report(pairs, headroom, args, undecodable)
    if undecodable:
        raise SystemExit(f"the sink could not decode {undecodable} export requests: the OTLP encoding is broken")


def processor():
    """The processor, and the kernel's speculation mitigations that tax syscalls and BPF helper calls.

    The same code measured 125 ns per hook on one machine of this kind and 437 ns on another, an
    AMD EPYC whose kernel mitigates Speculative Return Stack Overflow with "Safe RET" (every return
    in the kernel, a BPF program's helper calls included, through a thunk): results say which.
    """
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    text = f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"
    taxing = []
    for name in ("spec_rstack_overflow", "retbleed", "spectre_v2"):
        try:
            with open(f"/sys/devices/system/cpu/vulnerabilities/{name}") as f:
                state = f.read().strip()
        except OSError:
            continue
        if state != "Not affected":
            taxing.append(f"{name}: {state}")
    return text + (f" · mitigations: {'; '.join(taxing)}" if taxing else "")


def load_rows(pairs):
    """The rows both sets of pairs report: throughput ratio, and latency added at low concurrency."""
    ratio = [p["on"]["rps"] / p["off"]["rps"] for p in pairs]
    p50_added = [p["on"]["p50_us"] - p["off"]["p50_us"] for p in pairs]
    p99_added = [p["on"]["p99_us"] - p["off"]["p99_us"] for p in pairs]
    p99_ratio = [p["on"]["p99_us"] / p["off"]["p99_us"] for p in pairs]
    return [
        f"| throughput ratio on/off (wrk -c32) | {spread(ratio)} | ≥ 0.90 |",
        f"| p50 added at -c4 (µs) | {spread(p50_added)} | |",
        f"| p99 added at -c4 (µs) | {spread(p99_added)} (ratio {spread(p99_ratio)}) | ≤ 50 |",
    ]


def headroom_lines(pairs):
    cores = sorted(os.sched_getaffinity(0))
    lines = [
        "",
        f"With a core left to the agent, as on a node with headroom: {len(pairs)} more interleaved pairs of the "
        f"same loads, nginx and wrk on core{'s' if len(cores) > 2 else ''} "
        f"{', '.join(map(str, cores[:-1]))}, the agent and the sink on core {cores[-1]}. "
        "What tracing costs nginx here is what runs in its own syscalls: the kernel programs.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *load_rows(pairs),
        "",
        "| pair | rps off | rps on | p50 off (µs) | p50 on (µs) | p99 off (µs) | p99 on (µs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(pairs, 1):
        on, off = p["on"], p["off"]
        lines.append(f"| {i} | {off['rps']:.0f} | {on['rps']:.0f} | {off['p50_us']:.0f} | {on['p50_us']:.0f} | "
                     f"{off['p99_us']:.0f} | {on['p99_us']:.0f} |")
    return lines


def report(pairs, headroom, args, undecodable):
    throughput, p50, p99 = load_rows(pairs)
    cpu = [p["on"]["cpu_ms_per_1k"] for p in pairs]
    hook = [p["on"]["ns_per_hook"] for p in pairs]
    complete = [p["on"]["completeness"] for p in pairs]
    complete_c4 = [p["on"]["completeness_c4"] for p in pairs]
    rss = [p["on"]["rss_mb"] for p in pairs]
    drops = {k: sum((p["on"].get(k) or 0) for p in pairs + headroom)
             for k in ("ring_drops", "parse_failures", "export_dropped", "export_failed")}
    kernel = platform.release()
    jdk = run([os.path.join(ROOT, "scripts", "find-jdk")]).strip()
    lines = [
        "# Benchmark results",
        "",
        f"{datetime.date.today()} · {os.cpu_count()} cores · kernel {kernel} · JDK {os.path.basename(jdk)} · "
        f"{args.pairs} interleaved off/on pairs, {args.seconds} s per run after {args.warmup} s warm-up",
        "",
        f"CPU: {processor()}",
        "",
        f"Target: nginx `return 200`{' over TLS (`ssl`, OpenSSL 3)' if args.tls else ''}, keep-alive, loopback, "
        "1 worker; load: wrk -t1; the agent traces nginx "
        "(`--process nginx`) and exports OTLP/HTTP to a local sink that decodes and counts spans. "
        "Medians, with the range over pairs in parentheses.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        throughput,
        f"| agent CPU per 1,000 requests (ms) | {spread(cpu)} | ≤ 5 |",
        f"| in-kernel cost per hooked syscall (ns) | {spread(hook)} | ≤ 300 |",
        p50,
        p99,
        f"| completeness (spans / requests), wrk -c32 | {spread(complete)} | 1 ± 0.001 |",
        f"| completeness, wrk -c4 | {spread(complete_c4)} | 1 ± 0.001 |",
        f"| agent resident memory (MB) | {spread(rss)} | ≤ 200 |",
        "",
        f"Drops over all runs: ring buffer {drops['ring_drops']}, parse failures {drops['parse_failures']}, "
        f"export queue {drops['export_dropped']}, export failures {drops['export_failed']}; "
        f"export requests the sink could not decode: {undecodable}.",
        "",
        "| pair | rps off | rps on | p99 off (µs) | p99 on (µs) | requests | spans | CPU ms/1k | ns/hook | RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(pairs, 1):
        on, off = p["on"], p["off"]
        lines.append(f"| {i} | {off['rps']:.0f} | {on['rps']:.0f} | {off['p99_us']:.0f} | {on['p99_us']:.0f} | "
                     f"{on['requests']} | {on['spans']} | {on['cpu_ms_per_1k']:.2f} | {on['ns_per_hook']:.0f} | "
                     f"{on['rss_mb']:.0f} |")
    if headroom:
        lines += headroom_lines(headroom)
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
