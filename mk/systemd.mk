# Real service managers: `gracefd stop`/`gracefd reload` (the
# commands the units in deploy/systemd use), the units under systemd as PID 1
# of a container (tests/systemd/), and supervisord (tests/supervisord/).
# See docs/systemd.md.

.PHONY: check-signal-cmd
CHECK_TARGETS += check-signal-cmd

check-signal-cmd: $(BUILD)/bin/gracefd $(BUILD)/bin/httpd
	python3 cli-tests/test_signal_cmd.py $(abspath $(BUILD)/bin)

# systemd as PID 1 of containers (systemd-nspawn): the host's systemd and a
# cached Debian 13 rootfs (systemd 257, built once by tests/systemd/rootfs.sh
# outside the repository). Root, systemd-container and mmdebstrap needed.
.PHONY: check-systemd systemd-rootfs
CHECK_TARGETS += check-systemd

systemd-rootfs:
	tests/systemd/rootfs.sh

check-systemd: $(BUILD)/bin/gracefd $(BUILD)/bin/httpd $(BUILD)/bin/loadgen $(GO_HTTPD) systemd-rootfs
	tests/systemd/run.sh host trixie

# supervisord (Debian package supervisor), started by the test as an ordinary
# process with its own configuration in a temporary directory.
.PHONY: check-supervisord
CHECK_TARGETS += check-supervisord

check-supervisord: $(BUILD)/bin/gracefd $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	python3 tests/supervisord/test_supervisord.py $(abspath $(BUILD)/bin)
