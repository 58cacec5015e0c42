/*
 * hello: the smallest pvsim PV kernel. Greets, reports the hypervisor
 * version and its start_info, then shuts down as the command line asks:
 *   exit=poweroff (default) | reboot | crash | return
 *   badptr   also passes console_io a bad pointer and prints the result
 *
 * With xenstore (start_info.store_evtchn != 0) it then connects to it and to
 * the console ring, and through the ring says its name and domid (read from
 * xenstore), writes data/hello = done, and with the word `echo` reads a
 * line of console input and echoes it. Without, nothing changes.
 */
#include <pvsim/console.h>
#include <pvsim/cmdline.h>
#include <pvsim/hypercall.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>
#include <pvsim/xenbus.h>
#include <pvsim/cons_ring.h>
#include <pvsim/xen_errno.h>

#define BAD_POINTER 0x1000UL

static void hello_xenstore(void)
{
    char buf[256];
    domid_t domid;
    bool ring;
    int rc;

    rc = xenbus_setup();
    if (rc < 0) {
        printf("hello: xenstore: %d (%s)\n", rc, xen_errstr(rc));
        return;
    }
    rc = cons_ring_setup();
    ring = rc == 0;
    if (!ring)
        printf("hello: console ring: %d (%s), staying on console_io\n", rc, xen_errstr(rc));

    rc = xs_read(XBT_NIL, "name", buf, sizeof(buf));
    if (rc < 0)
        printf("hello: xenstore read name: %d (%s)\n", rc, xen_errstr(rc));
    else
        printf("my name is %s\n", buf);
    rc = xs_domid(&domid);
    if (rc < 0)
        printf("hello: xenstore read domid: %d (%s)\n", rc, xen_errstr(rc));
    else
        printf("my domid is %u\n", (unsigned int)domid);
    rc = xs_write(XBT_NIL, "data/hello", "done");
    if (rc < 0)
        printf("hello: xenstore write data/hello: %d (%s)\n", rc, xen_errstr(rc));

    if (cmdline_has("echo")) {
        if (!ring) {
            printf("hello: echo: no console ring to read from\n");
            return;
        }
        cons_ring_readline(buf, sizeof(buf));
        printf("echo: %s\n", buf);
    }
}

void start_kernel(struct start_info *si)
{
    xen_extraversion_t extra;
    const char *exit_how;
    int ver;

    printf("Hello from pvsim! (domain kernel on RV32)\n");

    ver = HYPERVISOR_xen_version(XENVER_version, NULL);
    memset(extra, 0, sizeof(extra));
    if (HYPERVISOR_xen_version(XENVER_extraversion, extra) < 0)
        extra[0] = 0;
    if (ver < 0)
        printf("xen version unknown (error %d)\n", ver);
    else
        printf("xen version %u.%u%.*s\n", XENVER_MAJOR(ver), XENVER_MINOR(ver),
               (int)sizeof(extra), extra);

    printf("start_info: magic=%.*s nr_pages=%lu cmdline=\"%.*s\"\n",
           (int)sizeof(si->magic), si->magic, si->nr_pages,
           (int)sizeof(si->cmd_line), (const char *)si->cmd_line);

    if (cmdline_has("badptr")) {
        int rc = HYPERVISOR_console_io(CONSOLEIO_write, 4, (char *)BAD_POINTER);
        printf("badptr: console_io(CONSOLEIO_write, 4, 0x%lx) = %d\n",
               BAD_POINTER, rc);
    }

    if (si->store_evtchn != 0)
        hello_xenstore();

    exit_how = cmdline_get("exit");
    if (exit_how == NULL || strcmp(exit_how, "poweroff") == 0)
        xen_shutdown(SHUTDOWN_poweroff);
    if (strcmp(exit_how, "reboot") == 0)
        xen_shutdown(SHUTDOWN_reboot);
    if (strcmp(exit_how, "crash") == 0)
        xen_shutdown(SHUTDOWN_crash);
    if (strcmp(exit_how, "return") == 0)
        return;                 /* _start powers off */
    printf("hello: unknown exit=%s, powering off\n", exit_how);
    xen_shutdown(SHUTDOWN_poweroff);
}
