/*
 * Xen ELF note types (the numbering of xen/elfnote.h), and an assembler macro
 * that emits one note. Notes live in section .note.Xen, name "Xen".
 */
#ifndef PVSIM_ELFNOTE_H
#define PVSIM_ELFNOTE_H

#define XEN_ELFNOTE_INFO            0
#define XEN_ELFNOTE_ENTRY           1
#define XEN_ELFNOTE_HYPERCALL_PAGE  2
#define XEN_ELFNOTE_VIRT_BASE       3
#define XEN_ELFNOTE_PADDR_OFFSET    4
#define XEN_ELFNOTE_XEN_VERSION     5
#define XEN_ELFNOTE_GUEST_OS        6
#define XEN_ELFNOTE_GUEST_VERSION   7
#define XEN_ELFNOTE_LOADER          8
#define XEN_ELFNOTE_PAE_MODE        9
#define XEN_ELFNOTE_FEATURES       10
#define XEN_ELFNOTE_BSD_SYMTAB     11

#ifdef __ASSEMBLER__
/*
 * PV_XEN_NOTE type, desc-directive, desc-value
 * e.g.  PV_XEN_NOTE XEN_ELFNOTE_GUEST_OS, .asciz, "pvsim-rv32"
 *       PV_XEN_NOTE XEN_ELFNOTE_ENTRY, .long, _start
 */
.macro PV_XEN_NOTE type, directive, value
    .balign 4
    .long 4                     /* namesz: "Xen" plus NUL */
    .long 4f - 3f               /* descsz */
    .long \type
    .asciz "Xen"
    .balign 4
3:  \directive \value
4:  .balign 4
.endm
#endif

#endif
