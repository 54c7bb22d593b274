/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "core/vm.h"

extern const VmArch x86_vm_arch;
