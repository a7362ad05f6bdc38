#!/usr/bin/env python3
"""Print a TCP port on 127.0.0.1 that is free right now (bind to port 0)."""
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
