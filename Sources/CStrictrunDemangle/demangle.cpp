#include "CStrictrunDemangle.h"
#include <cxxabi.h>
#include <cstdlib>

extern "C" char *strictrun_cxa_demangle(const char *mangled) {
    int status = 0;
    char *out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    if (status != 0) {
        std::free(out);
        return nullptr;
    }
    return out;
}
