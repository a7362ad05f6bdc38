# The C harness and the C examples under AddressSanitizer + UBSan, and under
# valgrind. (The Rust archive itself is not instrumented; what is checked is
# every byte the C side hands it and gets back, and the C programs' own use.)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_DIR   := $(BUILD)/asan

$(ASAN_DIR)/ffi-tests: $(FFI_TEST_SRC) $(FFI_TEST_HDR) include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O1 -g $(ASAN_FLAGS) $(CPPFLAGS) -DCARGO_VERSION='"$(VERSION)"' -o $@ $(FFI_TEST_SRC) $(LDLIBS_GRACEFD)

$(ASAN_DIR)/%: c-examples/%.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O1 -g $(ASAN_FLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS_GRACEFD)

.PHONY: check-asan check-valgrind
check-asan: $(ASAN_DIR)/ffi-tests $(ASAN_DIR)/httpd $(BUILD)/bin/loadgen
	@nm $(ASAN_DIR)/ffi-tests | grep -q ' __asan_init' || { echo "check-asan: AddressSanitizer is not linked"; exit 1; }
	@nm $(ASAN_DIR)/ffi-tests | grep -q '__ubsan_handle' || { echo "check-asan: UBSan is not linked"; exit 1; }
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(ASAN_DIR)/ffi-tests
	ASAN_OPTIONS=detect_leaks=1 BIN=$(ASAN_DIR) UPGRADES=10 tools/demo.sh

check-valgrind: $(BUILD)/bin/ffi-tests
	tools/check-valgrind.sh
CHECK_TARGETS += check-asan check-valgrind
