/*
 * replay.c - run a fuzz target over files, without libFuzzer.
 *
 * Every fuzz target is also linked with this main() and run as an ordinary
 * test over its corpus folder, so the corpus (and every crash ever found,
 * once added to it) is replayed in every build, sanitizers or not.
 *
 *     fuzz-<target>-replay FILE_OR_DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int ok = 0;

    if (!f)
        return perror(path), 0;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        /* An exact-size buffer, so ASan sees any read past the input. */
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data && fread(data, 1, (size_t)size, f) == (size_t)size) {
            LLVMFuzzerTestOneInput(data, (size_t)size);
            ok = 1;
        }
    }
    if (!ok)
        fprintf(stderr, "%s: cannot read\n", path);
    free(data);
    fclose(f);
    return ok;
}

static int replay_path(const char *path, int *count)
{
    struct stat st;
    DIR *dir;
    struct dirent *e;
    int ok = 1;

    if (stat(path, &st) != 0)
        return perror(path), 0;
    if (!S_ISDIR(st.st_mode)) {
        *count += 1;
        return replay_file(path);
    }
    if (!(dir = opendir(path)))
        return perror(path), 0;
    while ((e = readdir(dir)) != NULL) {
        char child[4096];
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >=
            (int)sizeof(child))
            continue;
        ok &= replay_path(child, count);
    }
    closedir(dir);
    return ok;
}

int main(int argc, char **argv)
{
    int i, ok = 1, count = 0;

    for (i = 1; i < argc; i++)
        ok &= replay_path(argv[i], &count);
    printf("replayed %d inputs\n", count);
    if (count == 0) {
        fprintf(stderr, "no inputs found: is the corpus missing?\n");
        return 1;
    }
    return ok ? 0 : 1;
}
