#include "auth/token_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define WAYS 4
#define DIGEST_LEN SHA256_LEN

struct entry {
  unsigned char digest[DIGEST_LEN];
  time_t valid_until; /* 0: empty */
  struct principal principal;
};

struct set {
  pthread_mutex_t lock;
  struct entry ways[WAYS];
};

struct token_cache {
  size_t set_count;
  struct set *sets;
  atomic_ulong hits, misses;
};

struct token_cache *token_cache_new(size_t capacity) {
  size_t set_count = capacity / WAYS;
  if (set_count == 0) return NULL;
  struct token_cache *cache = calloc(1, sizeof *cache);
  struct set *sets = calloc(set_count, sizeof *sets);
  if (!cache || !sets) {
    free(cache);
    free(sets);
    return NULL;
  }
  for (size_t i = 0; i < set_count; i++) pthread_mutex_init(&sets[i].lock, NULL);
  cache->set_count = set_count;
  cache->sets = sets;
  return cache;
}

void token_cache_free(struct token_cache *cache) {
  if (!cache) return;
  for (size_t i = 0; i < cache->set_count; i++) pthread_mutex_destroy(&cache->sets[i].lock);
  /* Principals name people: leave nothing behind in freed memory. */
  memset(cache->sets, 0, cache->set_count * sizeof *cache->sets);
  free(cache->sets);
  free(cache);
}

static bool digest_of(const char *token, unsigned char digest[DIGEST_LEN]) {
  return sha256(token, strlen(token), digest);
}

static struct set *set_of(struct token_cache *cache, const unsigned char digest[DIGEST_LEN]) {
  uint64_t index;
  memcpy(&index, digest, sizeof index);
  return &cache->sets[index % cache->set_count];
}

bool token_cache_get(struct token_cache *cache, const char *token, time_t now,
                     struct principal *principal) {
  unsigned char digest[DIGEST_LEN];
  if (!cache || !digest_of(token, digest)) return false;
  struct set *set = set_of(cache, digest);
  bool found = false;
  pthread_mutex_lock(&set->lock);
  for (int w = 0; w < WAYS && !found; w++) {
    struct entry *e = &set->ways[w];
    if (e->valid_until > now && memcmp(e->digest, digest, DIGEST_LEN) == 0) {
      *principal = e->principal;
      found = true;
    }
  }
  pthread_mutex_unlock(&set->lock);
  atomic_fetch_add(found ? &cache->hits : &cache->misses, 1);
  return found;
}

void token_cache_put(struct token_cache *cache, const char *token, time_t valid_until,
                     const struct principal *principal) {
  unsigned char digest[DIGEST_LEN];
  if (!cache || !digest_of(token, digest)) return;
  struct set *set = set_of(cache, digest);
  pthread_mutex_lock(&set->lock);
  /* The same token again (two first requests at once), else the entry that expires first:
   * an empty one (0) or an expired one before any live one. */
  struct entry *victim = &set->ways[0];
  for (int w = 0; w < WAYS; w++) {
    struct entry *e = &set->ways[w];
    if (e->valid_until && memcmp(e->digest, digest, DIGEST_LEN) == 0) {
      victim = e;
      break;
    }
    if (e->valid_until < victim->valid_until) victim = e;
  }
  memcpy(victim->digest, digest, DIGEST_LEN);
  victim->valid_until = valid_until;
  victim->principal = *principal;
  pthread_mutex_unlock(&set->lock);
}

void token_cache_stats(struct token_cache *cache, struct token_cache_stats *out) {
  *out = (struct token_cache_stats){0};
  if (!cache) return;
  out->hits = atomic_load(&cache->hits);
  out->misses = atomic_load(&cache->misses);
  out->capacity = cache->set_count * WAYS;
}
