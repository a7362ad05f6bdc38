# Hand-off between unrelated processes (issue 7).
#
# The C tests live in ffi-tests/t_handoff.c (run by check-ffi). Until the
# real registry lands they use the interim declarations in
# c-examples/gracefd_interim.h, so the test binary depends on it.
$(BUILD)/bin/ffi-tests: c-examples/gracefd_interim.h

.PHONY: check-handoff-demo
CHECK_TARGETS += check-handoff-demo

# The compiled example run as a supervisor would: three instances, each
# taking the listener of the one before, under a client loop: zero failures.
check-handoff-demo: $(BUILD)/bin/handoff-demo
	tools/test-handoff-demo.sh $(BUILD)/bin/handoff-demo
