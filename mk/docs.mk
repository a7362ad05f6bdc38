# The front door and the documentation: the prerequisite script's own test.

.PHONY: check-prereqs
CHECK_TARGETS += check-prereqs

# tools/prereqs.sh against stub dpkg-query/apt-get/id/cargo/go: reports every
# missing thing at once, installs with one apt-get call as root, else nothing.
check-prereqs:
	tools/test-prereqs.sh
