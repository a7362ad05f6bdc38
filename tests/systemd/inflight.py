#!/usr/bin/env python3
"""A request in flight across a stop: connect, send the first half of a GET,
write "sent" to STATE_FILE, wait HOLD seconds, send the rest, and write the
status line of the answer (or the error) to STATE_FILE.

usage: inflight.py HOST PORT STATE_FILE HOLD_SECONDS
"""
import socket
import sys
import time

host, port, state, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])


def say(text):
    with open(state + ".tmp", "w") as f:
        f.write(text + "\n")
    import os
    os.rename(state + ".tmp", state)


try:
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)  # accepted and read by the server
    say("sent")
    time.sleep(hold)
    s.sendall(b"Connection: close\r\n\r\n")
    data = b""
    while True:
        c = s.recv(4096)
        if not c:
            break
        data += c
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    say("answer " + (line or "EOF (no answer)"))
except OSError as e:
    say("error %s" % e)
