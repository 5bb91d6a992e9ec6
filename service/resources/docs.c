/* The API reference for integrators: GET /docs renders api/openapi.yaml with Redoc, from the
 * service's own URLs only (no CDN). Public, like the document in the repository: it holds no
 * personal data and no secrets. */
#include "resources/docs.h"

#include "http/exchange.h"
#include "resources/resources.h"

/* Redoc builds its styles at run time (inline <style> elements), draws its icons as data: URIs
 * and runs its search index in a worker made from a blob: URL; nothing else is allowed. The
 * Redocly logo it links from a CDN is blocked (Redoc then leaves it out). */
static const char DOCS_CSP[] =
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

/* Relative URLs, so that the page also works behind a proxy that serves the API under a path
 * prefix (https://host/carecoord/docs loads https://host/carecoord/docs/openapi.yaml). */
static const char PAGE[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>carecoord API reference</title>\n"
    "</head>\n"
    "<body>\n"
    "<redoc spec-url=\"docs/openapi.yaml\"></redoc>\n"
    "<script src=\"docs/redoc.standalone.js\"></script>\n"
    "</body>\n"
    "</html>\n";

static void docs_headers(struct exchange *x) {
  reply_header(x, "Content-Security-Policy", DOCS_CSP);
  reply_header(x, "Referrer-Policy", "no-referrer");
  reply_header(x, "X-Frame-Options", "DENY");
}

void docs_page(struct exchange *x) {
  docs_headers(x);
  reply_static(x, 200, "text/html; charset=utf-8", PAGE, sizeof PAGE - 1);
}

void docs_redoc_script(struct exchange *x) {
  docs_headers(x);
  reply_static(x, 200, "text/javascript; charset=utf-8", DOCS_REDOC_JS, DOCS_REDOC_JS_SIZE);
}

void docs_openapi(struct exchange *x) {
  docs_headers(x);
  reply_static(x, 200, "application/yaml", DOCS_OPENAPI_YAML, DOCS_OPENAPI_YAML_SIZE);
}
