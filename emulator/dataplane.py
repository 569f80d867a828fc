"""The emulator's data plane: what the AWS APIs describe, actually running.

moto only keeps records. With the data plane on, the launcher also runs, on
loopback only:

- every running EC2 instance as a real time server process
  (bin/whatsthetime-linux-<arch>), reached on port 80 of the instance's
  public address (127.1.x.y, or its Elastic IP 127.2.x.y) and of its private
  address mapped onto 127.10.x.y, with a fake IMDSv2 that tells it its
  instance id and Availability Zone;
- every Application Load Balancer as an HTTP proxy on its listeners' ports
  of its own loopback address (127.3.x.y), routing to registered targets its
  health checks find healthy, draining deregistered ones;
- Route 53 as a DNS server on UDP 127.0.0.1:<the emulator's port>.

A supervisor thread reconciles those processes and sockets with moto's
records after every API request and every 0.2 s. API requests run one at a
time under one lock while the data plane is on, so the supervisor never reads
a model halfway through a change.

See docs/emulator.md ("The data plane") for what is modelled and what is not.
"""

from __future__ import annotations

import ctypes
import http.client
import http.server
import io
import ipaddress
import json
import os
import platform
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

# Second octet of each kind of loopback address the data plane hands out.
PUBLIC_OCTET = 1  # instances' auto-assigned public IPv4 addresses
EIP_OCTET = 2  # Elastic IPs
LB_OCTET = 3  # load balancers
PRIVATE_OCTETS = range(10, 20)  # private addresses: 127.10.o3.o4, else 127.11..19

HTTP_PORT = 80
MAX_INSTANCES = 64  # processes at most; more running instances get none (reported in state)
MAX_CONNECTIONS = 256  # forwarded TCP connections and proxied requests in flight at most
STOP_GRACE = 3.0  # seconds a stopped instance's process gets before SIGKILL
RECONCILE_EVERY = 0.2
# Seconds a scaled health check waits for an answer at least (see _schedule_checks).
CHECK_TIMEOUT_FLOOR = 2.0

# The control API is served by the emulator's own HTTP endpoint under this prefix.
CONTROL_PREFIX = "/wtt-dataplane/"


def default_server_binary() -> str:
    """../bin/whatsthetime-linux-<arch> relative to this file (what `make build` writes)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "bin", f"whatsthetime-linux-{arch}"))


@dataclass
class Config:
    binary: str
    emulator_port: int
    boot_delay: float = 1.0  # seconds from "running" in the API to the process starting
    time_scale: float = 1.0  # multiplies health-check intervals/timeouts and deregistration delays
    max_instances: int = MAX_INSTANCES


# ===========================================================================
# Loopback addresses
# ===========================================================================


class AddressBook:
    """Hands out loopback addresses that no other emulator on this machine holds.

    An address is held by binding a UDP socket to <address>:80 (UDP, so the
    TCP port 80 listeners can open and close freely): a second emulator's bind
    fails, and it moves on to the next address. The kernel releases the
    reservation when the emulator dies, however it dies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[socket.socket, float]] = {}
        self._cursor: dict[int, int] = {}

    def take(self, ip: str) -> bool:
        with self._lock:
            if ip in self._held:
                return True
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((ip, HTTP_PORT))
            except OSError:
                sock.close()
                return False
            self._held[ip] = (sock, time.monotonic())
            return True

    def allocate(self, octet: int) -> str:
        """The next free 127.<octet>.x.y (x.y from 0.1 up, skipping .0 and .255)."""
        start = self._cursor.get(octet, 1)
        for step in range(65534):
            n = (start + step - 1) % 65534 + 1
            x, y = divmod(n, 256)
            if y in (0, 255):
                continue
            ip = f"127.{octet}.{x}.{y}"
            if self.take(ip):
                self._cursor[octet] = n + 1
                return ip
        raise RuntimeError(f"no free loopback address left in 127.{octet}.0.0/16")

    def private_mapping(self, private_ip: str, mapped: set[str] | frozenset[str] = frozenset()) -> str:
        """127.10.o3.o4 for a private address o1.o2.o3.o4, or 127.11..19 if
        another emulator holds it or it is in `mapped` (another instance's
        here: apps whose VPCs share a CIDR get the same private addresses)."""
        o = private_ip.split(".")
        for second in PRIVATE_OCTETS:
            ip = f"127.{second}.{o[2]}.{o[3]}"
            if ip not in mapped and self.take(ip):
                return ip
        return self.allocate(PRIVATE_OCTETS[-1] + 1)

    def release_unused(self, used: set[str], min_age: float = 10.0) -> None:
        """Release addresses nothing refers to any more (kept min_age seconds,
        so an address moto is still building a resource with is not lost)."""
        now = time.monotonic()
        with self._lock:
            for ip in [ip for ip, (_, t) in self._held.items() if ip not in used and now - t > min_age]:
                self._held.pop(ip)[0].close()

    def release_all(self) -> None:
        with self._lock:
            for sock, _ in self._held.values():
                sock.close()
            self._held.clear()


# ===========================================================================
# TCP forwarding: an instance's port 80 on its public and private addresses
# ===========================================================================


class Forwarder:
    """Listens on (ip, port) and splices each accepted connection to the
    instance's process. admit(peer_ip) decides whether a connection is let
    through (security groups); one refused is closed at once."""

    def __init__(self, ip: str, port: int, backend: Callable[[], int | None],
                 admit: Callable[[str], bool], slots: threading.BoundedSemaphore) -> None:
        self.ip, self.port = ip, port
        self._backend, self._admit, self._slots = backend, admit, slots
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((ip, port))
        self._sock.listen(64)
        self._thread = threading.Thread(target=self._accept, name=f"fwd {ip}:{port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            if not self._admit(peer[0]) or not self._slots.acquire(blocking=False):
                _abort(conn)
                continue
            threading.Thread(target=self._splice, args=(conn,), daemon=True).start()

    def _splice(self, conn: socket.socket) -> None:
        try:
            port = self._backend()
            if port is None:
                _abort(conn)
                return
            try:
                up = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                _abort(conn)
                return
            _pump(conn, up)
        finally:
            self._slots.release()


def _abort(conn: socket.socket) -> None:
    """Close with a reset, as a host does when nothing may answer."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def _pump(a: socket.socket, b: socket.socket, idle: float = 130.0) -> None:
    """Copy bytes both ways until both sides are done or idle for `idle` s."""
    socks = [a, b]
    peer = {a: b, b: a}
    open_reads = {a, b}
    try:
        for s in socks:
            s.setblocking(True)
        while open_reads:
            ready, _, _ = select.select(list(open_reads), [], [], idle)
            if not ready:
                return
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    return
                if not data:
                    open_reads.discard(s)
                    try:
                        peer[s].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                try:
                    peer[s].sendall(data)
                except OSError:
                    return
    finally:
        a.close()
        b.close()


# ===========================================================================
# Instances
# ===========================================================================


def _set_parent_death_signal() -> None:
    """Runs in the child before exec: SIGKILL me when my parent dies, so no
    time server outlives the emulator, even when the emulator is SIGKILLed."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Machine:
    """One EC2 instance as the data plane runs it."""

    id: str
    account: str
    region: str
    az: str
    private_ip: str
    private_loopback: str
    status: str = "booting"  # booting, serving, stopped, killed, failed
    boot_at: float = 0.0
    first_seen: float = field(default_factory=time.monotonic)
    public_ip: str | None = None
    public_open: bool = False  # security groups let the internet reach port 80
    allowed_lb_ips: frozenset[str] = frozenset()
    reboots: int = 0
    proc: subprocess.Popen | None = None
    port: int | None = None
    detail: str = ""
    forwarders: dict[str, Forwarder] = field(default_factory=dict)

    def backend_port(self) -> int | None:
        return self.port if self.status == "serving" else None

    def admit_private(self, peer: str) -> bool:
        # Only the data plane's load balancers live "inside the VPC"; the
        # host (the operator's machine) is outside it.
        return peer in self.allowed_lb_ips


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ===========================================================================
# Load balancers
# ===========================================================================


@dataclass
class TargetHealth:
    """What the health checker sees for one target of one target group."""

    state: str = "initial"  # initial, healthy, unhealthy, draining, unused
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = "Target registration is in progress"
    successes: int = 0
    failures: int = 0
    next_check: float = 0.0
    checking: bool = False
    drain_until: float = 0.0
    port: int = 80
    registered_at: float = field(default_factory=time.monotonic)


@dataclass
class TargetGroupView:
    arn: str
    name: str
    port: int
    path: str
    health_port: str
    protocol: str
    enabled: bool
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str
    drain: float
    targets: dict[str, int]  # instance id -> port
    lb_arns: list[str]


class LBHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"
    sys_version = ""
    timeout = 60  # ALB's default idle timeout

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        proxy: LoadBalancerProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        status, headers, data = proxy.forward(self.command, self.path, self.headers,
                                              body, self.client_address[0], self.server.server_address[1])
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


class _ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        super().__init__(addr, LBHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _abort(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailers", "transfer-encoding", "upgrade", "content-length"}


class LoadBalancerProxy:
    """An Application Load Balancer: an HTTP proxy on each HTTP listener port
    of its loopback address."""

    def __init__(self, plane: "DataPlane", arn: str, name: str, dns_name: str, ip: str) -> None:
        self.plane, self.arn, self.name, self.dns_name, self.ip = plane, arn, name, dns_name, ip
        self.servers: dict[int, _ThreadingHTTPServer] = {}
        self.actions: dict[int, list[dict[str, Any]]] = {}
        self._rr = 0
        self.errors: dict[int, str] = {}

    def set_listeners(self, listeners: dict[int, list[dict[str, Any]]]) -> None:
        self.actions = listeners
        for port in [p for p in self.servers if p not in listeners]:
            srv = self.servers.pop(port)
            srv.shutdown()
            srv.server_close()
        for port in listeners:
            if port in self.servers:
                continue
            try:
                srv = _ThreadingHTTPServer((self.ip, port), self.plane.slots)
            except OSError as e:
                self.errors[port] = str(e)
                continue
            srv.proxy = self  # type: ignore[attr-defined]
            self.servers[port] = srv
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"lb {self.ip}:{port}", daemon=True).start()

    def close(self) -> None:
        self.set_listeners({})

    def forward(self, method: str, path: str, headers: Any, body: bytes | None,
                client_ip: str, port: int) -> tuple[int, list[tuple[str, str]], bytes]:
        actions = self.actions.get(port) or []
        action = next((a for a in sorted(actions, key=lambda a: int(a.get("Order") or 0))
                       if a.get("Type") in ("forward", "fixed-response")), None)
        if action is None:
            return _lb_error(503)
        if action["Type"] == "fixed-response":
            cfg = action.get("FixedResponseConfig") or {}
            ctype = cfg.get("ContentType") or "text/plain"
            return int(cfg.get("StatusCode") or 200), [("Content-Type", ctype)], (cfg.get("MessageBody") or "").encode()
        arns = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else [
            t["TargetGroupArn"] for t in (action.get("ForwardConfig") or {}).get("TargetGroups") or []]
        for attempt in range(2):
            target = self.plane.pick_target(arns, self)
            if target is None:
                return _lb_error(503)
            machine, tport = target
            try:
                conn = http.client.HTTPConnection(machine.private_loopback, tport, timeout=60,
                                                  source_address=(self.ip, 0))
                out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
                xff = headers.get("X-Forwarded-For")
                out["X-Forwarded-For"] = f"{xff}, {client_ip}" if xff else client_ip
                out["X-Forwarded-Proto"] = "http"
                out["X-Forwarded-Port"] = str(port)
                conn.request(method, path, body=body, headers=out)
                resp = conn.getresponse()
                data = resp.read()
                hdrs = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
                conn.close()
                return resp.status, hdrs, data
            except ConnectionRefusedError:
                conn.close()
                # Refused because the target left the routable set between the
                # pick and the connect (the balancer had stopped routing to it):
                # pick again, once. Otherwise it is the target's failure.
                if attempt == 0 and not self.plane.routable(arns, machine.id):
                    continue
                return _lb_error(502)
            except TimeoutError:
                conn.close()
                return _lb_error(504)
            except (OSError, http.client.HTTPException):
                conn.close()
                return _lb_error(502)
        return _lb_error(502)


def _lb_error(code: int) -> tuple[int, list[tuple[str, str]], bytes]:
    text = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out"}[code]
    html = f"<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n</body>\r\n</html>\r\n"
    return code, [("Content-Type", "text/html"), ("Server", "awselb/2.0")], html.encode()


def _matches(code: int, matcher: str) -> bool:
    for part in matcher.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            if int(lo) <= code <= int(hi):
                return True
        elif part and int(part) == code:
            return True
    return False


# ===========================================================================
# DNS (Route 53)
# ===========================================================================


def parse_dns_query(data: bytes) -> tuple[int, int, str, int, int, int] | None:
    """(id, flags, name, qtype, qclass, end of question) of a one-question query, or None."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1:
        return None
    labels, i = [], 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(data):
            return None
        labels.append(data[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[i:i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, qclass, i + 4


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def build_dns_response(query: bytes, qid: int, qflags: int, qend: int, rcode: int,
                       answers: list[tuple[str, int, int, bytes]], authoritative: bool = True) -> bytes:
    """answers: (owner name, type, ttl, rdata)."""
    flags = 0x8000 | (qflags & 0x0100)  # QR, copy RD
    if authoritative:
        flags |= 0x0400
    flags |= rcode & 0xF
    header = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0)
    body = query[12:qend]
    for name, rtype, ttl, rdata in answers:
        body += encode_name(name) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return header + body


DNS_A, DNS_CNAME = 1, 5
ALIAS_TTL = 60  # what Route 53 answers for alias records to a load balancer


class DnsServer:
    """Answers A queries from the Route 53 public hosted zones and the load
    balancers' DNS names; NXDOMAIN for names it does not know."""

    def __init__(self, plane: "DataPlane", port: int) -> None:
        self.plane = plane
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self.answer(data)
            except Exception as e:  # a bad packet or a model read failing: SERVFAIL
                print(f"wtt dataplane: dns: {e!r}", file=sys.stderr)
                q = parse_dns_query(data)
                reply = build_dns_response(data, q[0], q[1], q[5], 2, []) if q else None
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def answer(self, data: bytes) -> bytes | None:
        q = parse_dns_query(data)
        if q is None:
            return None
        qid, qflags, name, qtype, qclass, qend = q
        self.queries += 1
        if qflags & 0x7800:  # not a standard query
            return build_dns_response(data, qid, qflags, qend, 4, [])
        records = self.plane.dns_view()
        answers: list[tuple[str, int, int, bytes]] = []
        current, seen = name, set()
        while current not in seen:
            seen.add(current)
            entry = records.get(current)
            if entry is None:
                entry = _wildcard(records, current)
            if entry is None:
                break
            if "CNAME" in entry and qtype != DNS_CNAME:
                ttl, target = entry["CNAME"]
                answers.append((current, DNS_CNAME, ttl, encode_name(target)))
                current = target
                continue
            if qtype in (DNS_A, 255) and "A" in entry:
                ttl, ips = entry["A"]
                answers += [(current, DNS_A, ttl, socket.inet_aton(ip)) for ip in ips if _is_ipv4(ip)]
            elif qtype == DNS_CNAME and "CNAME" in entry:
                ttl, target = entry["CNAME"]
                answers.append((current, DNS_CNAME, ttl, encode_name(target)))
            return build_dns_response(data, qid, qflags, qend, 0, answers)
        if answers:  # a CNAME chain that leaves what we know
            return build_dns_response(data, qid, qflags, qend, 0, answers)
        return build_dns_response(data, qid, qflags, qend, 3, [])


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def _add_a(out: dict[str, dict[str, Any]], name: str, ttl: int, ips: list[str]) -> None:
    """Record A values for name; several record sets of one name (weighted,
    multivalue...) are all answered, with the smallest TTL."""
    entry = out.setdefault(name, {})
    old_ttl, old_ips = entry.get("A", (ttl, []))
    entry["A"] = (min(ttl, old_ttl), old_ips + [ip for ip in ips if ip not in old_ips])


def _wildcard(records: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    parts = name.split(".")
    for i in range(1, len(parts)):
        entry = records.get("*." + ".".join(parts[i:]))
        if entry is not None:
            return entry
    return None


# ===========================================================================
# The data plane
# ===========================================================================


class DataPlane:
    def __init__(self, config: Config, moto_lock: threading.RLock) -> None:
        self.config = config
        self.lock = moto_lock  # held by every API request; the supervisor takes it to read moto
        self.addresses = AddressBook()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.machines: dict[str, Machine] = {}
        self.lbs: dict[str, LoadBalancerProxy] = {}
        self.target_groups: dict[str, TargetGroupView] = {}
        self.health: dict[tuple[str, str], TargetHealth] = {}
        self.imds_tokens: dict[str, str] = {}  # token -> instance id
        self._route_lock = threading.Lock()  # guards machines/health/target_groups for the proxies
        self._wake = threading.Event()
        # Reconcile passes started and finished, for a request that must
        # see its change applied before it answers (addresses_settled).
        self._passes = threading.Condition()
        self._started = 0
        self._finished = 0
        self._stopping = threading.Event()
        self._checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
        self._replace: list[str] = []  # instance ids the ELB health check has condemned
        self.dns: DnsServer | None = None
        self._supervisor: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------

    def start(self) -> None:
        self.dns = DnsServer(self, self.config.emulator_port)
        self._supervisor = threading.Thread(target=self._run, name="dataplane", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_GRACE + 5)
        if self.dns is not None:
            self.dns.close()
        self.addresses.release_all()
        self._checks.shutdown(wait=False, cancel_futures=True)

    def nudge(self) -> None:
        self._wake.set()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until a reconcile pass that started after this call has
        finished: what the request just changed is then served. Passes run
        on the supervisor's thread only (it spawns the time servers, and
        PR_SET_PDEATHSIG ties them to the thread that spawned them)."""
        with self._passes:
            want = self._started + 1
            self._wake.set()
            self._passes.wait_for(lambda: self._finished >= want or self._stopping.is_set(), timeout)

    def _run(self) -> None:
        # Every process is spawned from this thread: PR_SET_PDEATHSIG fires
        # when the spawning thread ends, and this one lives as long as the
        # data plane.
        while not self._stopping.is_set():
            self._wake.wait(RECONCILE_EVERY)
            self._wake.clear()
            with self._passes:
                self._started += 1
            try:
                self.reconcile()
            except Exception as e:  # keep serving; say what went wrong
                print(f"wtt dataplane: reconcile: {e!r}", file=sys.stderr, flush=True)
            with self._passes:
                self._finished += 1
                self._passes.notify_all()
        for m in list(self.machines.values()):
            self._halt(m, "stopped", graceful=True, wait=False)
        deadline = time.monotonic() + STOP_GRACE
        for m in self.machines.values():
            if m.proc is not None:
                try:
                    m.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    m.proc.kill()
                    m.proc.wait()
        for lb in self.lbs.values():
            lb.close()

    # --- reading moto -----------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        from moto.ec2.models import ec2_backends
        from moto.elbv2.models import elbv2_backends

        instances, used = [], set()
        lbs, tgs = [], []
        with self.lock:
            for account, regions in list(ec2_backends.items()):
                for region, ec2 in list(regions.items()):
                    # An associated Elastic IP is the instance's public address,
                    # even after a stop/start gave its interface a new one.
                    eip_of = {eip.instance.id: eip.public_ip for eip in ec2.addresses
                              if getattr(eip, "instance", None) is not None}
                    for reservation in ec2.reservations.values():
                        for inst in reservation.instances:
                            if inst.public_ip:
                                used.add(inst.public_ip)
                            if inst.state != "running":
                                instances.append({"id": inst.id, "state": inst.state})
                                continue
                            # groups given in NetworkInterfaces[].Groups live on the
                            # interface only in moto (DescribeInstances omits them)
                            sgs = {g.id: g for g in inst.security_groups or []}
                            for nic in inst.nics.values():
                                sgs.update({g.id: g for g in nic.group_set})
                            sgs = list(sgs.values())
                            instances.append({
                                "id": inst.id, "state": "running", "account": account, "region": region,
                                "az": inst._placement.zone, "public_ip": eip_of.get(inst.id, inst.public_ip),
                                "private_ip": inst.private_ip, "reboots": getattr(inst, "wtt_boots", 0),
                                "ingress": _ingress_on_port(sgs, HTTP_PORT),
                            })
                    for eip in ec2.addresses:
                        used.add(eip.public_ip)
            for account, regions in list(elbv2_backends.items()):
                for region, elb in list(regions.items()):
                    for lb in elb.load_balancers.values():
                        if (lb.type or "application") != "application":
                            continue
                        listeners = {}
                        for lst in lb.listeners.values():
                            if (lst.protocol or "HTTP") == "HTTP":
                                listeners[int(lst.port)] = [dict(a.data) if hasattr(a, "data") else dict(a)
                                                            for a in lst.default_actions]
                        lbs.append({"arn": lb.arn, "name": lb.name, "dns": lb.dns_name.lower(),
                                    "sgs": list(lb.security_groups or []), "listeners": listeners})
                    for tg in elb.target_groups.values():
                        tgs.append(TargetGroupView(
                            arn=tg.arn, name=tg.name, port=int(tg.port or 80),
                            path=tg.health_check_path or "/", health_port=str(tg.health_check_port or "traffic-port"),
                            protocol=(tg.health_check_protocol or "HTTP").upper(),
                            enabled=bool(tg.health_check_enabled),
                            interval=float(tg.health_check_interval_seconds or 30),
                            timeout=float(tg.health_check_timeout_seconds or 5),
                            healthy_threshold=int(tg.healthy_threshold_count or 5),
                            unhealthy_threshold=int(tg.unhealthy_threshold_count or 2),
                            matcher=str((getattr(tg, "matcher", None) or {}).get("HttpCode") or "200"),
                            drain=float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)),
                            targets={t["Id"]: int(t.get("Port") or tg.port or 80) for t in tg.targets.values()},
                            lb_arns=list(tg.load_balancer_arns),
                        ))
        return {"instances": instances, "used": used, "lbs": lbs, "tgs": tgs}

    # --- reconcile --------------------------------------------------------

    def reconcile(self) -> None:
        snap = self._snapshot()
        now = time.monotonic()
        self._reconcile_lbs(snap["lbs"])
        lb_sg = {lb["arn"]: set(lb["sgs"]) for lb in snap["lbs"]}
        self._reconcile_target_groups(snap["tgs"], now)
        seen = set()
        for rec in snap["instances"]:
            seen.add(rec["id"])
            m = self.machines.get(rec["id"])
            if rec["state"] != "running":
                if m is not None:
                    self._halt(m, "stopped", graceful=True)
                    if rec["state"] == "terminated":
                        self._forget(m)
                continue
            if m is None:
                if sum(1 for x in self.machines.values() if x.status in ("booting", "serving")) >= self.config.max_instances:
                    continue
                m = Machine(id=rec["id"], account=rec["account"], region=rec["region"], az=rec["az"],
                            private_ip=rec["private_ip"],
                            private_loopback=self.addresses.private_mapping(
                                rec["private_ip"], {x.private_loopback for x in self.machines.values()}),
                            boot_at=now + self.config.boot_delay, reboots=rec["reboots"])
                with self._route_lock:
                    self.machines[m.id] = m
            elif m.status == "stopped" or rec["reboots"] != m.reboots:
                # started again, or rebooted: boot anew
                self._halt(m, "stopped", graceful=True)
                m.status, m.boot_at, m.reboots, m.detail = "booting", now + self.config.boot_delay, rec["reboots"], ""
            self._apply_network(m, rec, lb_sg)
            if m.status == "booting" and now >= m.boot_at:
                self._boot(m)
            elif m.status == "serving" and m.proc is not None and m.proc.poll() is not None:
                self._halt(m, "failed", graceful=False)
                m.detail = f"time server exited with status {m.proc.returncode}"
            self._sync_forwarders(m)
        for m in [m for m in self.machines.values() if m.id not in seen]:  # gone from moto (reset)
            self._halt(m, "stopped", graceful=True)
            self._forget(m)
        used = set(snap["used"]) | {m.private_loopback for m in self.machines.values()} | {lb.ip for lb in self.lbs.values()}
        self.addresses.release_unused(used)
        self._schedule_checks(now)
        self._replace_condemned()

    def _forget(self, m: Machine) -> None:
        with self._route_lock:
            self.machines.pop(m.id, None)

    def _apply_network(self, m: Machine, rec: dict[str, Any], lb_sg: dict[str, set[str]]) -> None:
        ingress = rec["ingress"]
        m.public_ip = rec["public_ip"]
        m.public_open = ingress["cidr"]
        allowed = set()
        for arn, sgs in lb_sg.items():
            if arn in self.lbs and (ingress["cidr"] or sgs & ingress["groups"]):
                allowed.add(self.lbs[arn].ip)
        m.allowed_lb_ips = frozenset(allowed)

    def _boot(self, m: Machine) -> None:
        if not os.path.exists(self.config.binary):
            m.status, m.detail = "failed", f"no time server binary at {self.config.binary}"
            return
        for _ in range(3):
            port = _free_port()
            endpoint = f"http://127.0.0.1:{self.config.emulator_port}{CONTROL_PREFIX}imds/{m.id}"
            proc = subprocess.Popen(
                [self.config.binary, f"--addr=127.0.0.1:{port}", f"--imds-endpoint={endpoint}",
                 "--drain-delay=500ms", "--shutdown-timeout=2s", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_set_parent_death_signal, close_fds=True,
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None and not _port_open(port):
                time.sleep(0.02)
            if proc.poll() is None and _port_open(port):
                m.proc, m.port, m.status, m.detail = proc, port, "serving", ""
                return
            proc.kill()
            proc.wait()
        m.status, m.detail = "failed", "the time server did not start listening"

    def _halt(self, m: Machine, status: str, graceful: bool, wait: bool = True) -> None:
        """Close the instance's addresses, then end its process."""
        for f in m.forwarders.values():
            f.close()
        m.forwarders.clear()
        proc, m.proc, m.port = m.proc, None, None
        m.status = status
        if proc is None or proc.poll() is not None:
            return
        if not graceful:
            proc.kill()
            proc.wait()
            return
        proc.terminate()
        if wait:
            # Reaped in the background so the supervisor does not stall.
            threading.Thread(target=_reap, args=(proc,), daemon=True).start()
        else:
            m.proc = proc  # stop() waits for it

    def _sync_forwarders(self, m: Machine) -> None:
        want: dict[str, Callable[[str], bool]] = {}
        if m.status == "serving":
            want[m.private_loopback] = m.admit_private
            if m.public_ip and m.public_open:
                want[m.public_ip] = lambda peer: True
        for ip in [ip for ip in m.forwarders if ip not in want]:
            m.forwarders.pop(ip).close()
        for ip, admit in want.items():
            if ip in m.forwarders:
                continue
            self.addresses.take(ip)
            try:
                m.forwarders[ip] = Forwarder(ip, HTTP_PORT, m.backend_port, admit, self.slots)
            except OSError as e:
                m.detail = f"cannot listen on {ip}:{HTTP_PORT}: {e}"

    def _reconcile_lbs(self, lbs: list[dict[str, Any]]) -> None:
        live = {lb["arn"] for lb in lbs}
        for arn in [a for a in self.lbs if a not in live]:
            self.lbs.pop(arn).close()
        for lb in lbs:
            proxy = self.lbs.get(lb["arn"])
            if proxy is None:
                proxy = LoadBalancerProxy(self, lb["arn"], lb["name"], lb["dns"], self.addresses.allocate(LB_OCTET))
                self.lbs[lb["arn"]] = proxy
            proxy.set_listeners(lb["listeners"])

    def _reconcile_target_groups(self, tgs: list[TargetGroupView], now: float) -> None:
        scale = self.config.time_scale
        with self._route_lock:
            self.target_groups = {tg.arn: tg for tg in tgs}
            for tg in tgs:
                for tid, port in tg.targets.items():
                    h = self.health.get((tg.arn, tid))
                    if h is None or h.state == "draining":  # new, or registered again while draining
                        self.health[(tg.arn, tid)] = TargetHealth(port=port, next_check=now)
                    else:
                        h.port = port
            for key, h in list(self.health.items()):
                tg = self.target_groups.get(key[0])
                if tg is not None and key[1] in tg.targets:
                    continue
                if tg is None:
                    del self.health[key]
                elif h.state != "draining":
                    if h.state in ("healthy", "initial", "unhealthy") and tg.drain > 0 and tg.lb_arns:
                        h.state, h.reason, h.description = "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
                        h.drain_until = now + tg.drain * scale
                    else:
                        del self.health[key]
                elif now >= h.drain_until:
                    del self.health[key]

    # --- health checks ----------------------------------------------------

    def _schedule_checks(self, now: float) -> None:
        scale = self.config.time_scale
        with self._route_lock:
            for (arn, tid), h in self.health.items():
                tg = self.target_groups.get(arn)
                if tg is None or h.state == "draining" or h.checking:
                    continue
                m = self.machines.get(tid)
                if not tg.lb_arns or not any(a in self.lbs for a in tg.lb_arns):
                    h.state, h.reason, h.description = "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"
                    continue
                if not tg.enabled:
                    h.state, h.reason, h.description = "unavailable", "Target.HealthCheckDisabled", "Health checks are disabled"
                    continue
                if h.state == "unused":
                    h.state, h.reason, h.description = "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
                if now < h.next_check:
                    continue
                h.checking = True
                h.next_check = now + tg.interval * scale
                lb = next(self.lbs[a] for a in tg.lb_arns if a in self.lbs)
                port = h.port if tg.health_port == "traffic-port" else int(tg.health_port)
                # The clock scale shortens how often checks run, not how fast
                # a time server answers: on a loaded machine a 0.5 s timeout
                # (5 s scaled by 0.1) failed healthy targets, so the timeout
                # is scaled no lower than 2 s (or the configured timeout).
                self._checks.submit(self._check, arn, tid, tg, m.private_loopback if m else None, port,
                                    lb.ip, max(tg.timeout * scale, min(tg.timeout, CHECK_TIMEOUT_FLOOR)))

    def _check(self, arn: str, tid: str, tg: TargetGroupView, ip: str | None, port: int,
               source: str, timeout: float) -> None:
        ok, reason, desc = False, "Target.FailedHealthChecks", "Health checks failed"
        if ip is None:
            reason, desc = "Target.FailedHealthChecks", "Health checks failed"
        else:
            try:
                conn = http.client.HTTPConnection(ip, port, timeout=timeout, source_address=(source, 0))
                if tg.protocol == "TCP":
                    conn.connect()
                    ok = True
                else:
                    conn.request("GET", tg.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
                    code = conn.getresponse().status
                    ok = _matches(code, tg.matcher)
                    if not ok:
                        reason, desc = "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
                conn.close()
            except TimeoutError:
                reason, desc = "Target.Timeout", "Request timed out"
            except (OSError, http.client.HTTPException):
                reason, desc = "Target.FailedHealthChecks", "Health checks failed"
        condemn = False
        with self._route_lock:
            h = self.health.get((arn, tid))
            if h is None:
                return
            h.checking = False
            if h.state == "draining":
                return
            if ok:
                h.successes, h.failures = h.successes + 1, 0
                if h.state != "healthy" and h.successes >= tg.healthy_threshold:
                    h.state, h.reason, h.description = "healthy", None, None
            else:
                h.failures, h.successes = h.failures + 1, 0
                if h.state != "unhealthy" and h.failures >= tg.unhealthy_threshold:
                    h.state, h.reason, h.description = "unhealthy", reason, desc
                    condemn = True
                elif h.state == "unhealthy":
                    h.reason, h.description = reason, desc
        if condemn:
            self._replace.append(tid)
            self.nudge()

    def _replace_condemned(self) -> None:
        """Auto Scaling groups with HealthCheckType ELB replace an instance the
        load balancer finds unhealthy once its grace period has passed."""
        from moto.autoscaling.models import autoscaling_backends

        ids, self._replace = self._replace, []
        if not ids:
            return
        from moto.elbv2.models import elbv2_backends

        now = time.monotonic()
        with self.lock:
            for account, regions in list(autoscaling_backends.items()):
                for region, asb in list(regions.items()):
                    doomed = []
                    for group in asb.autoscaling_groups.values():
                        if (group.health_check_type or "EC2").upper() != "ELB":
                            continue
                        for s in group.instance_states:
                            if s.instance.id not in ids or s.instance.state != "running":
                                continue
                            if not self._unhealthy_somewhere(s.instance.id):
                                continue  # recovered before its grace period ended
                            m = self.machines.get(s.instance.id)
                            grace = float(group.health_check_grace_period or 0) * self.config.time_scale
                            if m is not None and now - m.first_seen < grace:
                                self._replace.append(s.instance.id)  # ask again after the grace
                                continue
                            s.health_status = "Unhealthy"
                            print(f"wtt dataplane: {group.name}: replacing {s.instance.id} (ELB health check)",
                                  file=sys.stderr, flush=True)
                            doomed.append(s.instance.id)
                    if doomed:
                        # what EC2's TerminateInstances does: terminate, then
                        # tell Auto Scaling (which launches replacements) and ELB
                        asb.ec2_backend.terminate_instances(doomed)
                        asb.notify_terminate_instances(doomed)
                        elbv2_backends[account][region].notify_terminate_instances(doomed)
        self.nudge()

    def _unhealthy_somewhere(self, instance_id: str) -> bool:
        with self._route_lock:
            return any(tid == instance_id and h.state == "unhealthy" for (_, tid), h in self.health.items())

    # --- used by the load balancer proxies ---------------------------------

    def _routable_targets(self, arns: list[str]) -> list[tuple[Machine, int]]:
        healthy, unhealthy, registered = [], [], 0
        for arn in arns:
            tg = self.target_groups.get(arn)
            if tg is None:
                continue
            for tid in tg.targets:
                h = self.health.get((arn, tid))
                m = self.machines.get(tid)
                if h is None or m is None:
                    continue
                registered += 1
                if h.state == "healthy":
                    healthy.append((m, h.port))
                elif h.state == "unhealthy":
                    unhealthy.append((m, h.port))
        if healthy:
            return healthy
        # Fail open, as an ALB does when every registered target is unhealthy.
        if unhealthy and len(unhealthy) == registered:
            return unhealthy
        return []

    def pick_target(self, arns: list[str], lb: "LoadBalancerProxy") -> tuple[Machine, int] | None:
        """The next routable target in the load balancer's own rotation. One
        counter shared by every load balancer let two clients in lock step
        (two probes at 10 requests/s, each through its own load balancer)
        see every other target only: with 4 targets, 2 never answered one."""
        with self._route_lock:
            targets = self._routable_targets(arns)
            if not targets:
                return None
            lb._rr += 1
            return targets[lb._rr % len(targets)]

    def routable(self, arns: list[str], instance_id: str) -> bool:
        with self._route_lock:
            return any(m.id == instance_id for m, _ in self._routable_targets(arns))

    def target_health(self, arn: str, instance_id: str) -> TargetHealth | None:
        with self._route_lock:
            return self.health.get((arn, instance_id))

    def draining_targets(self, arn: str) -> list[tuple[str, int]]:
        with self._route_lock:
            return [(tid, h.port) for (a, tid), h in self.health.items() if a == arn and h.state == "draining"]

    # --- DNS --------------------------------------------------------------

    def dns_view(self) -> dict[str, dict[str, Any]]:
        """name -> {"A": (ttl, [ips]), "CNAME": (ttl, target)} from Route 53's
        public zones and the load balancers' names."""
        from moto.route53.models import route53_backends

        out: dict[str, dict[str, Any]] = {}
        by_dns = {lb.dns_name.rstrip(".").lower(): lb.ip for lb in list(self.lbs.values())}
        for name, ip in by_dns.items():
            out[name] = {"A": (ALIAS_TTL, [ip])}
        with self.lock:
            for account, regions in list(route53_backends.items()):
                for region, r53 in list(regions.items()):
                    for zone in r53.zones.values():
                        if getattr(zone, "private_zone", False):
                            continue
                        out.setdefault(zone.name.rstrip(".").lower(), {})  # the apex exists (SOA, NS)
                        for rr in zone.rrsets:
                            name = rr.name.rstrip(".").lower()
                            rtype = (rr.type or "").upper()
                            if rr.alias_target:
                                target = str(rr.alias_target.get("DNSName", "")).rstrip(".").lower()
                                target = target.removeprefix("dualstack.")
                                if rtype == "A" and target in by_dns:
                                    _add_a(out, name, ALIAS_TTL, [by_dns[target]])
                                elif rtype == "A" and target in out and "A" in out[target]:
                                    _add_a(out, name, ALIAS_TTL, out[target]["A"][1])
                                continue
                            values = [str(v.get("Value") if isinstance(v, dict) else v).strip() for v in rr.records or []]
                            if rtype == "A":
                                _add_a(out, name, int(rr.ttl or 0), values)
                            elif rtype == "CNAME" and values:
                                out.setdefault(name, {})["CNAME"] = (int(rr.ttl or 0), values[0].rstrip(".").lower())
                            else:
                                out.setdefault(name, {})  # the name exists: NOERROR, no A answer
        return out

    # --- control API --------------------------------------------------------

    def kill(self, az: str | None, instance: str | None) -> list[str]:
        """SIGKILL the time servers of every instance in `az` (or the one
        `instance`) without telling the EC2 API: the host died."""
        killed = []
        for m in list(self.machines.values()):
            if (az and m.az == az) or (instance and m.id == instance):
                if m.status in ("serving", "booting"):
                    self._halt(m, "killed", graceful=False)
                    m.detail = "killed through /wtt-dataplane/kill"
                    killed.append(m.id)
        return killed

    def state(self) -> dict[str, Any]:
        with self._route_lock:
            machines = list(self.machines.values())
            health = dict(self.health)
            tgs = dict(self.target_groups)
        return {
            "enabled": True,
            "binary": self.config.binary,
            "bootDelaySeconds": self.config.boot_delay,
            "timeScale": self.config.time_scale,
            "dns": f"127.0.0.1:{self.dns.port}" if self.dns else None,
            "dnsQueries": self.dns.queries if self.dns else 0,
            "instances": [{
                "instanceId": m.id, "availabilityZone": m.az, "status": m.status, "detail": m.detail,
                "publicIp": m.public_ip, "privateIp": m.private_ip, "privateLoopback": m.private_loopback,
                "publicReachable": bool(m.public_ip and m.public_open),
                "listening": sorted(m.forwarders), "pid": m.proc.pid if m.proc else None,
                "allowedLoadBalancerAddresses": sorted(m.allowed_lb_ips),
            } for m in machines],
            "loadBalancers": [{
                "arn": lb.arn, "name": lb.name, "dnsName": lb.dns_name, "address": lb.ip,
                "listeners": sorted(lb.servers), "errors": {str(k): v for k, v in lb.errors.items()},
            } for lb in list(self.lbs.values())],
            "targetGroups": [{
                "arn": tg.arn, "name": tg.name, "loadBalancerArns": tg.lb_arns,
                "healthCheck": {"path": tg.path, "intervalSeconds": tg.interval, "timeoutSeconds": tg.timeout,
                                "healthyThreshold": tg.healthy_threshold,
                                "unhealthyThreshold": tg.unhealthy_threshold, "matcher": tg.matcher},
                "deregistrationDelaySeconds": tg.drain,
                "targets": [{"id": tid, "port": h.port, "state": h.state, "reason": h.reason}
                            for (a, tid), h in health.items() if a == tg.arn],
            } for tg in tgs.values()],
        }

    def imds(self, method: str, rest: str, headers: dict[str, str]) -> tuple[int, str]:
        """IMDSv2 for one instance: rest is '<instance id>/latest/...'."""
        instance, _, path = rest.partition("/")
        m = self.machines.get(instance)
        if m is None:
            return 404, "Not Found"
        if path == "latest/api/token":
            if method != "PUT":
                return 405, "Method Not Allowed"
            if not headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                return 400, "Bad Request"
            token = uuid.uuid4().hex
            if len(self.imds_tokens) > 4096:
                self.imds_tokens.clear()
            self.imds_tokens[token] = instance
            return 200, token
        if self.imds_tokens.get(headers.get("x-aws-ec2-metadata-token", "")) != instance:
            return 401, "Unauthorized"
        values = {
            "latest/meta-data/instance-id": m.id,
            "latest/meta-data/placement/availability-zone": m.az,
            "latest/meta-data/placement/region": m.region,
            "latest/meta-data/local-ipv4": m.private_ip,
        }
        if m.public_ip:
            values["latest/meta-data/public-ipv4"] = m.public_ip
        if path in values:
            return 200, values[path]
        return 404, "Not Found"

    def wsgi(self, app: Callable) -> Callable:
        """Wrap moto's WSGI app: /wtt-dataplane/* is answered here; every other
        request runs under the lock, and the supervisor is woken after it."""

        def wrapped(environ: dict[str, Any], start_response: Callable) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith(CONTROL_PREFIX):
                return self._control(environ, start_response, path[len(CONTROL_PREFIX):])
            settle = _moves_addresses(environ)
            with self.lock:
                body = list(app(environ, start_response))
            if settle:
                # On AWS an address that moves answers where it went as the
                # call returns; a client that looks the instance up next
                # must not find a new public IP that refuses connections.
                self.settle()
            else:
                self.nudge()
            return body

        return wrapped

    def _control(self, environ: dict[str, Any], start_response: Callable, rest: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if rest.startswith("imds/"):
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            code, text = self.imds(method, rest[5:], headers)
            return _respond(start_response, code, text, "text/plain")
        if rest == "state" and method == "GET":
            return _respond(start_response, 200, json.dumps(self.state(), indent=1), "application/json")
        if rest == "kill" and method == "POST":
            az, instance = query.get("az"), query.get("instance")
            if not az and not instance:
                return _respond(start_response, 400, json.dumps(
                    {"error": "say which: ?az=us-east-1a or ?instance=i-..."}), "application/json")
            killed = self.kill(az, instance)
            return _respond(start_response, 200, json.dumps({"killed": killed}), "application/json")
        return _respond(start_response, 404, json.dumps(
            {"error": "unknown; try GET /wtt-dataplane/state or POST /wtt-dataplane/kill?az=..."}), "application/json")


def _respond(start_response: Callable, code: int, text: str, ctype: str) -> list[bytes]:
    data = text.encode()
    reason = http.client.responses.get(code, "")
    start_response(f"{code} {reason}", [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def _reap(proc: subprocess.Popen) -> None:
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _ingress_on_port(groups: list[Any], port: int) -> dict[str, Any]:
    """What the instance's security groups admit on TCP `port`: any IPv4 CIDR
    ("cidr": True) and which source security groups."""
    cidr, sources = False, set()
    for g in groups:
        for rule in getattr(g, "ingress_rules", []):
            proto = str(rule.ip_protocol or "")
            if proto not in ("tcp", "6", "-1"):
                continue
            if proto != "-1" and not (int(rule.from_port) <= port <= int(rule.to_port)):
                continue
            if rule.ip_range.get("CidrIp"):
                cidr = True
            if rule.source_group.get("GroupId"):
                sources.add(rule.source_group["GroupId"])
    return {"cidr": cidr, "groups": sources}


# ===========================================================================
# Hooks into moto
# ===========================================================================


def install(plane: DataPlane) -> None:
    """Patch moto so its addresses are the data plane's loopback ones, reboots
    are seen, and DescribeTargetHealth reports what the health checker sees."""
    import moto.ec2.models.elastic_ip_addresses as eip_models
    import moto.ec2.models.elastic_network_interfaces as eni_models
    from moto.ec2.models.instances import Instance
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

    eni_models.random_public_ip = lambda: plane.addresses.allocate(PUBLIC_OCTET)  # type: ignore[attr-defined]
    eip_models.random_ip = lambda: plane.addresses.allocate(EIP_OCTET)  # type: ignore[attr-defined]

    # Every start and reboot boots the instance anew, even when the
    # supervisor did not see the stop in between.
    for name in ("start", "reboot"):
        def booted(self: Any, *args: Any, _orig: Any = getattr(Instance, name)) -> Any:
            result = _orig(self, *args)
            self.wtt_boots = getattr(self, "wtt_boots", 0) + 1
            return result

        setattr(Instance, name, booted)

    orig_health_for = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        status = orig_health_for(self, target, ec2_backend)
        tid = target["Id"]
        t = self.targets.get(tid)
        h = plane.target_health(self.arn, tid)

        def view(state: str, reason: str | None, description: str | None, port: Any) -> Any:
            return FakeHealthStatus(tid, port, self.health_check_port, state, reason, description)

        if t is not None:
            if h is None or h.state == "draining":
                # registered (again) a moment ago; the supervisor has not seen it yet
                return view("initial", "Elb.RegistrationInProgress", "Target registration is in progress", t["Port"])
            return view(h.state, h.reason, h.description, t["Port"])
        draining = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
        if h is not None and h.state == "draining":
            return view(*draining, h.port)
        if h is not None and self.load_balancer_arns and float(
                self.attributes.get("deregistration_delay.timeout_seconds", 300)) > 0:
            return view(*draining, h.port)  # deregistered a moment ago; it will drain
        return status

    orig_describe = ELBv2Backend.describe_target_health

    def describe_target_health(self: Any, target_group_arn: str, targets: list[dict[str, Any]]) -> Any:
        result = orig_describe(self, target_group_arn, targets)
        if not targets:  # AWS lists draining targets too
            tg = self.target_groups[target_group_arn]
            for tid, port in plane.draining_targets(target_group_arn):
                if tid not in tg.targets:
                    result.append(health_for(tg, {"Id": tid, "Port": port}, self.ec2_backend))
        return result

    FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]
    ELBv2Backend.describe_target_health = describe_target_health  # type: ignore[method-assign]


# ===========================================================================
# A resolver for people without dig
# ===========================================================================


def resolve(name: str, port: int, server: str = "127.0.0.1", timeout: float = 3.0) -> tuple[int, list[tuple[int, int, str]]]:
    """Ask the emulator's DNS server for name's A records: (rcode, [(type, ttl, value)])."""
    qid = int.from_bytes(os.urandom(2), "big")
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", DNS_A, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, (server, port))
        data, _ = s.recvfrom(4096)
    qid2, flags, _, count = struct.unpack("!HHHH", data[:8])
    if qid2 != qid:
        raise OSError("the DNS answer does not match the query")
    i = len(query)
    out = []
    for _ in range(count):
        while data[i]:  # this server never compresses names
            i += data[i] + 1
        rtype, _, ttl, length = struct.unpack("!HHIH", data[i + 1:i + 11])
        rdata = data[i + 11:i + 11 + length]
        if rtype == DNS_A:
            out.append((rtype, ttl, socket.inet_ntoa(rdata)))
        else:
            labels, j = [], 0
            while rdata[j]:
                labels.append(rdata[j + 1:j + 1 + rdata[j]].decode())
                j += rdata[j] + 1
            out.append((rtype, ttl, ".".join(labels)))
        i += 11 + length
    return flags & 0xF, out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python3 emulator/dataplane.py",
        description="Tools for the emulator's data plane.",
        epilog="example: curl --resolve api.whatisthetime.com:80:$(python3 emulator/dataplane.py "
        "resolve --port 4566 api.whatisthetime.com) http://api.whatisthetime.com/",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    res = sub.add_parser("resolve", help="print the A addresses the emulator's DNS gives a name, one a line")
    res.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT") or 4566),
                     help="the emulator's port, which its DNS server shares (default 4566, or EMULATOR_PORT)")
    res.add_argument("-v", "--verbose", action="store_true", help="print the whole answer: type, TTL, value")
    res.add_argument("name")
    args = parser.parse_args(argv)
    try:
        rcode, records = resolve(args.name, args.port)
    except OSError as e:
        print(f"no answer from the emulator's DNS on udp 127.0.0.1:{args.port} ({e}); "
              "is the emulator running with its data plane on?", file=sys.stderr)
        return 1
    if rcode == 3:
        print(f"{args.name}: no such name (NXDOMAIN)", file=sys.stderr)
        return 1
    try:
        for rtype, ttl, value in records:
            if args.verbose:
                print(f"{'A' if rtype == DNS_A else 'CNAME'}\t{ttl}\t{value}")
            elif rtype == DNS_A:
                print(value)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head -1` took what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())


# EC2 actions after which an instance's public address has moved: the
# data plane serves the new address before the call answers.
_ADDRESS_ACTIONS = (b"Action=AssociateAddress", b"Action=DisassociateAddress", b"Action=ReleaseAddress")


def _moves_addresses(environ: dict[str, Any]) -> bool:
    """Whether the request is an EC2 call that moves a public address. The
    form body is read here and put back for moto to read again."""
    if environ.get("REQUEST_METHOD") != "POST":
        return False
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if not 0 < length <= 1 << 16:
        return False
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return any(body.startswith(a) or b"&" + a in body for a in _ADDRESS_ACTIONS)
