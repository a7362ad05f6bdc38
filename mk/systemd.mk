# Real service managers (issue 16): `gracefd stop`/`gracefd reload` (the
# commands the units in deploy/systemd use), the units under systemd as PID 1
# of a container (tests/systemd/), and supervisord (tests/supervisord/).
# See docs/systemd.md.

.PHONY: check-signal-cmd
CHECK_TARGETS += check-signal-cmd

check-signal-cmd: $(BUILD)/bin/gracefd $(BUILD)/bin/httpd
	python3 cli-tests/test_signal_cmd.py $(abspath $(BUILD)/bin)
