/*
 * Xen's errno values (the numbering of xen/errno.h). Hypercalls return
 * the negated value, e.g. -XEN_EFAULT for a bad guest pointer.
 * Usable from C and from assembly.
 */
#ifndef PVSIM_XEN_ERRNO_H
#define PVSIM_XEN_ERRNO_H

#define XEN_EPERM           1   /* not permitted */
#define XEN_ENOENT          2   /* no such entry */
#define XEN_ESRCH           3   /* no such domain/process */
#define XEN_EINTR           4   /* interrupted */
#define XEN_EIO             5   /* I/O error */
#define XEN_ENXIO           6   /* no such device or address */
#define XEN_E2BIG           7   /* argument list too long */
#define XEN_ENOEXEC         8   /* bad executable format */
#define XEN_EBADF           9   /* bad handle */
#define XEN_ECHILD         10   /* no children */
#define XEN_EAGAIN         11   /* try again */
#define XEN_EWOULDBLOCK    XEN_EAGAIN
#define XEN_ENOMEM         12   /* out of memory */
#define XEN_EACCES         13   /* access denied */
#define XEN_EFAULT         14   /* bad guest address */
#define XEN_EBUSY          16   /* busy */
#define XEN_EEXIST         17   /* already exists */
#define XEN_EXDEV          18   /* cross-device */
#define XEN_ENODEV         19   /* no such device */
#define XEN_ENOTDIR        20   /* not a directory */
#define XEN_EISDIR         21   /* is a directory */
#define XEN_EINVAL         22   /* invalid argument */
#define XEN_ENFILE         23   /* table overflow */
#define XEN_EMFILE         24   /* too many open handles */
#define XEN_ENOSPC         28   /* no space left */
#define XEN_EROFS          30   /* read-only */
#define XEN_EMLINK         31   /* too many links */
#define XEN_EDOM           33   /* argument out of domain */
#define XEN_ERANGE         34   /* result out of range */
#define XEN_EDEADLK        35   /* deadlock avoided */
#define XEN_EDEADLOCK      XEN_EDEADLK
#define XEN_ENAMETOOLONG   36   /* name too long */
#define XEN_ENOLCK         37   /* no locks available */
#define XEN_ENOSYS         38   /* no such hypercall or sub-op */
#define XEN_ENOTEMPTY      39   /* not empty */
#define XEN_ENODATA        61   /* no data */
#define XEN_ETIME          62   /* timer expired */
#define XEN_EBADMSG        74   /* not a data message */
#define XEN_EOVERFLOW      75   /* value too large */
#define XEN_EILSEQ         84   /* illegal byte sequence */
#define XEN_ERESTART       85   /* restart the call */
#define XEN_ENOTSOCK       88   /* not a socket */
#define XEN_EMSGSIZE       90   /* message too large */
#define XEN_EOPNOTSUPP     95   /* operation not supported */
#define XEN_EADDRINUSE     98   /* address in use */
#define XEN_EADDRNOTAVAIL  99   /* address not available */
#define XEN_ENOBUFS       105   /* no buffer space */
#define XEN_EISCONN       106   /* already connected */
#define XEN_ENOTCONN      107   /* not connected */
#define XEN_ETIMEDOUT     110   /* timed out */
#define XEN_ECONNREFUSED  111   /* connection refused */

#ifndef __ASSEMBLER__
#include <stddef.h>

/* "EFAULT" for 14 or -14; NULL for a number this table does not know. */
const char *xen_errno_name(int err);

/* Like xen_errno_name, but never NULL: "0" for success, "?" if unknown. */
static inline const char *xen_errstr(int err)
{
    const char *name = xen_errno_name(err);
    return name != NULL ? name : err == 0 ? "0" : "?";
}
#endif

#endif
