"""The in-sandbox relay: a tiny stdlib program bridging loopback TCP and a Unix socket.

A sandbox has its own network namespace with only ``lo``; the one way out (mode
``validation``) or in (mode ``app``) is a Unix socket in a directory the host binds into the
sandbox. Programs speak TCP, so the sandbox's outer shell starts ``RELAY`` (under the
sandbox's own interpreter, uid, seccomp filter and namespaces) before the code runs:

* ``validation``: ``relay.py tcp PORT unix PATH`` listens on ``127.0.0.1:PORT`` and forwards
  each connection to the host's egress proxy on ``PATH``; ``HTTP(S)_PROXY`` point at it.
* ``app``: ``relay.py unix PATH tcp PORT`` listens on the Unix socket ``PATH`` and forwards
  each connection to the app on ``127.0.0.1:PORT``; the API reverse-proxies to ``PATH``.

The relay binds its listener, then forks: the parent exits 0 (the shell goes on only once
the listener exists) and the child serves, one thread pair per connection, until the sandbox
ends (the pid namespace dies with it). It forwards bytes and nothing else: every policy sits
on the host side of the socket.
"""

from __future__ import annotations

RELAY_PATH = "/run/nexus/relay.py"
EGRESS_DIR = "/run/egress"
EGRESS_SOCKET = f"{EGRESS_DIR}/proxy.sock"
EGRESS_PORT = 3128
APP_DIR = "/run/app"
APP_SOCKET_NAME = "app.sock"
APP_SOCKET = f"{APP_DIR}/{APP_SOCKET_NAME}"
APP_PORT = 8080

RELAY = r"""
import os, socket, sys, threading

def endpoint(kind, where):
    if kind == "tcp":
        return socket.AF_INET, ("127.0.0.1", int(where))
    return socket.AF_UNIX, where

def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def serve(conn, family, address):
    out = socket.socket(family, socket.SOCK_STREAM)
    try:
        out.connect(address)
    except OSError:
        conn.close()
        out.close()
        return
    back = threading.Thread(target=pump, args=(out, conn), daemon=True)
    back.start()
    pump(conn, out)
    back.join()
    conn.close()
    out.close()

def main():
    in_family, in_address = endpoint(sys.argv[1], sys.argv[2])
    out_family, out_address = endpoint(sys.argv[3], sys.argv[4])
    listener = socket.socket(in_family, socket.SOCK_STREAM)
    if in_family == socket.AF_INET:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(in_address)
    if in_family == socket.AF_UNIX:
        os.chmod(in_address, 0o666)
    listener.listen(128)
    if os.fork():
        os._exit(0)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, out_family, out_address), daemon=True).start()

main()
"""


def relay_command(python: str, listen: tuple[str, str], forward: tuple[str, str]) -> str:
    """The shell line that starts the relay (detached from the shell's pipes)."""
    args = " ".join(f"'{part}'" for part in (*listen, *forward))
    return f"'{python}' -S {RELAY_PATH} {args} </dev/null >/dev/null 2>&1 || exit 125"
