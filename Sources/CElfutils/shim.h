// CElfutils: elfutils' libdw / libdwfl / libelf for StrictrunStacks.
// No _GNU_SOURCE here: defining it changes glibc's fd_set (fds_bits vs __fds_bits) and the
// module then clashes with SwiftGlibc. libdwfl.h and gelf.h need nothing beyond the defaults.
#include <elfutils/libdwfl.h>
#include <elfutils/libdw.h>
#include <libelf.h>
#include <gelf.h>
