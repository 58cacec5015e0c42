/* Names for Xen errno values, for diagnostics. */
#include <stddef.h>
#include <pvsim/xen_errno.h>

struct errno_name {
    unsigned char value;
    char name[14];
};

static const struct errno_name table[] = {
    { XEN_EPERM, "EPERM" },       { XEN_ENOENT, "ENOENT" },
    { XEN_ESRCH, "ESRCH" },       { XEN_EINTR, "EINTR" },
    { XEN_EIO, "EIO" },           { XEN_ENXIO, "ENXIO" },
    { XEN_E2BIG, "E2BIG" },       { XEN_ENOEXEC, "ENOEXEC" },
    { XEN_EBADF, "EBADF" },       { XEN_ECHILD, "ECHILD" },
    { XEN_EAGAIN, "EAGAIN" },     { XEN_ENOMEM, "ENOMEM" },
    { XEN_EACCES, "EACCES" },     { XEN_EFAULT, "EFAULT" },
    { XEN_EBUSY, "EBUSY" },       { XEN_EEXIST, "EEXIST" },
    { XEN_EXDEV, "EXDEV" },       { XEN_ENODEV, "ENODEV" },
    { XEN_ENOTDIR, "ENOTDIR" },   { XEN_EISDIR, "EISDIR" },
    { XEN_EINVAL, "EINVAL" },     { XEN_ENFILE, "ENFILE" },
    { XEN_EMFILE, "EMFILE" },     { XEN_ENOSPC, "ENOSPC" },
    { XEN_EROFS, "EROFS" },       { XEN_EMLINK, "EMLINK" },
    { XEN_EDOM, "EDOM" },         { XEN_ERANGE, "ERANGE" },
    { XEN_EDEADLK, "EDEADLK" },   { XEN_ENAMETOOLONG, "ENAMETOOLONG" },
    { XEN_ENOLCK, "ENOLCK" },     { XEN_ENOSYS, "ENOSYS" },
    { XEN_ENOTEMPTY, "ENOTEMPTY" }, { XEN_ENODATA, "ENODATA" },
    { XEN_ETIME, "ETIME" },       { XEN_EBADMSG, "EBADMSG" },
    { XEN_EOVERFLOW, "EOVERFLOW" }, { XEN_EILSEQ, "EILSEQ" },
    { XEN_ERESTART, "ERESTART" }, { XEN_ENOTSOCK, "ENOTSOCK" },
    { XEN_EMSGSIZE, "EMSGSIZE" }, { XEN_EOPNOTSUPP, "EOPNOTSUPP" },
    { XEN_EADDRINUSE, "EADDRINUSE" }, { XEN_EADDRNOTAVAIL, "EADDRNOTAVAIL" },
    { XEN_ENOBUFS, "ENOBUFS" },   { XEN_EISCONN, "EISCONN" },
    { XEN_ENOTCONN, "ENOTCONN" }, { XEN_ETIMEDOUT, "ETIMEDOUT" },
    { XEN_ECONNREFUSED, "ECONNREFUSED" },
};

const char *xen_errno_name(int err)
{
    if (err < 0)
        err = -err;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].value == err)
            return table[i].name;
    return NULL;
}
