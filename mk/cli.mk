# The gracefd command: the start_server symlink, and the CLI tests
# (cli-tests/test_cli.py) against workers nobody here wrote: a Perl worker
# using Server::Starter's server_ports() (Debian libserver-starter-perl) and
# a C worker using libsystemd's sd_listen_fds_with_names() (libsystemd-dev,
# pkg-config). A missing one fails the check; it is never skipped.
# cli-tests/test_deploy.py also needs util-linux (unshare,
# setpriv), root, and gunicorn (pip install gunicorn / python3-gunicorn).

START_SERVER_LINK := $(BUILD)/bin/start_server
CLI_SD_WORKER     := $(BUILD)/bin/cli-sd-worker

ALL_TARGETS   += $(START_SERVER_LINK)
CHECK_TARGETS += check-cli

.PHONY: check-cli install-start-server

# Relative, so the pair can be moved or installed together.
$(START_SERVER_LINK): $(BUILD)/bin/gracefd
	ln -sfn gracefd $@

# Linked with libsystemd only: it must not know gracefd.
$(CLI_SD_WORKER): cli-tests/sd_worker.c
	@mkdir -p $(@D)
	@pkg-config --exists libsystemd || { echo "libsystemd-dev (and pkg-config) are needed: apt-get install libsystemd-dev pkg-config"; exit 1; }
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< $$(pkg-config --cflags --libs libsystemd)

check-cli: $(BUILD)/bin/gracefd $(START_SERVER_LINK) $(BUILD)/bin/httpd $(BUILD)/bin/loadgen $(CLI_SD_WORKER)
	@perl -MServer::Starter=server_ports -e1 || { echo "check-cli: Server::Starter is missing (apt-get install libserver-starter-perl)"; exit 1; }
	python3 cli-tests/test_cli.py $(abspath $(BUILD)/bin)
	@python3 -c 'import gunicorn' || { echo "check-cli: gunicorn is missing (pip install gunicorn, or apt-get install python3-gunicorn)"; exit 1; }
	python3 cli-tests/test_deploy.py $(abspath $(BUILD)/bin)

install: install-start-server
install-start-server:
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sfn gracefd $(DESTDIR)$(PREFIX)/bin/start_server
