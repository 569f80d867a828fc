#!/usr/bin/env python3
"""Fork server for the wtt emulator: import moto once, fork an emulator per test.

Usage (by pkg/emulatortest, which starts one per test binary):

    python3 emulator/forkserver.py [--control-fd 3]   # an AF_UNIX SOCK_SEQPACKET socket

Starting emulator/wtt_emulator.py costs about 3 s of CPU before it answers
anything: importing moto, boto3 and botocore, installing the additions, then,
on the first request to each service, building moto's application for it,
loading botocore's service model and creating the service's backend (EC2's
default VPC, AMIs and instance types; IAM's managed policies). A test suite
starting forty emulators spends two minutes of CPU on that. This process does
it once: it imports and installs (wtt_emulator.prepare()), sends one read-only
request to every service wtt uses through the application in-process
(warm()), so the backends exist with the state a fresh emulator would give
them, and then forks a child per request. A child costs a fork: it reseeds
moto's random ids, parses the emulator's options, binds 127.0.0.1 port 0
itself (no free-port race), starts its own data plane threads if asked and
serves (wtt_emulator.serve()). Children share nothing after the fork. A
seed (POST /moto-api/seed) sent before any other request also rebuilds the
backends, so that a seeded child draws the same ids as a seeded fresh
emulator (SeedLikeAFreshEmulator).

Protocol on fd 3, one JSON object per datagram:

    <- {"ready": true, "pid": P, "cpu": seconds, "warm": [...]}    once, after warm()
    -> {"id": N, "args": [...], "env": {...}, "nice": bool}        start an emulator, with
       + SCM_RIGHTS(fd)                                          wtt_emulator.py's options and
                                                                 that environment; fd becomes its
                                                                 stdout and stderr; nice: nice 10
    <- {"id": N, "pid": P}                                         forked
    <- {"id": N, "pid": P, "port": PORT}                           listening
    <- {"exit": P, "code": C, "cpu": seconds}                      reaped (cpu: the child's
                                                                 user+system, its reaped children's too)

Each child is a process group of its own (signal -P to stop it and its
time servers) in this process's session (a session of its own would be a
scheduling group of its own under Linux's autogroup, where nice 10 weighs
nothing against the test's work), gets SIGTERM if this process dies
(PR_SET_PDEATHSIG), and this process ends every child and exits when fd 3
reaches end of file: the test binary is gone.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import random
import resource
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

CONTROL_FD = 3
STOP_GRACE = 5.0

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# One read-only request per service wtt calls (pkg/awsapi, the ladder, the
# e2e suites): it builds moto's application for the service, loads
# botocore's model and creates the backend for the default account in
# us-east-1 (or the global one), which is what the first real request of
# every test would otherwise pay for. None of them creates state.
_QUERY = "application/x-www-form-urlencoded"
_JSON = "application/x-amz-json-1.1"
WARM_REQUESTS: tuple[tuple[str, str, str, str | None, dict[str, str]], ...] = (
    ("sts", "POST", "/", "Action=GetCallerIdentity&Version=2011-06-15", {"Content-Type": _QUERY}),
    ("ec2", "POST", "/", "Action=DescribeVpcs&Version=2016-11-15", {"Content-Type": _QUERY}),
    ("ec2", "POST", "/", "Action=DescribeInstances&Version=2016-11-15", {"Content-Type": _QUERY}),
    ("iam", "POST", "/", "Action=ListRoles&Version=2010-05-08", {"Content-Type": _QUERY}),
    ("autoscaling", "POST", "/", "Action=DescribeAutoScalingGroups&Version=2011-01-01", {"Content-Type": _QUERY}),
    ("elasticloadbalancing", "POST", "/", "Action=DescribeLoadBalancers&Version=2015-12-01",
     {"Content-Type": _QUERY}),
    ("route53", "GET", "/2013-04-01/hostedzone", None, {}),
    ("s3", "GET", "/", None, {}),
    ("ssm", "POST", "/", '{"Path": "/"}', {"Content-Type": _JSON, "X-Amz-Target": "AmazonSSM.GetParametersByPath"}),
)


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def warm(app: Any) -> list[str]:
    """Send WARM_REQUESTS through app in this process; returns one line per
    request ("ec2 DescribeVpcs 200"). A failed request is reported, not
    raised: a child then pays for that service itself, as a plain start does."""
    from werkzeug.test import Client

    client = Client(app)
    done = []
    for service, method, path, body, headers in WARM_REQUESTS:
        h = dict(headers)
        h["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        what = (body or path).split("&")[0].removeprefix("Action=")
        try:
            status = client.open(path, method=method, data=body, headers=h).status_code
        except Exception as e:  # noqa: BLE001  (any failure only costs the warm-up)
            status = f"failed: {e!r}"
        done.append(f"{service} {h.get('X-Amz-Target', what)} {status}")
    return done


class SeedLikeAFreshEmulator:
    """WSGI middleware for a child: POST /moto-api/seed before any other
    request also drops the backends warm() built, as moto's reset does.

    A test seeds moto's random numbers to get the same ids every run
    (scripts/tutorial). In a fresh wtt_emulator.py, the seed comes before
    any backend exists, so it also decides the ids of what backends make
    when they are created (EC2's default VPC and subnets). A child's
    backends, and moto's per-service applications, which create them, were
    made before the fork, unseeded; made again after the seed, they draw
    the ids a fresh emulator would, in the same order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.dispatcher = app  # wtt_emulator.prepare()'s DomainDispatcherApplication
        self.fresh = True
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.fresh:
            path = environ.get("PATH_INFO", "")
            with self.lock:
                if self.fresh and path == "/moto-api/seed":
                    from moto.moto_api._internal.models import moto_api_backend

                    moto_api_backend.reset()
                    # A fresh emulator creates a service's backend when it
                    # builds the service's application, on its first
                    # request, before that request's own draws (IAM's for
                    # the caller's account): the same order, the same ids.
                    self.dispatcher.app_instances.clear()
                if path not in ("/moto-api/", "/moto-api"):  # the readiness check changes nothing
                    self.fresh = False
        return self.app(environ, start_response)


def _set_parent_death_signal(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ForkServer:
    def __init__(self, control: socket.socket, app: Any, inherited: dict[str, str]) -> None:
        self.control = control
        self.app = app
        self.inherited = inherited  # the environment before the imports added to it
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.pending: dict[int, tuple[int, int]] = {}  # ready pipe read end -> (request id, pid)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.control, selectors.EVENT_READ, "control")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "signal")

    def send(self, msg: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(msg).encode())
        except OSError:
            pass  # the test binary is gone; the next read sees end of file

    def run(self) -> int:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through wake_w
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.signal(signal.SIGINT, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        stopping = False
        while not stopping:
            for key, _ in self.selector.select():
                if key.data == "control":
                    stopping = not self.receive()
                elif key.data == "signal":
                    got = os.read(self.wake_r, 512)
                    if signal.SIGTERM in got or signal.SIGINT in got:
                        stopping = True
                    self.reap()
                else:
                    self.listening(key.fd)
        self.stop_children()
        return 0

    def receive(self) -> bool:
        """One request from the test binary; False at end of file."""
        req: Any = None
        try:
            data, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 4)
        except OSError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        try:
            req = json.loads(data)
            if len(fds) != 1:
                raise ValueError(f"want 1 file descriptor with the request, got {len(fds)}")
            self.fork(req, fds[0])
        except Exception as e:  # noqa: BLE001  (a bad request must not end the server)
            self.send({"id": req.get("id") if isinstance(req, dict) else None, "error": repr(e)})
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def fork(self, req: dict[str, Any], log_fd: int) -> None:
        if threading.active_count() != 1:
            raise RuntimeError(f"{threading.active_count()} threads in the fork server; forking would copy their locks")
        ready_r, ready_w = os.pipe()
        # Objects the child inherits stay out of its garbage collector's
        # walks: a walk would write to every one of them (reference
        # counts, GC links) and copy the fork server's whole heap page by page.
        gc.freeze()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            self.child(req, log_fd, ready_w)  # never returns
        os.close(ready_w)
        self.children.add(pid)
        self.pending[ready_r] = (req["id"], pid)
        self.selector.register(ready_r, selectors.EVENT_READ, "ready")
        self.send({"id": req["id"], "pid": pid})

    def child(self, req: dict[str, Any], log_fd: int, ready_w: int) -> None:
        code = 1
        try:
            # A process group, not a session, as a plain launch is
            # (Setpgid): with Linux's autogroup a new session is a new
            # scheduling group, which gets as much CPU as the test binary's
            # whole session however niced the child is. A child that did
            # answered wtt faster than wtt's own write goroutine got back
            # the CPU under load, which is how it met the race pkg/sdkhttp
            # closes far more often than a plain emulator did.
            os.setpgid(0, 0)
            _set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != self.pid:
                os._exit(1)  # the fork server died before prctl
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            self.selector.close()
            self.control.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            for fd in self.pending:
                os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.close(log_fd)
            # The test's environment now, plus what the imports set for
            # themselves (MOTO_IAM_LOAD_MANAGED_POLICIES: a reset rebuilds IAM).
            env = req.get("env") or {}
            for key in self.inherited:
                if key not in env:
                    os.environ.pop(key, None)
            os.environ.update(env)
            if req.get("nice"):
                os.nice(10)  # before any thread: Linux nices one thread at a time
            if "cwd" in req:
                os.chdir(req["cwd"])

            # Every child would otherwise draw the same "random" ids.
            from moto.moto_api._internal import mock_random

            random.seed()
            mock_random.seed()

            import wtt_emulator

            def on_listening(port: int) -> None:
                os.write(ready_w, f"{port}\n".encode())
                os.close(ready_w)

            argv = [str(a) for a in req.get("args") or []]
            sys.argv = [wtt_emulator.__file__, *argv]  # usage and errors name the launcher
            args = wtt_emulator.parse_args(argv)
            code = wtt_emulator.serve(args, app=SeedLikeAFreshEmulator(self.app), on_listening=on_listening)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException:  # noqa: BLE001  (the child must end here, not in the server's loop)
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def listening(self, fd: int) -> None:
        rid, pid = self.pending.pop(fd)
        self.selector.unregister(fd)
        try:
            line = os.read(fd, 64).decode().strip()
        finally:
            os.close(fd)
        if line:
            self.send({"id": rid, "pid": pid, "port": int(line)})
        # else: it exited before listening; its exit message follows

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"exit": pid, "code": os.waitstatus_to_exitcode(status),
                       "cpu": round(usage.ru_utime + usage.ru_stime, 3)})

    def stop_children(self) -> None:
        """SIGTERM every child's process group, SIGKILL what is left after
        STOP_GRACE seconds."""
        import time

        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in list(self.children):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + STOP_GRACE
            while self.children and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.05)
            if not self.children:
                return


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control-fd", type=int, default=CONTROL_FD,
                        help=f"the AF_UNIX SOCK_SEQPACKET socket to serve (default {CONTROL_FD})")
    opts = parser.parse_args(argv)
    start = cpu_seconds()
    try:
        control = socket.socket(fileno=opts.control_fd)
    except OSError as e:
        print(f"wtt fork server: no control socket on fd {opts.control_fd}: {e}", file=sys.stderr)
        return 2
    inherited = dict(os.environ)

    import wtt_emulator

    app = wtt_emulator.prepare()
    import dataplane  # noqa: F401  (every child's option parsing imports it)

    warmed = warm(app)
    server = ForkServer(control, app, inherited)
    server.send({"ready": True, "pid": os.getpid(), "cpu": round(cpu_seconds() - start, 3), "warm": warmed})
    return server.run()


if __name__ == "__main__":
    sys.exit(main())
