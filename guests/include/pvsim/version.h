/* xen_version sub-operations and their buffers (Xen's numbering and sizes). */
#ifndef PVSIM_VERSION_H
#define PVSIM_VERSION_H

#define XENVER_version              0  /* arg NULL; returns major << 16 | minor */
#define XENVER_extraversion         1  /* arg: xen_extraversion_t */
#define XENVER_compile_info         2  /* arg: struct xen_compile_info * */
#define XENVER_capabilities         3  /* arg: xen_capabilities_info_t */
#define XENVER_changeset            4  /* arg: xen_changeset_info_t */
#define XENVER_platform_parameters  5  /* arg: struct xen_platform_parameters * */
#define XENVER_get_features         6  /* arg: struct xen_feature_info * */
#define XENVER_pagesize             7  /* arg NULL; returns the page size */
#define XENVER_guest_handle         8  /* arg: xen_domain_handle_t */
#define XENVER_commandline          9  /* arg: xen_commandline_t */

#ifndef __ASSEMBLER__
#include <pvsim/xen_types.h>

typedef char xen_extraversion_t[16];
typedef char xen_capabilities_info_t[1024];
typedef char xen_changeset_info_t[64];
typedef char xen_commandline_t[1024];
typedef uint8_t xen_domain_handle_t[16];

struct xen_compile_info {
    char compiler[64];
    char compile_by[16];
    char compile_domain[32];
    char compile_date[32];
};
PV_CHECK_SIZE(struct xen_compile_info, 144);

struct xen_platform_parameters {
    xen_ulong_t virt_start;
};
PV_CHECK_SIZE(struct xen_platform_parameters, 4);

struct xen_feature_info {
    unsigned int submap_idx;        /* in: which 32-bit word of the feature map */
    uint32_t submap;                /* out: that word */
};
PV_CHECK_SIZE(struct xen_feature_info, 8);

/* The major and minor numbers packed in XENVER_version's result. */
#define XENVER_MAJOR(v) ((unsigned int)(v) >> 16)
#define XENVER_MINOR(v) ((unsigned int)(v) & 0xFFFFU)
#endif

#endif
