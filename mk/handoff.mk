# Hand-off between unrelated processes.
#
# The C tests live in ffi-tests/t_handoff_*.c (run by check-ffi).

.PHONY: check-handoff-demo
CHECK_TARGETS += check-handoff-demo

# The compiled example run as a supervisor would: three instances, each
# taking the listener of the one before, under a client loop: zero failures.
check-handoff-demo: $(BUILD)/bin/handoff-demo
	tools/test-handoff-demo.sh $(BUILD)/bin/handoff-demo

# Hand-off under load with the example server and the load client: a new,
# unrelated process takes over from the serving one, with zero failed requests.
.PHONY: check-handoff-load
CHECK_TARGETS += check-handoff-load
check-handoff-load: $(BUILD)/bin/httpd $(BUILD)/bin/loadgen
	tools/test-handoff-load.sh 10 8

# Benchmark (not a test): hand-off time for 1, 100 and 10,000 fds.
.PHONY: bench-handoff
bench: bench-handoff
ALL_TARGETS += $(BUILD)/bin/handoff-bench
bench-handoff: $(BUILD)/bin/handoff-bench
	$(BUILD)/bin/handoff-bench $(BENCH_RUNS)

$(BUILD)/bin/handoff-bench: bench/handoff-bench.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS_GRACEFD)
