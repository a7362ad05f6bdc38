#!/bin/sh
# A new generation that takes a while to come up (as a server loading a big
# configuration does): the upgrade executable of the slow-reload test. It
# sleeps, then becomes the server with the same arguments and environment.
sleep 0.5
exec /opt/gracefd/build/bin/httpd "$@"
