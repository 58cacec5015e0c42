/*
 * Command line parsing: the line is copied into a private buffer and split
 * in place into words; each word becomes a key and an optional value.
 */
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/start_info.h>

#define CMDLINE_MAX   MAX_GUEST_CMDLINE
#define CMDLINE_WORDS 128

struct word {
    const char *key;
    const char *value;          /* NULL for a flag word */
};

static char text[CMDLINE_MAX + 1];
static struct word words[CMDLINE_WORDS];
static unsigned int nwords;
static bool parsed;

/* Weak so that images without a PV start (bare metal) link without one. */
extern struct start_info *pvsim_start_info __attribute__((weak));

void cmdline_init(const char *s, size_t len)
{
    size_t in = 0, out = 0;

    parsed = true;
    nwords = 0;
    if (len > CMDLINE_MAX)
        len = CMDLINE_MAX;
    if (s == NULL)
        len = 0;

    while (in < len && s[in]) {
        bool quoted = false;
        char *key, *eq = NULL;

        while (in < len && (s[in] == ' ' || s[in] == '\t' || s[in] == '\n'))
            in++;
        if (in >= len || s[in] == 0)
            break;

        key = &text[out];
        while (in < len && s[in]) {
            char c = s[in];
            if (!quoted && (c == ' ' || c == '\t' || c == '\n'))
                break;
            in++;
            if (c == '"') {
                quoted = !quoted;
                continue;
            }
            if (c == '=' && eq == NULL && !quoted) {
                eq = &text[out];
            }
            text[out++] = c;
        }
        text[out++] = 0;        /* out <= in + 1 <= CMDLINE_MAX + 1 */

        if (nwords < CMDLINE_WORDS) {
            if (eq) {
                *eq = 0;
                words[nwords].value = eq + 1;
            } else {
                words[nwords].value = NULL;
            }
            words[nwords].key = key;
            nwords++;
        }
    }
}

static void ensure_parsed(void)
{
    if (parsed)
        return;
    if (&pvsim_start_info != NULL && pvsim_start_info != NULL)
        cmdline_init((const char *)pvsim_start_info->cmd_line, MAX_GUEST_CMDLINE);
    else
        cmdline_init(NULL, 0);
}

const char *cmdline_get(const char *key)
{
    ensure_parsed();
    for (unsigned int i = nwords; i-- > 0;) {
        if (strcmp(words[i].key, key) == 0)
            return words[i].value ? words[i].value : "";
    }
    return NULL;
}

bool cmdline_has(const char *key)
{
    return cmdline_get(key) != NULL;
}

unsigned long cmdline_get_ulong(const char *key, unsigned long dflt)
{
    const char *v = cmdline_get(key);

    if (v == NULL || *v == 0)
        return dflt;
    return strtoul(v, NULL, 0);
}
