/*
 * hello: the smallest pvsim PV kernel. Greets, reports the hypervisor
 * version and its start_info, then shuts down as the command line asks:
 *   exit=poweroff (default) | reboot | crash | return
 *   badptr   also passes console_io a bad pointer and prints the result
 */
#include <pvsim/console.h>
#include <pvsim/cmdline.h>
#include <pvsim/hypercall.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>

#define BAD_POINTER 0x1000UL

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
