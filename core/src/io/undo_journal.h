// In-place writes to an HDF5 file that a kill at any instant cannot damage: an HDF5 virtual file
// driver (POSIX pread/pwrite) that, before it first overwrites any byte range below the file's
// length at open, appends the range's original bytes to an undo journal beside the file
// (".<file>.undo", created with the length at open before HDF5 writes anything; each record
// synced before its overwrite and checked by a checksum) and never shrinks the file below that length.
// Bytes past the old end (new datasets, new metadata) are written directly. After the file is
// closed, commit_undo_journal removes the journal: that removal is the commit. A journal found
// later (the writer was killed, or gave up) is rolled back by roll_back_undo_journal: the
// journaled bytes are restored and the file truncated to its old length, so it is again exactly
// what it was before the update. A journal record torn by the kill is ignored (its overwrite
// had not started). This is what lets a project grow in place (issue 15, part 5); the design is
// Bitscape's own (the POSIX driver structure follows HDF5's documented VFD interface for 1.10).
// Internal to core (HDF5-facing).
#pragma once

#include <hdf5.h>

#include <string>

namespace bitscape::detail {

// Selects the journaling driver on a file access property list (other settings kept).
void use_undo_journal(hid_t fapl);
// A file access property list (the caller closes it) whose driver journals in-place writes.
hid_t undo_journal_fapl();
std::string undo_journal_path(const std::string& file);
// Removes the journal of a completed update (the file closed and synced: H5Fclose returned).
// Throws InputError when it cannot.
void commit_undo_journal(const std::string& file);
// Restores the file from its journal when one exists (false when none). Throws InputError when
// the file cannot be restored.
bool roll_back_undo_journal(const std::string& file);

// Test hook: the process exits (_exit(9)) in the middle of its k-th in-place write, after half
// the bytes, as a kill would leave it; 0 (the default) disables it.
void set_undo_journal_crash_after(int k);
// In-place writes (below the length at open) made by this process, for tests and benches.
long undo_journal_in_place_writes();

}  // namespace bitscape::detail
