# sd_notify: the interop test against libsystemd (code nobody here wrote).
# It needs libsystemd's development files (Debian libsystemd-dev); without
# them the build fails with that message: the test is never skipped.

NOTIFY_INTEROP := $(BUILD)/bin/notify-interop

.PHONY: check-notify-interop
CHECK_TARGETS += check-notify-interop

$(NOTIFY_INTEROP): ffi-tests/interop_notify.c ffi-tests/harness.c $(FFI_TEST_HDR) include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	@sd=$$(pkg-config --cflags --libs libsystemd) || { \
	  echo "notify-interop: pkg-config cannot find libsystemd; install libsystemd-dev (this test is required, not optional)"; exit 1; }; \
	echo "$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ ffi-tests/interop_notify.c ffi-tests/harness.c $(LDLIBS_GRACEFD) $$sd"; \
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ ffi-tests/interop_notify.c ffi-tests/harness.c $(LDLIBS_GRACEFD) $$sd

check-notify-interop: $(NOTIFY_INTEROP)
	$(NOTIFY_INTEROP)
