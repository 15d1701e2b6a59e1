/*
 * libpps/route/address.h - a tolerant, bounded, iterative parser for
 * RFC 5322 address lists (internal).
 *
 * Modelled on Dovecot's lib-mail: it reads (pointer, length) and never
 * relies on a NUL, keeps all its state in the parser struct (no
 * allocation, no recursion) and hands out one item per call:
 *
 *     pps__addr_parser p;
 *     pps__addr item;
 *
 *     pps__addr_parser_init(&p, value, value_len);
 *     while (pps__addr_parser_next(&p, &item) == 1)
 *         ... item.local / item.domain, valid until the next call ...
 *     pps__addr_parser_deinit(&p);
 *
 * An item is either an address (local part and domain, already unquoted,
 * the obsolete route stripped, lower-cased) or a piece of the list that
 * holds no usable address, marked with a flag saying why.  A broken list
 * yields every address that can be recovered; the rest is marked, never
 * fatal.
 */
#ifndef PPS_ROUTE_ADDRESS_H
#define PPS_ROUTE_ADDRESS_H

#include <stddef.h>

/* RFC 5321 4.5.3.1.1 allows 64 octets in a local part and 4.5.3.1.2 255
 * in a domain; real mail exceeds the first now and then, so we keep up to
 * 256 and mark anything longer as too long instead of routing it. */
#define PPS__ADDR_LOCAL_MAX  256
#define PPS__ADDR_DOMAIN_MAX 255

/* Comments deeper than this mark their item: RFC 5322 puts no limit on
 * nesting, but nothing legitimate goes past a handful.  Depth is only a
 * counter, never a stack, so deeper input still costs nothing. */
#define PPS__ADDR_COMMENT_DEPTH_MAX 64

/* An encoded word is at most 75 characters (RFC 2047 2). */
#define PPS__ADDR_ENCODED_WORD_MAX 75

enum {
    /* no usable address: */
    PPS__ADDR_NO_ADDRESS = 1 << 0,   /* words only ("John", "Smith,") */
    PPS__ADDR_NO_DOMAIN = 1 << 1,    /* "<john>", "john@" */
    PPS__ADDR_BAD = 1 << 2,          /* syntax beyond repair */
    PPS__ADDR_TOO_LONG = 1 << 3,     /* local part or domain over the cap */
    PPS__ADDR_DISPLAY_NAME = 1 << 4, /* a@b written as the display name of
                                        a following <...> */
    /* usable, but noted: */
    PPS__ADDR_ANGLE = 1 << 8,         /* written as <...> */
    PPS__ADDR_ROUTE = 1 << 9,         /* obsolete route <@relay:u@h> dropped */
    PPS__ADDR_QUOTED = 1 << 10,       /* local part had a quoted string */
    PPS__ADDR_OBSOLETE = 1 << 11,     /* blanks around '@' or '.', missing
                                         '>' or comma: repaired */
    PPS__ADDR_DEEP_COMMENT = 1 << 12, /* a comment nested past the cap */
    PPS__ADDR_8BIT = 1 << 13,         /* 8-bit bytes (RFC 6532 UTF-8) */
    PPS__ADDR_IN_GROUP = 1 << 14      /* inside "name: ...;" */
};

/* The flags that mean "nothing here can be routed". */
#define PPS__ADDR_UNUSABLE                                        \
    (PPS__ADDR_NO_ADDRESS | PPS__ADDR_NO_DOMAIN | PPS__ADDR_BAD | \
     PPS__ADDR_TOO_LONG | PPS__ADDR_DISPLAY_NAME)

typedef struct pps__addr {
    const char *local; /* lower-case; borrowed from the parser */
    size_t local_len;
    const char *domain; /* lower-case, no trailing dot; borrowed */
    size_t domain_len;
    const char *raw; /* the item's text in the input, for explanations */
    size_t raw_len;
    unsigned int flags;
} pps__addr;

typedef struct pps__addr_parser {
    const char *data;
    size_t len;
    size_t pos;
    int in_group;
    int quote_to_end; /* an unclosed '"' was seen: later ones are text */
    /* current item */
    size_t item_start, item_end;
    unsigned int flags;
    char local[PPS__ADDR_LOCAL_MAX + 1];
    size_t local_len;
    int local_state; /* what the local part candidate ends with */
    char domain[PPS__ADDR_DOMAIN_MAX + 1];
    size_t domain_len;
} pps__addr_parser;

void pps__addr_parser_init(pps__addr_parser *p, const char *data, size_t len);

/* 1: *out holds the next item; 0: the list is done. */
int pps__addr_parser_next(pps__addr_parser *p, pps__addr *out);

void pps__addr_parser_deinit(pps__addr_parser *p);

#endif /* PPS_ROUTE_ADDRESS_H */
