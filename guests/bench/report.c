/* Result lines of the compute benchmark, shared by both images. */
#include <pvsim/bare.h>
#include "workload.h"

#define EXIT_CHECKSUM_MISMATCH 2
#define EXIT_SELF_CHECK        3

#include "reference.h"

int bench_report(const char *name, uint32_t iterations, uint32_t checksum,
                 uint64_t workload_instret, uint64_t total_instret)
{
    int code = 0;

    printf("%s: iterations=%lu\n", name, (unsigned long)iterations);
    printf("%s: checksum=0x%08lx\n", name, (unsigned long)checksum);
    for (unsigned int i = 0; i < PV_ARRAY_SIZE(reference); i++) {
        if (reference[i].iterations != iterations)
            continue;
        if (reference[i].checksum == checksum) {
            printf("%s: checksum matches the reference\n", name);
        } else {
            printf("%s: checksum MISMATCH, reference 0x%08lx\n", name,
                   (unsigned long)reference[i].checksum);
            code = EXIT_CHECKSUM_MISMATCH;
        }
    }
    if (bench_errors) {
        printf("%s: self-check FAILED (%lu errors)\n", name, (unsigned long)bench_errors);
        code = EXIT_SELF_CHECK;
    }
    printf("%s: workload instret=%llu\n", name, (unsigned long long)workload_instret);
    printf("%s: minstret=%llu\n", name, (unsigned long long)total_instret);
    printf("%s: %s\n", name, code == 0 ? "PASS" : "FAIL");
    return code;
}
