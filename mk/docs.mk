# The front door and the documentation: the prerequisite script's test, the
# C API's man pages, the README's code blocks, and the test map.

MAN_DIR := $(BUILD)/man/man3
MAN_INDEX := $(MAN_DIR)/gracefd.3

.PHONY: man install-man check-prereqs check-man check-readme check-test-map
ALL_TARGETS   += $(MAN_INDEX)
CHECK_TARGETS += check-prereqs check-man check-readme check-test-map

# One page per function family, written from the header's doc comments
# (which cbindgen writes from src/ffi), and an alias page per function.
man: $(MAN_INDEX)
$(MAN_INDEX): include/gracefd.h tools/gen-man.py
	python3 tools/gen-man.py include/gracefd.h $(MAN_DIR)

install: install-man
install-man: $(MAN_INDEX)
	install -d $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 0644 $(MAN_DIR)/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/

# tools/prereqs.sh against stub dpkg-query/apt-get/id/cargo/go: reports every
# missing thing at once, installs with one apt-get call as root, else nothing.
check-prereqs:
	tools/test-prereqs.sh

# Every page renders with `man -l` without a groff warning; every public
# function is documented in a family page.
check-man:
	tools/check-man.sh

# The README's (and docs') code blocks marked `build`/`run` build and run.
check-readme: $(LIB) $(BUILD)/bin/gracefd $(BUILD)/bin/httpd
	CC="$(CC)" CARGO="$(CARGO)" GO="$(GO)" python3 tools/check-readme.py

# docs/testing.md names every test file in the tree.
check-test-map:
	python3 tools/check-test-map.py
