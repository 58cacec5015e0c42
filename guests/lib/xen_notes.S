/* Xen ELF notes identifying the image as a pvsim RV32 PV kernel. */
#include <pvsim/elfnote.h>

    .section .note.Xen, "a", @note
    PV_XEN_NOTE XEN_ELFNOTE_GUEST_OS,    .asciz, "pvsim-rv32"
    PV_XEN_NOTE XEN_ELFNOTE_XEN_VERSION, .asciz, "xen-3.0"
    PV_XEN_NOTE XEN_ELFNOTE_LOADER,      .asciz, "generic"
    PV_XEN_NOTE XEN_ELFNOTE_VIRT_BASE,   .long,  0xC0000000
    PV_XEN_NOTE XEN_ELFNOTE_ENTRY,       .long,  _start

    .section .note.GNU-stack, "", @progbits
