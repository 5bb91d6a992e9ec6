/* Runs a fuzz harness over files without libFuzzer: every file of each directory named on the
 * command line (or the files themselves). Used by ctest to replay the committed corpora, so
 * seeds and the inputs of fixed crashes stay regression tests in every build. Fails when it
 * finds no input at all, so that a mistyped path cannot pass silently. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  unsigned char *data = malloc(cap);
  size_t n;
  while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      unsigned char *bigger = realloc(data, cap *= 2);
      if (!bigger) free(data);
      data = bigger;
    }
  }
  fclose(f);
  if (!data) return -1;
  /* A copy of exactly len bytes, so that ASan catches a read past the input's end. */
  unsigned char *exact = malloc(len ? len : 1);
  if (!exact) abort();
  memcpy(exact, data, len);
  free(data);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int replay_directory(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *entry;
  while ((entry = readdir(d))) {
    if (entry->d_name[0] == '.') continue;
    char **more = realloc(names, (n + 1) * sizeof *names);
    if (!more) abort();
    names = more;
    names[n++] = strdup(entry->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, compare_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (rc == 0) {
      if (replay_file(path) == 0) (*count)++;
      else rc = -1;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      rc = replay_directory(argv[i], &count);
    } else if (replay_file(argv[i]) == 0) {
      count++;
    } else {
      rc = -1;
    }
  }
  if (rc == 0 && count == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    rc = -1;
  }
  printf("replay: %zu inputs\n", count);
  return rc == 0 ? 0 : 1;
}
