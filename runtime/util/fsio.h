/* fsio.h - file I/O that survives EINTR, short writes and crashes.
 *
 * These are the only ways spool writes files. Every function returns 0 (or a byte
 * count) on success and -errno on failure, so that callers can tell ENOSPC (pause and
 * retry later) from EIO (stop: see research/reliability.md, A5). No function here ever
 * retries an fsync: after a failed fsync the kernel may have dropped the dirty pages,
 * and a second fsync that succeeds proves nothing.
 *
 * Durability recipe (rules 2 and 3 of reliability.md A5): a new file or directory is
 * durable only after an fsync of its parent directory; metadata is replaced by writing
 * a temporary file, fsync, rename, fsync of the directory.
 *
 * Threads: safe from any thread; callers serialise writers of the same path.
 */
#ifndef SPOOL_UTIL_FSIO_H
#define SPOOL_UTIL_FSIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes at the file position, looping on EINTR and short writes. */
int util_write_all(int fd, const void *buf, size_t len);

/* Writes all len bytes at off, looping on EINTR and short writes. */
int util_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Reads up to len bytes at off, looping on EINTR and short reads; returns the number
 * of bytes read (less than len only at end of file) or -errno. len must fit in ssize_t. */
ssize_t util_pread_all(int fd, void *buf, size_t len, off_t off);

/* fsync()s the directory dir, making the names in it durable. */
int util_fsync_dir(const char *dir);

/* fsync()s the directory holding path (its dirname). */
int util_fsync_parent(const char *path);

/* Replaces path with buf durably: writes path.tmp, fsyncs it, renames it over path and
 * fsyncs the directory. After a crash path holds the old or the new contents, never a
 * mix. On failure the temporary file is removed and path is unchanged, so ENOSPC means
 * "nothing happened", except when the final directory fsync fails: the rename may or
 * may not survive a crash, so that failure is reported as -EIO whatever its errno. */
int util_atomic_replace_file(const char *path, const void *buf, size_t len);

/* Replaces path with buf by write temp + rename, without any fsync: atomic against a
 * process crash, not against a machine crash (for the log's interval and none
 * durability modes, whose risk is documented). */
int util_replace_file_nosync(const char *path, const void *buf, size_t len);

/* Creates dir and every missing parent (mode 0755 masked by umask), fsyncing each
 * parent after creating a child in it. Succeeds when dir already exists as a directory. */
int util_mkdir_p(const char *dir);

/* Reads a whole regular file into a malloc'd buffer (*buf, caller frees; NUL-terminated
 * one byte past *len for convenience). -ENOENT when absent, -EFBIG when larger than max. */
int util_read_file(const char *path, size_t max, void **buf, size_t *len);

#endif /* SPOOL_UTIL_FSIO_H */
