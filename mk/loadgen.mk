# loadgen: the HTTP/1.1 load client of the tests, `make demo` and `make bench`
# (loadgen/loadgen.c; plain C99 + pthreads, does not link libgracefd).

LOADGEN := $(BUILD)/bin/loadgen

ALL_TARGETS   += $(LOADGEN)
CHECK_TARGETS += check-loadgen

.PHONY: loadgen check-loadgen
loadgen: $(LOADGEN)

$(LOADGEN): loadgen/loadgen.c
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) -pthread -o $@ $<

# Runs loadgen against loadgen/testserver.py in each of its modes.
check-loadgen: $(LOADGEN)
	loadgen/test-loadgen.sh $(LOADGEN)
