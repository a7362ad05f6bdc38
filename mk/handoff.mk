# Hand-off between unrelated processes (issue 7).
#
# The C tests live in ffi-tests/t_handoff.c (run by check-ffi). Until the
# real registry lands they use the interim declarations in
# c-examples/gracefd_interim.h, so the test binary depends on it.
$(BUILD)/bin/ffi-tests: c-examples/gracefd_interim.h
