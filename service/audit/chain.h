/* The tamper-evident audit chain (R-AUD-2): what is hashed and how, shared by the sealer that
 * appends links and the verifier that recomputes them.
 *
 * Each sealed event gets one row in audit_chain: seq (1, 2, 3, ... without gaps), prev_hash
 * (the previous link's hash; NULL for seq 1) and
 *     hash = hex(SHA-256(prev_hash or "" || "\n" || content))
 * where content is AUDIT_CONTENT_SQL, a text PostgreSQL builds deterministically from the
 * event's stored fields: jsonb's text form orders keys canonically, and occurred_at is rendered
 * in UTC with microseconds so that no session setting (TimeZone, DateStyle) changes it. */
#ifndef CARECOORD_AUDIT_CHAIN_H
#define CARECOORD_AUDIT_CHAIN_H

#include <stdbool.h>

/* The canonical content of the audit_events row aliased `e`, as text. */
#define AUDIT_CONTENT_SQL                                                                        \
  "jsonb_build_object('id', e.id,"                                                               \
  " 'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"\
  " 'actor', e.actor, 'roles', to_jsonb(e.roles), 'action', e.action,"                          \
  " 'resource_type', e.resource_type, 'resource_id', e.resource_id,"                            \
  " 'service_user_id', e.service_user_id, 'request_id', e.request_id,"                          \
  " 'client_address', e.client_address, 'outcome', e.outcome, 'details', e.details)::text"

#define AUDIT_HASH_HEX_LEN 64

/* hash = hex SHA-256 of (prev_hash ? prev_hash : "") "\n" content. Returns false only when
 * OpenSSL fails. */
bool audit_chain_hash(const char *prev_hash, const char *content,
                      char out[AUDIT_HASH_HEX_LEN + 1]);

#endif
