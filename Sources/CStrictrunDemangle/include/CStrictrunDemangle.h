// C++ demangling through abi::__cxa_demangle (the only C++ in strictrun).
#ifndef CSTRICTRUN_DEMANGLE_H
#define CSTRICTRUN_DEMANGLE_H
#ifdef __cplusplus
extern "C" {
#endif
/// Demangle an Itanium C++ symbol. Returns a malloc'd string the caller frees, or NULL
/// when `mangled` is not a C++ name.
char *strictrun_cxa_demangle(const char *mangled);
#ifdef __cplusplus
}
#endif
#endif
