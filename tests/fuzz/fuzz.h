/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The libFuzzer entry point that every fuzz-*.c defines. Built either with -fsanitize=fuzzer (meson
 * -Dfuzz=true with clang) or with fuzz-main.c, a standalone driver, as a unit test. */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
