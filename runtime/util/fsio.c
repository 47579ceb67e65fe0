/* fsio.c - file I/O that survives EINTR, short writes and crashes.
 *
 * Write loops treat a zero-byte write as an error (-EIO) rather than spinning: a
 * regular file only does that when something is badly wrong. fsync is called exactly
 * once per request and its failure is passed up unretried (fsyncgate, reliability.md A5).
 */
#include "util/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int util_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int util_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t util_pread_all(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int util_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

int util_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL)
        return util_fsync_dir(".");
    n = (size_t)(slash - path);
    if (n == 0)
        return util_fsync_dir("/");
    if (n >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return util_fsync_dir(dir);
}

int util_atomic_replace_file(const char *path, const void *buf, size_t len)
{
    char tmp[PATH_MAX];
    int fd = -1;
    int rc = 0;
    int renamed = 0;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = util_write_all(fd, buf, len);
    if (rc != 0)
        goto out;
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        goto out;
    }
    renamed = 1;
    /* Past the rename the old contents may be gone: no errno here means "unchanged". */
    if (util_fsync_parent(path) != 0)
        rc = -EIO;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && !renamed)
        unlink(tmp);
    return rc;
}

int util_replace_file_nosync(const char *path, const void *buf, size_t len)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    rc = util_write_all(fd, buf, len);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int util_mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    struct stat st;

    if (n == 0)
        return -EINVAL;
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';

    /* Walk forward, creating each missing component; a component that we create is
     * only durable once its parent is fsynced, so do that right away. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) == 0) {
            int rc = util_fsync_parent(buf);
            if (rc != 0)
                return rc;
        } else if (errno != EEXIST) {
            return -errno;
        }
        buf[i] = saved;
    }
    if (stat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

int util_read_file(const char *path, size_t max, void **buf, size_t *len)
{
    int fd = -1;
    int rc = 0;
    char *data = NULL;
    struct stat st;
    ssize_t got;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        rc = -EFBIG;
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    got = util_pread_all(fd, data, (size_t)st.st_size, 0);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    data[got] = '\0';
    *buf = data;
    *len = (size_t)got;
    data = NULL;
out:
    free(data);
    if (fd >= 0)
        close(fd);
    return rc;
}
