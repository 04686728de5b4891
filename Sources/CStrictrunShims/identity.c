// The filter cache's C side (CStrictrunShims.h): a loaded object's build-id, read in memory, and
// the keyring calls glibc has no wrappers for.
#define _GNU_SOURCE
#include "CStrictrunShims.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>

struct build_id_search {
    const void *address;   // NULL: the main program (the first object dl_iterate_phdr reports)
    unsigned char *out;
    size_t capacity;
    long length;           // -1: no object holds the address
};

static int holds(const struct dl_phdr_info *info, const void *address) {
    uintptr_t target = (uintptr_t)address;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && target >= start && target - start < ph->p_memsz) return 1;
    }
    return 0;
}

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data) {
    struct build_id_search *search = data;
    (void)size;
    if (search->address != NULL && !holds(info, search->address)) return 0;
    search->length = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        // Notes are padded to 4 bytes, or to 8 in a segment aligned to 8 (.note.gnu.property).
        size_t align = ph->p_align == 8 ? 8 : 4;
        const unsigned char *note = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)note;
            size_t name = (header->n_namesz + align - 1) & ~(align - 1);
            size_t desc = (header->n_descsz + align - 1) & ~(align - 1);
            size_t total = sizeof(*header) + name + desc;
            if (total > left || name < header->n_namesz || desc < header->n_descsz) break;
            if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 &&
                memcmp(note + sizeof(*header), "GNU", 4) == 0) {
                size_t n = header->n_descsz < search->capacity ? header->n_descsz : search->capacity;
                memcpy(search->out, note + sizeof(*header) + name, n);
                search->length = (long)header->n_descsz;
                return 1;
            }
            note += total;
            left -= total;
        }
    }
    return 1;
}

long strictrun_build_id(const void *address, unsigned char *out, size_t capacity) {
    struct build_id_search search = {address, out, capacity, -1};
    dl_iterate_phdr(find_build_id, &search);
    return search.length;
}

long strictrun_add_key(const char *type, const char *description, const void *payload, size_t length,
                       int32_t keyring) {
    return syscall(SYS_add_key, type, description, payload, length, keyring);
}

long strictrun_keyctl_search(int32_t keyring, const char *type, const char *description) {
    return syscall(SYS_keyctl, KEYCTL_SEARCH, keyring, type, description, 0);
}

long strictrun_keyctl_read(int32_t key, void *buffer, size_t length) {
    return syscall(SYS_keyctl, KEYCTL_READ, key, buffer, length);
}

long strictrun_keyctl_setperm(int32_t key, uint32_t permissions) {
    return syscall(SYS_keyctl, KEYCTL_SETPERM, key, permissions);
}
