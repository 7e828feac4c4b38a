#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""sl_bulk: a bulk TCP transfer whose "completed" means every byte arrived.

  sl_bulk.py serve PORT          answer each connection with the number of bytes read until the
                                 sender's FIN, then close
  sl_bulk.py send IP PORT BYTES  send BYTES, half-close, print "RECEIVED MBIT/S" from the answer

iperf3's own report is taken when the client has *written* its bytes, before the server has read
them all: with -n it can report a fraction of the data of a healthy transfer.
"""
import socket
import sys
import time


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        n = 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            n += len(b)
        c.sendall(b"%d\n" % n)
        c.close()


def send(ip, port, size):
    c = socket.create_connection((ip, port), timeout=30)
    t = time.monotonic()
    c.sendall(b"x" * size)
    c.shutdown(socket.SHUT_WR)
    n = c.makefile().readline().strip() or "0"
    d = max(time.monotonic() - t, 1e-6)
    print(n, int(size * 8 / d / 1e6))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
