/*
 * escape_keyring.c — adversarial: the program reaches for the kernel's keyrings, where strictrun
 * keeps the secret that authenticates its filter cache: a program that could read it could seal a
 * weaker filter for the next run. It looks strictrun's key up in the user keyring
 * (keyctl KEYCTL_SEARCH), asks for it (request_key), reads the user keyring (KEYCTL_READ), and
 * adds a key of its own (add_key). strictrun refuses each (EACCES, escape/keyring) in every
 * profile and every mode; a microkernel target has no keyrings at all.
 * Expected: every keyring op errno=EACCES everywhere.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common.h"

#define KEY_SPEC_USER_KEYRING (-4)
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11

int main(void)
{
    examples_init();
    const char *ops[] = {"keyring-search", "keyring-request", "keyring-read", "keyring-add"};
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
        expect(ops[i], "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");

    result_rc("keyring-search", syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user",
                                        "strictrun:filter-cache", 0));
    result_rc("keyring-request", syscall(SYS_request_key, "user", "strictrun:filter-cache", NULL, 0));
    char buffer[256];
    result_rc("keyring-read", syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_USER_KEYRING, buffer, sizeof buffer));
    static const char payload[] = "forged";
    result_rc("keyring-add", syscall(SYS_add_key, "user", "strictrun:filter-cache", payload, sizeof payload - 1,
                                     KEY_SPEC_USER_KEYRING));
    return 0;
}
