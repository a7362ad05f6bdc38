# Zero-downtime upgrade: the demo (a server upgraded under load).
demo: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/demo.sh
