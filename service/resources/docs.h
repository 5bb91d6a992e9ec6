/* The API reference at GET /docs (resources/docs.c): Redoc's standalone bundle and
 * api/openapi.yaml, both embedded in the binary at build time (cmake/embed_files.cmake writes
 * the definitions), so a binary always documents the routes it serves. */
#ifndef CARECOORD_DOCS_H
#define CARECOORD_DOCS_H

#include <stddef.h>

/* Each array is followed by a NUL byte that is not part of the file (not counted in _SIZE). */
extern const unsigned char DOCS_REDOC_JS[];
extern const size_t DOCS_REDOC_JS_SIZE;
extern const unsigned char DOCS_OPENAPI_YAML[];
extern const size_t DOCS_OPENAPI_YAML_SIZE;

#endif
