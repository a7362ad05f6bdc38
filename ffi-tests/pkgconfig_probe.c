/* Built by `make check` with nothing but `pkg-config --cflags --libs gracefd`
 * against an installed copy: proves the installed archive, header and .pc work. */
#include <gracefd.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (gracefd_version_number() != GRACEFD_VERSION_NUMBER) return 1;
    printf("gracefd %s\n", gracefd_version_string());
    return strcmp(gracefd_version_string(), GRACEFD_VERSION_STRING) != 0;
}
