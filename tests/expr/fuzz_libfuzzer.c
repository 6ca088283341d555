/* libFuzzer entry (LOCKSTEP_FUZZ=ON with clang): see fuzz_one.c. */
#include "fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    ls_fuzz_one(data, len);
    return 0;
}
