/* Freestanding string and memory routines (guests/lib/string.c). */
#ifndef PVSIM_STRING_H
#define PVSIM_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy(char *dst, const char *src, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);

/*
 * Parses an unsigned number in `base` (0 = auto: 0x.. hex, 0.. octal, else
 * decimal). Stops at the first character that is not a digit; *end (if not
 * NULL) points there. Overflow wraps.
 */
unsigned long strtoul(const char *s, char **end, int base);

#endif
