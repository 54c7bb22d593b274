/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vmctl restore's parts that need no systemd: a state file copied into a VM's state directory so that
 * vmm, which opens no path but its own state directory, finds it there at its next start; and vmm's
 * reason for a failed start, read back from the journal. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Called after each piece copied; done reaches total at the end. */
typedef void (*CopyProgress)(uint64_t done, uint64_t total, void *userdata);

/* Copies the regular file src_fd (from its start, whatever its offset) to name in dir_fd so that name
 * appears complete or not at all, also across a crash: an O_TMPFILE file in dir_fd (a named
 * ".#NAME.XXXXXXXX" where the file system has none), filled by FICLONE where the file system can share
 * the blocks, else by copy_file_range() (pread/pwrite where that fails) of the source's data only, so
 * that holes stay holes; owned by uid:gid, mode 0600, fsync()ed, then linked as name, which is never
 * replaced (-EEXIST if it exists), and the directory fsync()ed. The copy is a file of its own, never a
 * link to src: a later change of src cannot reach a VM that runs from the copy. Fills *ret_st with the
 * copy's stat, for telling it apart later. Logs (label names src); returns 0 or a negative errno. */
int state_file_copy(int src_fd, int dir_fd, const char *name, uid_t uid, gid_t gid, const char *label,
                    CopyProgress progress, void *userdata, struct stat *ret_st);

/* The first error (PRIORITY <= 3) that vmm logged for VM name at or after since_usec (CLOCK_REALTIME),
 * waiting up to timeout_usec for journald to store it: entries with VM=name from vmm, or from
 * vm@name.service. 0 and *ret set (the MESSAGE) if there is one, -ENOENT if none came in time, or
 * another negative errno if the journal cannot be read. Does not log. */
int journal_vm_error(const char *name, uint64_t since_usec, uint64_t timeout_usec, char **ret);
