/* One fuzz input through every parser of the expression modules. */
#ifndef LS_FUZZ_ONE_H
#define LS_FUZZ_ONE_H
#include <stddef.h>
#include <stdint.h>
void ls_fuzz_one(const uint8_t *data, size_t len);
#endif
