// Compiled (not run) by `make check`: the header must be valid C++.
#include "gracefd.h"

extern "C" int gracefd_cpp_probe(void);
int gracefd_cpp_probe(void) { return static_cast<int>(gracefd_version_number()) + GRACEFD_VERSION_NUMBER; }
