# Connection pass (zero-drain upgrades): httpd --pass-connections (and the
# Rust tokio-httpd --pass-connections) upgraded
# under long-lived keep-alive load: 0 failed requests, 0 reconnects. (The C
# tests are ffi-tests/t_conns_*.c, run by check-ffi.)
check-zero-drain: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen target/debug/examples/tokio-httpd
	tools/test-zero-drain.sh
	SERVER=target/debug/examples/tokio-httpd tools/test-zero-drain.sh
CHECK_TARGETS += check-zero-drain
