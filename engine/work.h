/*
 * Work counters for the linearity tests.  A test compiles the engine files
 * it checks once more with -DLS_WORK_COUNT and reads ls_work to see how the
 * work of a step (key comparisons, bytes scanned) grows with its input:
 * 4 times the keys must cost about 4 times the work, not 16 times
 * (tests/load/linear_test.c).  In the engine the counter does not exist
 * and LS_WORK costs nothing.
 */
#ifndef LS_WORK_H
#define LS_WORK_H

#ifdef LS_WORK_COUNT
extern unsigned long long ls_work;
#define LS_WORK(n) (ls_work += (unsigned long long)(n))
#else
#define LS_WORK(n) ((void)0)
#endif

#endif
