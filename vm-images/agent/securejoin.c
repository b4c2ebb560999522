/* Where a path inside a container's root really is, looked up as the container itself will see it: the root's own
 * symlinks are followed, an absolute link starts again at the root and `..` stops at it, so an image cannot make
 * drydockd create or mount anything outside its root (a layer with `etc -> /`, or `data -> ../../../run`). This is
 * the rule runc follows for mount targets (its securejoin). The container has not started yet when drydockd looks, so
 * nothing inside can swap a component between the look-up and the use. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

/* Symlinks followed for one path at most, as the kernel's own limit. */
#define MAX_HOPS 40

/* Appends the components of `path` to the front of the queue `rest` (a slash-separated string, used as a stack):
 * the link's target is looked up before what followed the link. */
static int push_front(char *rest, size_t size, const char *path) {
	size_t have = strlen(rest), add = strlen(path);
	if (add + 1 + have + 1 > size) return -1;
	memmove(rest + add + 1, rest, have + 1);
	memcpy(rest, path, add);
	rest[add] = '/';
	return 0;
}

int secure_join(const char *root, const char *unsafe, char *out, size_t size) {
	char rest[PATH_MAX], link[PATH_MAX];
	size_t root_len = strlen(root);
	while (root_len > 0 && root[root_len - 1] == '/') root_len--;
	if (root_len + 1 >= size || strlen(unsafe) + 1 > sizeof rest) return errno = ENAMETOOLONG, -1;
	memcpy(out, root, root_len);
	out[root_len] = 0;
	size_t len = root_len;
	strcpy(rest, unsafe);
	int hops = 0;
	while (rest[0]) {
		/* Take the first component off the queue. */
		char *slash = strchr(rest, '/');
		size_t part_len = slash ? (size_t)(slash - rest) : strlen(rest);
		char part[NAME_MAX + 1];
		if (part_len > NAME_MAX) return errno = ENAMETOOLONG, -1;
		memcpy(part, rest, part_len);
		part[part_len] = 0;
		memmove(rest, slash ? slash + 1 : rest + part_len, strlen(slash ? slash + 1 : rest + part_len) + 1);
		if (!part[0] || !strcmp(part, ".")) continue;
		if (!strcmp(part, "..")) {
			/* Up one, never above the root. */
			while (len > root_len && out[len - 1] != '/') len--;
			if (len > root_len) len--;
			out[len] = 0;
			continue;
		}
		if (len + 1 + part_len + 1 > size) return errno = ENAMETOOLONG, -1;
		out[len] = '/';
		memcpy(out + len + 1, part, part_len + 1);
		struct stat st;
		if (lstat(out, &st) < 0 || !S_ISLNK(st.st_mode)) {
			/* A missing component (made later by the caller) or a real one: keep it and go on. */
			len += 1 + part_len;
			continue;
		}
		if (++hops > MAX_HOPS) return errno = ELOOP, -1;
		ssize_t n = readlink(out, link, sizeof link - 1);
		if (n < 0) return -1;
		link[n] = 0;
		out[len] = 0;
		if (link[0] == '/') {
			/* An absolute target starts again at the container's root, not the guest's. */
			len = root_len;
			out[len] = 0;
		}
		if (push_front(rest, sizeof rest, link) < 0) return errno = ENAMETOOLONG, -1;
	}
	if (len == root_len) {
		/* The root itself. */
		if (len + 2 > size) return errno = ENAMETOOLONG, -1;
		out[len] = '/';
		out[len + 1] = 0;
	}
	return 0;
}
