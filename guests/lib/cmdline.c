/*
 * Command line parsing: the line is copied into a private buffer and split
 * in place into words; each word becomes a key and an optional value.
 */
#include <pvsim/cmdline.h>
#include <pvsim/string.h>

#define CMDLINE_MAX   1024              /* start_info's MAX_GUEST_CMDLINE */
#define CMDLINE_WORDS 128

struct word {
    const char *key;
    const char *value;          /* NULL for a flag word */
};

static char text[CMDLINE_MAX + 1];
static struct word words[CMDLINE_WORDS];
static unsigned int nwords;

void cmdline_init(const char *s, size_t len)
{
    size_t in = 0, out = 0;

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

const char *cmdline_get(const char *key)
{
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
