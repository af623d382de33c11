// FUZZ_CHECK: an invariant a fuzz target asserts about the code under test. Unlike assert() it
// stays on in every build type, and it names the failed condition before aborting, so libFuzzer
// saves the input that broke it.
#pragma once

#include <cstdlib>

#define FUZZ_CHECK(c)                                                      \
  do {                                                                     \
    if (!(c)) {                                                            \
      __builtin_printf("invariant failed: %s (line %d)\n", #c, __LINE__); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)
