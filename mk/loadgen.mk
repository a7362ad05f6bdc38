# loadgen: the HTTP/1.1 load client of the tests, `make demo` and `make bench`
# (loadgen/*.c, a file per job; plain C99 + pthreads, does not link libgracefd).

LOADGEN := $(BUILD)/bin/loadgen

ALL_TARGETS   += $(LOADGEN)
CHECK_TARGETS += check-loadgen

.PHONY: loadgen check-loadgen
loadgen: $(LOADGEN)

LOADGEN_SRC := loadgen/loadgen.c loadgen/common.c loadgen/cli.c loadgen/http.c loadgen/conn.c loadgen/stats.c

$(LOADGEN): $(LOADGEN_SRC) loadgen/common.h
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) -pthread -o $@ $(LOADGEN_SRC)

# Runs loadgen against loadgen/testserver.py in each of its modes.
check-loadgen: $(LOADGEN)
	loadgen/test-loadgen.sh $(LOADGEN)
