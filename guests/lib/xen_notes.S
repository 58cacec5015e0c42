/* Xen ELF notes identifying the image as a pvsim RV32 PV kernel. */
#include <pvsim/elfnote.h>

    .section .note.Xen, "a", @note
    PV_XEN_NOTE_STR  XEN_ELFNOTE_GUEST_OS,    "pvsim-rv32"
    PV_XEN_NOTE_STR  XEN_ELFNOTE_XEN_VERSION, "xen-3.0"
    PV_XEN_NOTE_STR  XEN_ELFNOTE_LOADER,      "generic"
    PV_XEN_NOTE_WORD XEN_ELFNOTE_VIRT_BASE,   0xC0000000
    PV_XEN_NOTE_WORD XEN_ELFNOTE_ENTRY,       _start

    .section .note.GNU-stack, "", @progbits
