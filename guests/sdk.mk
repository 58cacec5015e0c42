# pvsim guest SDK: build a PV frontend (a guest kernel) out of pvsim's tree with the guest
# library (guests/lib, headers in guests/include/pvsim). From your Makefile:
#
#   include $(shell pvsim sdk --makefile-path)      # or: PVSIM_ROOT := ... then include it
#   build/mydev.elf: $(OBJDIR)/front.o $(PVSIM_LIB_OBJS)
#   	$(PVSIM_LINK) -o $@ $^
#   $(OBJDIR)/%.o: %.c ; $(PVSIM_COMPILE)
#
# The flags are guests/Makefile's (reproducible: no build id, relative file names), the
# library objects are compiled into $(OBJDIR)/pvsim/ by the rules below, and the image is
# linked at 0xC0000000 by guests/lib/pv.ld. docs/ringkit.md walks through an example.

PVSIM_ROOT    ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
PVSIM_GUESTS  := $(PVSIM_ROOT)/guests
PVSIM_CROSS   ?= riscv64-unknown-elf-
PVSIM_CC      := $(PVSIM_CROSS)gcc
OBJDIR        ?= obj

PVSIM_ARCH    := -march=rv32ima_zicsr_zifencei -mabi=ilp32
PVSIM_GCC_INC := $(shell $(PVSIM_CC) -print-file-name=include)
# Both trees' absolute paths leave the image: builds are the same wherever they are made.
PVSIM_MAP     := -ffile-prefix-map=$(PVSIM_GUESTS)=pvsim -ffile-prefix-map=$(CURDIR)=.
PVSIM_CFLAGS  := $(PVSIM_ARCH) -ffreestanding -nostdlib -nostartfiles -static -O2 -fno-pic \
                 -fno-asynchronous-unwind-tables -fno-unwind-tables \
                 -Wall -Wextra -Werror -std=gnu11 -fno-common -fno-stack-protector \
                 $(PVSIM_MAP) -nostdinc -isystem $(PVSIM_GCC_INC) -I$(PVSIM_GUESTS)/include
PVSIM_ASFLAGS := $(PVSIM_ARCH) -Wall -Werror $(PVSIM_MAP) -I$(PVSIM_GUESTS)/include
PVSIM_LDS     := $(PVSIM_GUESTS)/lib/pv.ld
PVSIM_LDFLAGS := $(PVSIM_ARCH) -nostdlib -nostartfiles -static \
                 -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,common-page-size=4096 \
                 -Wl,--no-warn-rwx-segments -Wl,--fatal-warnings -T $(PVSIM_LDS)

# The PV runtime with events, time, grants, xenstore, the console ring and the
# xenbus frontend helper: what a split-driver frontend needs. Link order as listed.
PVSIM_LIB     := lib/start lib/xen_notes lib/pv lib/console lib/format lib/stdio lib/string \
                 lib/cmdline lib/divdi3 lib/xen_errno lib/entry lib/trap lib/mm lib/events \
                 lib/time lib/gnttab lib/xenbus lib/cons_ring lib/xenbus_front
PVSIM_LIB_OBJS := $(PVSIM_LIB:%=$(OBJDIR)/pvsim/%.o)

PVSIM_COMPILE = @mkdir -p $(@D) && $(PVSIM_CC) $(PVSIM_CFLAGS) -c -o $@ $<
PVSIM_LINK    = $(PVSIM_CC) $(PVSIM_LDFLAGS)

$(OBJDIR)/pvsim/lib/string.o: PVSIM_CFLAGS += -fno-tree-loop-distribute-patterns

$(OBJDIR)/pvsim/%.o: $(PVSIM_GUESTS)/%.c
	@mkdir -p $(@D)
	$(PVSIM_CC) $(PVSIM_CFLAGS) -c -o $@ $<

$(OBJDIR)/pvsim/%.o: $(PVSIM_GUESTS)/%.S
	@mkdir -p $(@D)
	$(PVSIM_CC) $(PVSIM_ASFLAGS) -c -o $@ $<
