"""Benchmark: a connect burst against a slow listener, kernel defaults vs the EMQX pod profile.

Two fresh unprivileged user + network namespaces on loopback (lo brought up inside), one left at the kernel's
defaults for a new namespace (what an EMQX pod gets without securityContext.sysctls), one with the profile's pod
sysctls written to /proc/sys exactly as the kubelet would. In each, a listener asks for a 65535 backlog (the kernel
caps it at net.core.somaxconn, like EMQX's listener backlog) and accepts slowly, in small batches, while N clients
connect at once. Reported for both: how many connected, were refused, reset, or timed out, the kernel's listen
overflow/drop counters, and the time until the listener had accepted all N.

Bounded: loopback only, N is capped by the open-file limit, every phase has a deadline. Not a timed test: run it by
hand (`make bench-tuning`); it prints a Markdown table.

Usage: python tools/bench_tuning.py [--connections N] [--accept-rate PER_SECOND] [--deadline SECONDS]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by uid 65534, unlike a virtualenv under /root
MAX_CONNECTIONS = 20000
MAX_DEADLINE = 60.0


# --- inside the namespace -------------------------------------------------------------------------------------------


def _netstat_counters() -> dict[str, int]:
    """TcpExt counters of this network namespace (/proc/net is per namespace)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    counters: dict[str, int] = {}
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        names, numbers = header.split()[1:], values.split()[1:]
        if header.startswith("TcpExt:"):
            counters.update({n: int(v) for n, v in zip(names, numbers, strict=False)})
    return counters


def _apply(sysctls: list[list[str]]) -> dict[str, str]:
    applied: dict[str, str] = {}
    for key, value in sysctls:
        path = Path("/proc/sys") / key.replace(".", "/")
        path.write_text(value)
        applied[key] = " ".join(path.read_text().split())
        if applied[key] != " ".join(value.split()):
            raise SystemExit(f"{key}: wrote {value!r}, kernel reports {applied[key]!r}")
    return applied


def _inner(config: dict[str, object]) -> dict[str, object]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sysctls = config["sysctls"]
    assert isinstance(sysctls, list)
    _apply(sysctls)
    n = int(str(config["connections"]))
    rate = float(str(config["accept_rate"]))
    deadline_s = float(str(config["deadline"]))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2 * n + 64:
        raise SystemExit(f"open-file hard limit {hard} is too low for {n} connections (needs {2 * n + 64})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(65535)
    server.setblocking(False)
    port = server.getsockname()[1]

    accepted: list[socket.socket] = []
    all_accepted_at: list[float] = []
    batch = max(1, int(rate / 100))
    start = time.monotonic()
    deadline = start + deadline_s

    def acceptor() -> None:
        # Accept `batch` connections every 10 ms: a listener busy with other work, as EMQX's acceptors are during
        # a reconnect storm.
        while len(accepted) < n and time.monotonic() < deadline:
            time.sleep(0.01)
            for _ in range(batch):
                try:
                    conn, _ = server.accept()
                except BlockingIOError:
                    break
                accepted.append(conn)
        if len(accepted) >= n:
            all_accepted_at.append(time.monotonic())

    thread = threading.Thread(target=acceptor, daemon=True)
    thread.start()

    poller = select.epoll()
    clients: dict[int, socket.socket] = {}
    outcome = {"connected": 0, "refused": 0, "reset_or_other": 0, "no_local_port": 0, "timed_out": 0}
    for _ in range(n):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        code = client.connect_ex(("127.0.0.1", port))
        if code in (0, errno.EINPROGRESS):
            clients[client.fileno()] = client
            poller.register(client.fileno(), select.EPOLLOUT)
        elif code == errno.EADDRNOTAVAIL:
            outcome["no_local_port"] += 1
            client.close()
        else:
            outcome["refused" if code == errno.ECONNREFUSED else "reset_or_other"] += 1
            client.close()
    pending = set(clients)
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.1):
            if fd not in pending:
                continue
            pending.discard(fd)
            poller.unregister(fd)
            code = clients[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                outcome["connected"] += 1
            elif code == errno.ECONNREFUSED:
                outcome["refused"] += 1
            else:
                outcome["reset_or_other"] += 1
    outcome["timed_out"] = len(pending)
    thread.join(timeout=max(0.0, deadline - time.monotonic()) + 1)
    counters = _netstat_counters()
    result: dict[str, object] = {
        **outcome,
        "accepted": len(accepted),
        "all_accepted_s": round(all_accepted_at[0] - start, 2) if all_accepted_at else None,
        "listen_overflows": counters.get("ListenOverflows", 0),
        "listen_drops": counters.get("ListenDrops", 0),
        "somaxconn": Path("/proc/sys/net/core/somaxconn").read_text().strip(),
        "tcp_max_syn_backlog": Path("/proc/sys/net/ipv4/tcp_max_syn_backlog").read_text().strip(),
    }
    for sock in [*accepted, *clients.values(), server]:
        sock.close()
    return result


# --- outside: one namespace per run ---------------------------------------------------------------------------------


def _namespace_command() -> list[str]:
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return [*prefix, "unshare", "-U", "-r", "-n", SYSTEM_PYTHON, str(Path(__file__).resolve()), "--inner"]


def run_once(
    sysctls: list[tuple[str, str]], connections: int, accept_rate: float, deadline: float
) -> dict[str, object]:
    config = {"sysctls": sysctls, "connections": connections, "accept_rate": accept_rate, "deadline": deadline}
    result = subprocess.run(
        _namespace_command(), input=json.dumps(config), capture_output=True, text=True, timeout=deadline + 30
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark run failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def pod_sysctls() -> list[tuple[str, str]]:
    sys.path.insert(0, str(REPO))
    from components.tuning import build_profile

    profile = build_profile(max_connections_per_node=1_000_000, kubernetes_version="1.31")
    return [(s.key, s.value) for s in profile.pod_sysctls]


def table(rows: list[tuple[str, dict[str, object]]], connections: int) -> str:
    head = (
        "| namespace | somaxconn | tcp_max_syn_backlog | connects | connected | accepted | refused | reset/other "
        "| timed out | ListenOverflows | ListenDrops | all accepted after (s) |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, r in rows:
        done = r["all_accepted_s"] if r["all_accepted_s"] is not None else "not within deadline"
        lines.append(
            f"| {name} | {r['somaxconn']} | {r['tcp_max_syn_backlog']} | {connections} | {r['connected']} "
            f"| {r['accepted']} | {r['refused']} | {int(str(r['reset_or_other'])) + int(str(r['no_local_port']))} "
            f"| {r['timed_out']} | {r['listen_overflows']} | {r['listen_drops']} | {done} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=8000)
    parser.add_argument("--accept-rate", type=float, default=4000.0, help="accepts per second (batches every 10 ms)")
    parser.add_argument("--deadline", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        json.dump(_inner(json.load(sys.stdin)), sys.stdout)
        return 0
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be within 1..{MAX_CONNECTIONS}")
    if not 0 < args.deadline <= MAX_DEADLINE:
        parser.error(f"--deadline must be within 0..{MAX_DEADLINE}")
    for tool in ("unshare", "ip", SYSTEM_PYTHON):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is required")
    rows = [
        ("kernel defaults", run_once([], args.connections, args.accept_rate, args.deadline)),
        ("EMQX pod profile", run_once(pod_sysctls(), args.connections, args.accept_rate, args.deadline)),
    ]
    print(
        f"Burst of {args.connections} simultaneous connects on loopback; the listener asks for a 65535 backlog and "
        f"accepts {args.accept_rate:g}/s; deadline {args.deadline:g} s; Linux {os.uname().release}.\n"
    )
    print(table(rows, args.connections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
