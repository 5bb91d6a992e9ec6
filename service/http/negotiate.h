/* Content negotiation by Accept (RFC 9110 section 12.5.1), for routes that can answer in more
 * than one media type. Pure: no request state. */
#ifndef CARECOORD_NEGOTIATE_H
#define CARECOORD_NEGOTIATE_H

#include <stddef.h>

/* The index of the offer (a type/subtype, lowercase) to answer with: the one the header gives the
 * highest quality, each offer taking the q of the most specific range that matches it (exact,
 * then type/\*, then \*\/\*); an earlier offer wins a tie. Without a header (NULL or blank), the
 * first offer. -1 when the header accepts none of them (all unmatched or q=0). Parameters other
 * than q are ignored; media types compare case-insensitively. */
int negotiate_media_type(const char *accept, const char *const *offers, size_t count);

#endif
