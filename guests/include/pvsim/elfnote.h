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
 * One note in the current section:
 *   PV_XEN_NOTE_STR  XEN_ELFNOTE_GUEST_OS, "pvsim-rv32"   NUL-terminated string
 *   PV_XEN_NOTE_WORD XEN_ELFNOTE_ENTRY, _start            4-byte value
 */
.macro PV_XEN_NOTE_BEGIN type
    .balign 4
    .long 4                     /* namesz: "Xen" plus NUL */
    .long 2f - 1f               /* descsz */
    .long \type
    .asciz "Xen"
    .balign 4
1:
.endm
.macro PV_XEN_NOTE_STR type, text
    PV_XEN_NOTE_BEGIN \type
    .asciz "\text"
2:  .balign 4
.endm
.macro PV_XEN_NOTE_WORD type, value
    PV_XEN_NOTE_BEGIN \type
    .long \value
2:  .balign 4
.endm
#endif
#endif
