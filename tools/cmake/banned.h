/* Force-included into every lockstep source: these calls do not compile. */
#ifndef LOCKSTEP_BANNED_H
#define LOCKSTEP_BANNED_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#undef strcpy
#define strcpy(a, b) LOCKSTEP_BANNED_use_memcpy_or_snprintf
#undef strcat
#define strcat(a, b) LOCKSTEP_BANNED_use_ls_buf
#undef sprintf
#define sprintf(...) LOCKSTEP_BANNED_use_snprintf
#undef vsprintf
#define vsprintf(...) LOCKSTEP_BANNED_use_vsnprintf
#undef gets
#define gets(a) LOCKSTEP_BANNED_use_fgets
#undef atoi
#define atoi(a) LOCKSTEP_BANNED_use_strtol
#undef atol
#define atol(a) LOCKSTEP_BANNED_use_strtol
#undef strtok
#define strtok(a, b) LOCKSTEP_BANNED_use_strtok_r
#endif
