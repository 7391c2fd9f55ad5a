/* powerloss.c: an LD_PRELOAD shim for the power-loss test (test_powerloss.py).
 *
 * A power cut leaves of each file what its last fsync made durable.  For every file the
 * process syncs under $POWERLOSS_DATA, the shim keeps that durable image in
 * $POWERLOSS_IMAGE: when the file is synced (fsync or fdatasync, which is what SQLite
 * calls), its whole content, as written so far, is copied to the image file of the same
 * name, through a temporary file and a rename so that the image changes atomically even
 * when the process is killed meanwhile.  Directory changes are made durable by the next
 * sync of any file, as a journaling file system (ext4's ordered mode) commits metadata
 * in order: a file appears in the image when it is first synced, and a file unlinked
 * leaves the image at the next sync.  So at any moment the image directory is the disk
 * as a power cut at that moment would leave it, under the model that unsynced writes
 * are lost (the strict case of "any subset of them may be lost").
 *
 * Only fsync, fdatasync and unlink are intercepted; the file a descriptor names is read
 * from /proc/self/fd.  Built by `make check` only, never part of the server. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Most unlinks waiting for the next sync; SQLite unlinks one journal at a time. */
#define MAX_PENDING 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char pending[MAX_PENDING][NAME_MAX + 1]; /* names unlinked since the last sync */
static int npending;

/* Whether path names a file directly in the data directory (both resolved, so that a
 * symbolic link on the way does not matter); its base name is then copied to name. */
static int data_file(const char *path, char name[NAME_MAX + 1])
{
    const char *data = getenv("POWERLOSS_DATA"), *slash = strrchr(path, '/');
    char dir[PATH_MAX], real_dir[PATH_MAX], real_data[PATH_MAX];

    if (!data || !getenv("POWERLOSS_IMAGE") || !slash || slash == path ||
        (size_t)(slash - path) >= sizeof(dir) || strlen(slash + 1) > NAME_MAX)
        return 0;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (!realpath(dir, real_dir) || !realpath(data, real_data) || strcmp(real_dir, real_data) != 0)
        return 0;
    strcpy(name, slash + 1);
    return 1;
}

/* Copies the content of fd (the file at path) to the image of path's base name.  Any
 * failure aborts: an image that silently stopped following the file would make the
 * test pass for the wrong reason. */
static void copy_to_image(int fd, const char *image_dir, const char *name)
{
    char tmp[PATH_MAX], dst[PATH_MAX], buf[65536];
    struct stat sb;
    off_t at = 0;
    int out;

    if (fstat(fd, &sb) != 0)
        abort();
    snprintf(dst, sizeof(dst), "%s/%s", image_dir, name);
    snprintf(tmp, sizeof(tmp), "%s/%s.powerloss-tmp", image_dir, name);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0)
        abort();
    while (at < sb.st_size) {
        ssize_t n = pread(fd, buf, sizeof(buf), at);

        if (n <= 0 || write(out, buf, (size_t)n) != n)
            abort();
        at += n;
    }
    if (close(out) != 0 || rename(tmp, dst) != 0)
        abort();
}

/* After a successful sync of fd: makes the unlinks since the last sync durable, and
 * updates fd's image when it is a file of the data directory. */
static void synced(int fd)
{
    const char *image = getenv("POWERLOSS_IMAGE");
    char link[64], path[PATH_MAX], name[NAME_MAX + 1];
    int ours;
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return;
    path[n] = '\0';
    /* A sync of the directory itself has no content to keep. */
    ours = data_file(path, name);
    pthread_mutex_lock(&lock);
    for (int i = 0; image && i < npending; i++) {
        char gone[PATH_MAX];

        snprintf(gone, sizeof(gone), "%s/%s", image, pending[i]);
        remove(gone);
    }
    npending = 0;
    if (ours)
        copy_to_image(fd, image, name);
    pthread_mutex_unlock(&lock);
}

int unlink(const char *path)
{
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    char name[NAME_MAX + 1];
    int rc = real(path);

    if (rc == 0 && data_file(path, name)) {
        pthread_mutex_lock(&lock);
        if (npending == MAX_PENDING)
            abort();
        strcpy(pending[npending++], name);
        pthread_mutex_unlock(&lock);
    }
    return rc;
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int rc = real(fd);

    if (rc == 0)
        synced(fd);
    return rc;
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);

    if (rc == 0)
        synced(fd);
    return rc;
}
