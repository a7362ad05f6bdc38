# pkg-config files for libgracefd: build/pkgconfig/gracefd.pc for building
# against this tree with nothing installed (it names include/ and build/lib
# here), and the one `make install` writes under $(PREFIX)/lib/pkgconfig.
#
# Both carry build_id, a hash of libgracefd.a, gracefd.h and where they are
# (`pkg-config --variable=build_id gracefd`; the same library installed under
# another prefix links from another -L, so it is another build), for build caches that do not
# look at the library itself. Go's is one: it keys a cgo package on its #cgo
# lines and the CGO_* environment variables, but NOT on what pkg-config
# prints (go1.26, cmd/go/internal/work buildActionID), and never on the
# archive behind -lgracefd. So mk/go.mk sets
# CGO_CPPFLAGS=-DGRACEFD_BUILD_ID=<build_id> (docs/go.md tells users to do
# the same): a rebuilt or reinstalled library changes it, and a plain
# `go build` recompiles and relinks.

GRACEFD_PC := $(BUILD)/pkgconfig/gracefd.pc
# Evaluated when a recipe runs, after $(LIB) is built.
# $(call gracefd_build_id,PREFIX)
gracefd_build_id = $(shell { cat $(LIB) include/gracefd.h; echo '$(1)'; } | sha256sum | cut -c1-16)

# $(call gracefd_pc,PREFIX,LIBDIR,INCLUDEDIR): gracefd.pc.in filled in, on stdout.
gracefd_pc = sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(2)|' -e 's|@INCLUDEDIR@|$(3)|' \
  -e 's|@VERSION@|$(VERSION)|' -e 's|@BUILD_ID@|$(call gracefd_build_id,$(1))|' gracefd.pc.in

$(GRACEFD_PC): gracefd.pc.in $(LIB) include/gracefd.h
	@mkdir -p $(@D)
	$(call gracefd_pc,$(abspath .),$${prefix}/build/lib,$${prefix}/include) >$@.tmp
	mv $@.tmp $@

ALL_TARGETS += $(GRACEFD_PC)
