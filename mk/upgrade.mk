# Zero-downtime upgrade: the demo (a server upgraded under load), after its
# prerequisites (prereqs-demo in the Makefile).
.PHONY: demo-run
demo: prereqs-demo
	@$(MAKE) --no-print-directory demo-run
demo-run: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/demo.sh

# 100 upgrades under keep-alive load, and every failure of a new generation
# under load: zero failed requests, a clear error, no zombie.
check-upgrade-load: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/test-upgrade-load.sh
CHECK_TARGETS += check-upgrade-load

# Fault injection under load: a signal storm, EMFILE, NOTIFY_SOCKET nowhere.
check-faults: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/test-faults.sh
CHECK_TARGETS += check-faults
soak: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/soak.sh

# The pid file on a read-only and on a full filesystem (mounts a small tmpfs).
check-pidfile-fs: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/test-pidfile-fs.sh
CHECK_TARGETS += check-pidfile-fs
