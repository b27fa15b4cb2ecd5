/*
 * Unit tests for identity.c: keys and certificates made once and never
 * replaced, fingerprints checked against the openssl tool, file modes,
 * known_hosts and the clients file (bad lines, long lines, CRLF,
 * duplicates).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../src/ptychat.h"
#include "tap.h"

#define RACERS	8	/* processes making the same key at once */

static char tmpdir[] = "/tmp/test_identity.XXXXXX";

/* Fingerprints of keys that exist nowhere: only their form matters. */
static const char FP1[] = "SHA256:VzbxuLlKl9CoWDQ53b0DynJVGT/JHNEitb17jJP3g5w";
static const char FP2[] = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
static const char FP3[] = "SHA256:u+7wH7a9v9yV0F3KD0pbNqSN/3LlEO6LsbszVuLzxWA";

static const char *
path(const char *name)
{
	static char	buf[4][512];
	static int	next;

	next = (next + 1) % 4;
	snprintf(buf[next], sizeof(buf[next]), "%s/%s", tmpdir, name);
	return buf[next];
}

static int
write_file(const char *file, const void *data, size_t len, mode_t mode)
{
	int fd, r;

	unlink(file);
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1)
		return -1;
	r = io_write_all(fd, data, len);
	if (fchmod(fd, mode) == -1)
		r = -1;
	close(fd);
	return r;
}

/* The whole of file, NUL-terminated, in a malloc'd buffer (NULL: none). */
static char *
read_file(const char *file, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0, cap = 4096;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf = malloc(cap);
	while (buf != NULL && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2 && (buf = realloc(buf, cap *= 2)) == NULL)
			break;
	}
	close(fd);
	if (buf != NULL)
		buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

static int
file_mode(const char *file)
{
	struct stat st;

	return stat(file, &st) == -1 ? -1 : (int)(st.st_mode & 07777);
}

/* Runs the shell command cmd; its first line of output in out (or -1). */
static int
run(const char *cmd, char *out, size_t len)
{
	FILE	*p;
	int	 status;

	if ((p = popen(cmd, "re")) == NULL)
		return -1;
	if (out != NULL && fgets(out, (int)len, p) == NULL)
		out[0] = '\0';
	while (fgetc(p) != EOF)
		;
	status = pclose(p);
	if (out != NULL)
		out[strcspn(out, "\n")] = '\0';
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * The fingerprint of the key in file, as DESIGN.md says to check one by
 * hand: "SHA256:" and the openssl tool's base64, its padding stripped.
 */
static int
openssl_fingerprint(const char *file, char out[FINGERPRINT_MAX])
{
	char	cmd[1200], b64[128];
	size_t	n;

	snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -pubout -outform "
	    "DER | openssl dgst -sha256 -binary | base64", file);
	if (run(cmd, b64, sizeof(b64)) == -1)
		return -1;
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	if (n != 43)
		return -1;
	snprintf(out, FINGERPRINT_MAX, "SHA256:%.43s", b64);
	return 0;
}

static void
test_fingerprint_valid(void)
{
	char	 bad[FINGERPRINT_MAX];

	tap_ok(identity_fingerprint_valid(FP1, strlen(FP1)),
	    "a fingerprint is valid");
	tap_ok(!identity_fingerprint_valid(FP1, strlen(FP1) - 1),
	    "one digit short is not");
	snprintf(bad, sizeof(bad), "%s", FP1);
	bad[strlen(bad) - 1] = 'x';	/* low bits set: no 32-byte digest */
	tap_ok(!identity_fingerprint_valid(bad, strlen(bad)),
	    "a last digit with its low bits set is not");
	snprintf(bad, sizeof(bad), "%s", FP1);
	bad[10] = '-';
	tap_ok(!identity_fingerprint_valid(bad, strlen(bad)),
	    "a character outside base64 is not");
	bad[10] = '\0';
	tap_ok(!identity_fingerprint_valid(bad, strlen(FP1)),
	    "a NUL inside is not");
	snprintf(bad, sizeof(bad), "sha256%s", FP1 + 6);
	tap_ok(!identity_fingerprint_valid(bad, strlen(bad)),
	    "the prefix is case-sensitive");
}

/* Keys made by the openssl tool: the fingerprint must be what it says. */
static void
test_against_openssl(void)
{
	struct identity	 id, id2;
	char		 err[512], want[FINGERPRINT_MAX], again[FINGERPRINT_MAX];
	char		 cmd[2048];
	const char	*key = path("tool.key"), *rsa = path("tool-rsa.key");
	const char	*crt = path("tool.crt");
	int		 r;

	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm EC -pkeyopt "
	    "ec_paramgen_curve:P-256 -out '%s' 2>&1 && chmod 600 '%s' && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	    "-out '%s' 2>&1 && chmod 600 '%s'", key, key, rsa, rsa);
	if (run(cmd, NULL, 0) == -1) {
		tap_ok(1, "fingerprints against the openssl tool # SKIP "
		    "no openssl tool");
		return;
	}
	r = identity_load(&id, key, NULL, 0, "t", err, sizeof(err));
	tap_ok(r == 0, "a P-256 key from the openssl tool loads (%s)",
	    r == 0 ? "" : err);
	if (r == -1)
		return;
	tap_ok(openssl_fingerprint(key, want) == 0 &&
	    strcmp(id.fingerprint, want) == 0,
	    "its fingerprint is what openssl says: %s = %s", id.fingerprint,
	    want);
	tap_ok(identity_fingerprint(id.cert, again) == 0 &&
	    strcmp(again, want) == 0,
	    "identity_fingerprint of the certificate made in memory agrees");

	/* Re-issued certificates for one key: the fingerprint stays. */
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -new -key '%s' -subj "
	    "/CN=first -days 2 -out '%s' 2>&1", key, crt);
	r = run(cmd, NULL, 0);
	tap_ok(r == 0 && identity_load(&id2, key, crt, 0, "t", err,
	    sizeof(err)) == 0 && strcmp(id2.fingerprint, want) == 0,
	    "with a certificate from the tool, the same fingerprint");
	if (r == 0 && id2.key != NULL)
		identity_free(&id2);
	unlink(crt);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -new -key '%s' -subj "
	    "/CN=second -days 900 -out '%s' 2>&1", key, crt);
	r = run(cmd, NULL, 0);
	tap_ok(r == 0 && identity_load(&id2, key, crt, 0, "t", err,
	    sizeof(err)) == 0 && strcmp(id2.fingerprint, want) == 0,
	    "a certificate issued again for the key: the same fingerprint");
	if (r == 0 && id2.key != NULL)
		identity_free(&id2);
	identity_free(&id);

	r = identity_load(&id, rsa, NULL, 0, "t", err, sizeof(err));
	tap_ok(r == 0 && openssl_fingerprint(rsa, want) == 0 &&
	    strcmp(id.fingerprint, want) == 0,
	    "an RSA key (from a company CA, say) too: %s",
	    r == 0 ? id.fingerprint : err);
	if (r == 0)
		identity_free(&id);

	/* A certificate that belongs to another key is refused. */
	r = identity_load(&id, rsa, crt, 0, "t", err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "is not the certificate of the key") !=
	    NULL, "a certificate for another key is refused: %s", err);
}

static void
test_create(void)
{
	struct identity	 id, id2;
	char		 err[512], want[FINGERPRINT_MAX], name[256];
	const char	*key = path("made.key"), *crt = path("made.crt");
	char		*key_before, *key_after, *crt_before, *crt_after;
	const ASN1_TIME	*after;
	time_t		 t;
	int		 r, day, sec;

	umask(0);	/* modes come from identity.c, not from umask */
	r = identity_load(&id, key, crt, 1, "ptychatd", err, sizeof(err));
	umask(022);
	if (!tap_ok(r == 0, "a missing key and certificate are made (%s)",
	    r == 0 ? "" : err))
		return;
	tap_ok(file_mode(key) == 0600 && file_mode(crt) == 0600,
	    "both files are 0600 under umask 0 (%04o, %04o)", file_mode(key),
	    file_mode(crt));
	tap_ok(EVP_PKEY_is_a(id.key, "EC") &&
	    EVP_PKEY_get_group_name(id.key, name, sizeof(name), NULL) &&
	    strcmp(name, "prime256v1") == 0, "the key is P-256 (%s)", name);
	tap_ok(X509_verify(id.cert, id.key) == 1 &&
	    X509_check_private_key(id.cert, id.key) == 1,
	    "the certificate is self-signed by the key");
	X509_NAME_get_text_by_NID(X509_get_subject_name(id.cert),
	    NID_commonName, name, sizeof(name));
	tap_ok(strcmp(name, "ptychatd") == 0, "its CN is the one asked for");
	after = X509_get0_notAfter(id.cert);
	t = time(NULL);
	day = 0;
	r = ASN1_TIME_diff(&day, &sec, NULL, after);
	tap_ok(r && day >= 3649 && day <= 3651,
	    "it is valid for ten years (%d days)", day);
	tap_ok(X509_cmp_time(X509_get0_notBefore(id.cert), &t) < 0,
	    "and valid now");
	tap_ok(openssl_fingerprint(key, want) == 0 &&
	    strcmp(id.fingerprint, want) == 0,
	    "the file's fingerprint, by the openssl tool, is the one loaded");

	key_before = read_file(key, NULL);
	crt_before = read_file(crt, NULL);
	r = identity_load(&id2, key, crt, 1, "other", err, sizeof(err));
	key_after = read_file(key, NULL);
	crt_after = read_file(crt, NULL);
	tap_ok(r == 0 && strcmp(id.fingerprint, id2.fingerprint) == 0,
	    "loaded again: the same fingerprint (%s)", r == 0 ? "" : err);
	tap_ok(key_before != NULL && key_after != NULL && crt_before != NULL &&
	    crt_after != NULL && strcmp(key_before, key_after) == 0 &&
	    strcmp(crt_before, crt_after) == 0,
	    "with create, existing files are read, not rewritten");
	free(key_after);
	free(crt_after);
	if (r == 0)
		identity_free(&id2);

	/* A lost certificate is made again for the same key. */
	unlink(crt);
	r = identity_load(&id2, key, crt, 1, "ptychatd", err, sizeof(err));
	key_after = read_file(key, NULL);
	tap_ok(r == 0 && strcmp(id2.fingerprint, id.fingerprint) == 0 &&
	    file_mode(crt) == 0600 && key_after != NULL &&
	    strcmp(key_after, key_before) == 0,
	    "a missing certificate is made for the key there (%s)",
	    r == 0 ? "" : err);
	free(key_after);
	if (r == 0)
		identity_free(&id2);

	/* A certificate without its key: nothing is made. */
	unlink(key);
	r = identity_load(&id2, key, crt, 1, "ptychatd", err, sizeof(err));
	tap_ok(r == -1 && access(key, F_OK) == -1 &&
	    strstr(err, "exists but its key") != NULL,
	    "a certificate whose key is gone is not replaced: %s", err);
	r = identity_load(&id2, key, NULL, 0, "ptychat", err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "No such file") != NULL &&
	    access(key, F_OK) == -1, "without create, a missing key is an "
	    "error: %s", err);

	/* Something that is not a key is never overwritten. */
	write_file(key, "not a key\n", 10, 0600);
	r = identity_load(&id2, key, NULL, 1, "ptychat", err, sizeof(err));
	key_after = read_file(key, NULL);
	tap_ok(r == -1 && strstr(err, "not a PEM private key") != NULL &&
	    key_after != NULL && strcmp(key_after, "not a key\n") == 0,
	    "a key file that is not a key is refused, and left: %s", err);
	free(key_after);
	tap_ok(id2.key == NULL && id2.cert == NULL,
	    "a failed load leaves the identity empty");
	free(key_before);
	free(crt_before);
	identity_free(&id);

	/* With certfile NULL, the client's case: a key alone. */
	unlink(key);
	r = identity_load(&id, key, NULL, 1, "ptychat", err, sizeof(err));
	tap_ok(r == 0 && file_mode(key) == 0600 && id.cert != NULL &&
	    access(path("made.key.crt"), F_OK) == -1,
	    "a key alone is made, its certificate kept in memory (%s)",
	    r == 0 ? "" : err);
	if (r == 0)
		identity_free(&id);
	unlink(key);
	unlink(crt);
}

/* Processes racing to make the same identity all end up with one key. */
static void
test_race(void)
{
	struct identity	 id;
	char		 err[512], fps[RACERS][FINGERPRINT_MAX], cmd[600];
	char		 left[64];
	int		 fds[RACERS][2], i, same = 1, status, ok = 1;
	pid_t		 pids[RACERS];
	ssize_t		 n;

	/* A child must not print what the parent had buffered (TSan's
	 * _exit flushes it). */
	fflush(stdout);
	for (i = 0; i < RACERS; i++) {
		if (pipe2(fds[i], O_CLOEXEC) == -1 ||
		    (pids[i] = fork()) == -1) {
			tap_ok(0, "pipe and fork");
			return;
		}
		if (pids[i] == 0) {
			if (identity_load(&id, path("race.key"),
			    path("race.crt"), 1, "race", err,
			    sizeof(err)) == -1)
				snprintf(id.fingerprint,
				    sizeof(id.fingerprint), "error");
			(void)write(fds[i][1], id.fingerprint,
			    sizeof(id.fingerprint));
			_exit(0);
		}
		close(fds[i][1]);
	}
	for (i = 0; i < RACERS; i++) {
		n = read(fds[i][0], fps[i], sizeof(fps[i]));
		close(fds[i][0]);
		if (n != (ssize_t)sizeof(fps[i]) ||
		    waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			ok = 0;
			continue;
		}
		fps[i][FINGERPRINT_MAX - 1] = '\0';
		if (strcmp(fps[i], fps[0]) != 0 ||
		    !identity_fingerprint_valid(fps[i], strlen(fps[i])))
			same = 0;
	}
	tap_ok(ok && same, "%d processes making one identity at once all "
	    "get the same key (%s)", RACERS, fps[0]);
	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -c '\\.tmp\\.'", tmpdir);
	run(cmd, left, sizeof(left));
	tap_ok(strcmp(left, "0") == 0, "no temporary file is left behind "
	    "(%s)", left);
	unlink(path("race.key"));
	unlink(path("race.crt"));
}

static void
test_modes(void)
{
	struct identity	 id;
	char		 err[512], dir[512], want[600];
	const char	*key = path("mode.key");
	static const int too_open[] = { 0640, 0604, 0620, 0644, 0660, 0602 };
	size_t		 i;
	int		 r;

	r = identity_load(&id, key, NULL, 1, "ptychat", err, sizeof(err));
	if (!tap_ok(r == 0, "a key to play with (%s)", r == 0 ? "" : err))
		return;
	identity_free(&id);
	snprintf(want, sizeof(want), "chmod 600 %s", key);
	for (i = 0; i < sizeof(too_open) / sizeof(too_open[0]); i++) {
		chmod(key, (mode_t)too_open[i]);
		r = identity_load(&id, key, NULL, 1, "ptychat", err,
		    sizeof(err));
		tap_ok(r == -1 && strstr(err, want) != NULL &&
		    strchr(err, '\n') == NULL,
		    "a key file with mode %04o is refused: %s", too_open[i],
		    err);
		if (r == 0)
			identity_free(&id);
	}
	chmod(key, 0400);
	r = identity_load(&id, key, NULL, 0, "ptychat", err, sizeof(err));
	tap_ok(r == 0, "0400 is fine (%s)", r == 0 ? "" : err);
	if (r == 0)
		identity_free(&id);
	unlink(key);

	/* identity_dir: XDG_CONFIG_HOME, made 0700 where missing. */
	setenv("XDG_CONFIG_HOME", path("xdg"), 1);
	umask(0);
	r = identity_dir(dir, sizeof(dir), err, sizeof(err));
	umask(022);
	tap_ok(r == 0 && strcmp(dir, path("xdg/ptychat")) == 0 &&
	    file_mode(path("xdg")) == 0700 &&
	    file_mode(path("xdg/ptychat")) == 0700,
	    "identity_dir makes $XDG_CONFIG_HOME/ptychat 0700 (%s, %04o)",
	    r == 0 ? dir : err, file_mode(path("xdg/ptychat")));
	chmod(path("xdg/ptychat"), 0755);
	r = identity_dir(dir, sizeof(dir), err, sizeof(err));
	tap_ok(r == 0 && file_mode(path("xdg/ptychat")) == 0755,
	    "a directory that exists is left as it is");

	/* Without it (or with a relative one), $HOME/.config/ptychat. */
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	setenv("HOME", path("home"), 1);
	mkdir(path("home"), 0755);
	r = identity_dir(dir, sizeof(dir), err, sizeof(err));
	tap_ok(r == 0 && strcmp(dir, path("home/.config/ptychat")) == 0 &&
	    file_mode(path("home/.config/ptychat")) == 0700,
	    "a relative XDG_CONFIG_HOME is ignored: %s", r == 0 ? dir : err);
	unsetenv("XDG_CONFIG_HOME");
	rmdir(path("home/.config/ptychat"));
	rmdir(path("home/.config"));
	r = identity_dir(dir, sizeof(dir), err, sizeof(err));
	tap_ok(r == 0 && strcmp(dir, path("home/.config/ptychat")) == 0 &&
	    file_mode(path("home/.config")) == 0700,
	    "no XDG_CONFIG_HOME: $HOME/.config/ptychat (%s)",
	    r == 0 ? dir : err);

	write_file(path("plain"), "x", 1, 0600);
	setenv("XDG_CONFIG_HOME", path("plain"), 1);
	r = identity_dir(dir, sizeof(dir), err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "Not a directory") != NULL,
	    "a file where the directory should be: %s", err);
}

static void
test_parse_line(void)
{
	struct known_line	 kl;
	char			 line[256];
	int			 r;

	snprintf(line, sizeof(line), " \texample.org\t 6666  %s \r", FP1);
	r = known_hosts_parse_line(line, strlen(line), &kl);
	tap_ok(r == 1 && kl.hostlen == 11 &&
	    memcmp(kl.host, "example.org", 11) == 0 && kl.portlen == 4 &&
	    memcmp(kl.port, "6666", 4) == 0 && kl.fplen == strlen(FP1) &&
	    memcmp(kl.fp, FP1, kl.fplen) == 0,
	    "a line with spaces, tabs and CR parses into its three fields");
	tap_ok(known_hosts_parse_line("", 0, &kl) == 0 &&
	    known_hosts_parse_line(" \t\r", 3, &kl) == 0 &&
	    known_hosts_parse_line("  # x y z", 9, &kl) == 0,
	    "blank lines and comments are neither entries nor bad");
	snprintf(line, sizeof(line), "h 1 %s extra", FP1);
	tap_ok(known_hosts_parse_line(line, strlen(line), &kl) == -1,
	    "four fields are bad");
	tap_ok(known_hosts_parse_line("h 1", 3, &kl) == -1,
	    "two fields are bad");
	tap_ok(known_hosts_parse_line("h 1 SHA256:abc", 14, &kl) == -1,
	    "a short fingerprint is bad");
	snprintf(line, sizeof(line), "hXst 1 %s", FP1);
	line[1] = '\0';
	tap_ok(known_hosts_parse_line(line, 7 + strlen(FP1), &kl) == -1,
	    "a NUL byte is bad");
	snprintf(line, sizeof(line), "h\xc3\xa9 1 %s", FP1);
	tap_ok(known_hosts_parse_line(line, strlen(line), &kl) == -1,
	    "bytes beyond ASCII are bad");
	snprintf(line, sizeof(line), "h 1 %s\r\r", FP1);
	tap_ok(known_hosts_parse_line(line, strlen(line), &kl) == -1,
	    "only one CR is forgiven");
}

static void
test_known_hosts(void)
{
	const char	*file = path("known_hosts");
	char		 err[512], rec[FINGERPRINT_MAX], want[512], *text;
	char		*big;
	size_t		 len;
	int		 r, line;

	unlink(file);
	r = known_hosts_check(file, "example.org", "6666", FP1, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_NEW, "a missing file: the host is new");
	r = known_hosts_add(file, "example.org", "6666", FP1, err,
	    sizeof(err));
	text = read_file(file, NULL);
	snprintf(want, sizeof(want), "example.org 6666 %s\n", FP1);
	tap_ok(r == 0 && text != NULL && strcmp(text, want) == 0 &&
	    file_mode(file) == 0600,
	    "known_hosts_add makes the file, 0600, with one line: %.*s",
	    text != NULL ? (int)strcspn(text, "\n") : 0,
	    text != NULL ? text : "");
	free(text);
	r = known_hosts_check(file, "example.org", "6666", FP1, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_MATCH, "the same key: a match");
	r = known_hosts_check(file, "EXAMPLE.org", "6666", FP1, NULL, NULL,
	    err, sizeof(err));
	tap_ok(r == KNOWN_MATCH, "host names match whatever their case");
	r = known_hosts_check(file, "example.org", "6667", FP2, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_NEW, "another port is another server");
	memset(rec, 0, sizeof(rec));
	line = 0;
	r = known_hosts_check(file, "example.org", "6666", FP2, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_CHANGED && strcmp(rec, FP1) == 0 && line == 1,
	    "another key: changed, with the recorded key and line 1 (%s:%d)",
	    rec, line);

	/* Appending after a last line with no newline. */
	snprintf(want, sizeof(want), "# mine\r\n\r\n   \n10.0.0.1 22 %s\r\n"
	    "h 1 SHA256:bad\n" "h 1 %s extra\n" "h 1\n" "h\n"
	    "\x01\xff\xfe garbage \x1b[31m\n" "# last, no newline", FP3, FP3);
	write_file(file, want, strlen(want), 0600);
	r = known_hosts_add(file, "h", "1", FP1, err, sizeof(err));
	text = read_file(file, &len);
	tap_ok(r == 0 && text != NULL && len > strlen(want) &&
	    memcmp(text, want, strlen(want)) == 0 &&
	    strncmp(text + strlen(want), "\nh 1 ", 5) == 0,
	    "an entry after a last line without newline goes on a new line");
	free(text);
	r = known_hosts_check(file, "10.0.0.1", "22", FP3, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_MATCH, "a CRLF line matches");
	r = known_hosts_check(file, "10.0.0.1", "22", FP2, rec, &line,
	    err, sizeof(err));
	tap_ok(r == KNOWN_CHANGED && line == 4 && strcmp(rec, FP3) == 0,
	    "and counts its line among comments and blank lines (line %d)",
	    line);
	r = known_hosts_check(file, "h", "1", FP3, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_CHANGED && line == 11 && strcmp(rec, FP1) == 0,
	    "bad lines for the host are skipped, never matched (line %d)",
	    line);
	r = known_hosts_check(file, "h", "1", FP1, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_MATCH, "the good line after them matches");

	/* Two keys for one server: either matches; a third is a change. */
	r = known_hosts_add(file, "h", "1", FP2, err, sizeof(err));
	tap_ok(r == 0 && known_hosts_check(file, "h", "1", FP2, rec, &line,
	    err, sizeof(err)) == KNOWN_MATCH && known_hosts_check(file, "h",
	    "1", FP1, rec, &line, err, sizeof(err)) == KNOWN_MATCH,
	    "with two lines for a server, either key matches");
	r = known_hosts_check(file, "h", "1", FP3, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_CHANGED && line == 11,
	    "a third key names the first line (%d)", line);

	/* Long lines: a comment, a host, trailing blanks, all past 4 KiB. */
	len = 20000;
	big = malloc(3 * len + 512);
	memset(big, '#', len);
	memset(big + len, 'a', len);
	memset(big + 2 * len, ' ', len);
	/* Lines 1-5: a comment, a long host, h 2 with blanks, h 2 with a
	 * fourth field far out, h 3. */
	text = malloc(8 * len + 1024);
	len = 0;
	memcpy(text + len, big, 20000);
	len += 20000;
	text[len++] = '\n';
	memcpy(text + len, big + 20000, 20000);
	len += 20000;
	len += (size_t)sprintf(text + len, " 1 %s\nh 2 %s", FP1, FP1);
	memcpy(text + len, big + 40000, 20000);
	len += 20000;
	len += (size_t)sprintf(text + len, "\r\nh 2 %s", FP2);
	memcpy(text + len, big + 40000, 20000);
	len += 20000;
	len += (size_t)sprintf(text + len, "x\nh 3 %s\n", FP3);
	write_file(file, text, len, 0600);
	big[40000] = '\0';
	r = known_hosts_check(file, big + 20000, "1", FP2, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_CHANGED && line == 2 && strcmp(rec, FP1) == 0,
	    "a 20000-byte host name after a 20000-byte comment (line %d)",
	    line);
	r = known_hosts_check(file, "h", "2", FP1, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_MATCH,
	    "20000 trailing blanks and a CR are still one entry");
	r = known_hosts_check(file, "h", "2", FP2, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_CHANGED && line == 3,
	    "a long line with a fourth field far out is skipped");
	r = known_hosts_check(file, "h", "3", FP3, rec, &line, err,
	    sizeof(err));
	tap_ok(r == KNOWN_MATCH, "and the line after it is read (line 5)");
	free(text);
	free(big);

	/* What known_hosts_add will not write. */
	write_file(file, "", 0, 0600);
	tap_ok(known_hosts_add(file, "a b", "1", FP1, err, sizeof(err)) == -1 &&
	    known_hosts_add(file, "a\nb", "1", FP1, err, sizeof(err)) == -1 &&
	    known_hosts_add(file, "#a", "1", FP1, err, sizeof(err)) == -1 &&
	    known_hosts_add(file, "a", "", FP1, err, sizeof(err)) == -1 &&
	    known_hosts_add(file, "a", "1 2", FP1, err, sizeof(err)) == -1 &&
	    known_hosts_add(file, "a", "1", "SHA256:x", err,
	    sizeof(err)) == -1 && file_mode(file) == 0600 &&
	    (text = read_file(file, NULL)) != NULL && text[0] == '\0',
	    "hosts, ports or keys that would break the file are refused: %s",
	    err);
	free(text);

	r = known_hosts_check(tmpdir, "h", "1", FP1, rec, &line, err,
	    sizeof(err));
	tap_ok(r == -1 && strstr(err, tmpdir) != NULL,
	    "a file that cannot be read is an error: %s", err);
	r = known_hosts_add(path("no/such/dir"), "h", "1", FP1, err,
	    sizeof(err));
	tap_ok(r == -1 && strstr(err, "No such file") != NULL,
	    "and one that cannot be written: %s", err);
	unlink(file);
}

/* Parses text as file "F"; the error, or "" and the list. */
static int
parse(const char *text, struct client_list *list, char *err, size_t len)
{
	err[0] = '\0';
	list->v = NULL;
	list->n = 0;
	return clients_parse(text, strlen(text), "F", list, err, len);
}

static void
test_clients(void)
{
	struct client_list	 list, kept;
	struct client_entry	 sentinel;
	char			 err[512], text[4096], name[128], *big;
	size_t			 i;
	int			 r;
	/* Each line is before, FP1 (unless before is NULL), after. */
	static const struct {
		const char	*before;
		const char	*after;
		const char	*err;
	} bad[] = {
		{ NULL, "SHA256:abc alice",	"F:2: not a fingerprint" },
		{ "alice ", "",			"F:2: not a fingerprint" },
		{ "", "",			"F:2: no name after the "
						"fingerprint" },
		{ "", "   \t ",			"F:2: no name after the "
						"fingerprint" },
		{ "", "\tal\tice",		"F:2: name not printable" },
		{ "", " al\x1bice",		"F:2: name not printable" },
		{ "", " al\xc3ice",		"F:2: name not printable" },
		{ "", " \xc2\x9b",		"F:2: name not printable" },
		{ "", " al\rice",		"F:2: name not printable" },
		{ "", "=\talice",		NULL },
		{ "", "== alice",		"F:2: not a fingerprint" },
		{ "", "A alice",		"F:2: not a fingerprint" },
		{ NULL, "sha256:VzbxuLlKl9CoWDQ53b0DynJVGT/JHNEitb17jJP3g5w "
		    "alice",			"F:2: not a fingerprint" },
	};

	snprintf(text, sizeof(text), "# who may connect\r\n\r\n"
	    "%s alice\r\n"
	    "  \t# indented comment\n"
	    "\t%s\t  Bob  Smith  \n"
	    "%s=  Jos\xc3\xa9 \xe2\x9c\x93\n"
	    "%s alice\n"
	    "# the end, without a newline", FP1, FP2, FP3,
	    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFA");
	r = parse(text, &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 4, "a good file: four entries (%s)", err);
	if (r == 0 && list.n == 4) {
		tap_ok(strcmp(list.v[0].fingerprint, FP1) == 0 &&
		    strcmp(list.v[0].name, "alice") == 0,
		    "a CRLF line: '%s'", list.v[0].name);
		tap_ok(strcmp(list.v[1].name, "Bob  Smith") == 0,
		    "tabs around, inner spaces kept, outer ones not: '%s'",
		    list.v[1].name);
		tap_ok(strcmp(list.v[2].fingerprint, FP3) == 0 &&
		    strcmp(list.v[2].name, "Jos\xc3\xa9 \xe2\x9c\x93") == 0,
		    "a padded fingerprint is taken unpadded; a UTF-8 name");
		tap_ok(strcmp(clients_find(&list, FP2), "Bob  Smith") == 0 &&
		    strcmp(clients_find(&list, list.v[3].fingerprint),
		    "alice") == 0 && clients_find(&list,
		    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFE") ==
		    NULL, "clients_find: one name for two keys, and a "
		    "stranger");
	}
	clients_free(&list);
	tap_ok(list.v == NULL && list.n == 0, "clients_free empties the list");

	r = parse("", &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 0 && clients_find(&list, FP1) == NULL,
	    "an empty file lets nobody in");
	r = parse("# nobody\n\n", &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 0, "nor does one of comments");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[512];

		snprintf(line, sizeof(line), "%s%s%s", bad[i].before != NULL ?
		    bad[i].before : "", bad[i].before != NULL ? FP1 : "",
		    bad[i].after);
		snprintf(text, sizeof(text), "# first\n%s\n%s x\n", line, FP2);
		r = parse(text, &list, err, sizeof(err));
		if (bad[i].err == NULL)
			tap_ok(r == 0 && list.n == 2, "line %zu is good (%s)",
			    i, err);
		else
			tap_ok(r == -1 && strncmp(err, bad[i].err,
			    strlen(bad[i].err)) == 0 && list.v == NULL,
			    "bad line %zu: %s", i, err);
		clients_free(&list);
	}
	r = clients_parse("# a\n\0 x\n", 8, "F", &list, err, sizeof(err));
	tap_ok(r == -1 && strcmp(err, "F:2: a NUL byte") == 0, "%s", err);

	/* Duplicates: a key twice is an error, naming both lines. */
	snprintf(text, sizeof(text), "%s a\n%s b\n#\n%s c\n%s d\n%s e\n",
	    FP1, FP2, FP3, FP2, FP1);
	r = parse(text, &list, err, sizeof(err));
	snprintf(name, sizeof(name), "F:5: %s is listed already, on line 2 "
	    "as b", FP2);
	tap_ok(r == -1 && strcmp(err, name) == 0,
	    "a key listed twice: the first repeat is named: %s", err);
	snprintf(text, sizeof(text), "%s a\r\n%s= b\r\n", FP1, FP1);
	r = parse(text, &list, err, sizeof(err));
	tap_ok(r == -1 && strncmp(err, "F:2: ", 5) == 0,
	    "padded or not, it is the same key: %s", err);

	/* Names: 63 bytes, not 64; long lines. */
	memset(name, 'n', 64);
	name[63] = '\0';
	snprintf(text, sizeof(text), "%s %s\n", FP1, name);
	r = parse(text, &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 1 && strlen(list.v[0].name) == 63,
	    "a 63-byte name is fine");
	clients_free(&list);
	name[63] = 'n';
	name[64] = '\0';
	snprintf(text, sizeof(text), "%s %s\n", FP1, name);
	r = parse(text, &list, err, sizeof(err));
	tap_ok(r == -1 && strcmp(err, "F:1: name longer than 63 bytes") == 0,
	    "a 64-byte one is not: %s", err);
	big = malloc(3 * 20000 + 512);
	memset(big, '#', 20000);
	big[20000] = '\n';
	snprintf(big + 20001, 512, "%s x\n%s ", FP1, FP2);
	i = strlen(big);
	memset(big + i, 'y', 20000);
	big[i + 20000] = '\0';
	r = parse(big, &list, err, sizeof(err));
	tap_ok(r == -1 && strcmp(err, "F:3: name longer than 63 bytes") == 0,
	    "a 20000-byte name after a 20000-byte comment: %s", err);
	memset(big + i, ' ', 20000);
	big[i] = 'y';
	r = parse(big, &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 2 && strcmp(list.v[1].name, "y") == 0,
	    "20000 trailing blanks are not part of a name (%s)", err);
	clients_free(&list);
	free(big);

	/* clients_load: the file, and a failure leaves the list alone. */
	snprintf(text, sizeof(text), "%s alice\n%s bob\n", FP1, FP2);
	write_file(path("clients"), text, strlen(text), 0644);
	r = clients_load(path("clients"), &list, err, sizeof(err));
	tap_ok(r == 0 && list.n == 2 &&
	    strcmp(clients_find(&list, FP2), "bob") == 0,
	    "clients_load reads a file (%s)", r == 0 ? "" : err);
	snprintf(text, sizeof(text), "%s alice\nbad line\n", FP1);
	write_file(path("clients"), text, strlen(text), 0644);
	memset(&sentinel, 0, sizeof(sentinel));
	kept.v = &sentinel;
	kept.n = 1;
	r = clients_load(path("clients"), &kept, err, sizeof(err));
	snprintf(name, sizeof(name), "%s:2: not a fingerprint",
	    path("clients"));
	tap_ok(r == -1 && strncmp(err, name, strlen(name)) == 0 &&
	    kept.v == &sentinel && kept.n == 1,
	    "a bad line: FILE:LINE, and the list untouched: %s", err);
	r = clients_load(path("none"), &kept, err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "No such file") != NULL &&
	    kept.v == &sentinel, "a missing file: %s", err);
	r = clients_load(tmpdir, &kept, err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "not a regular file") != NULL,
	    "a directory: %s", err);
	clients_free(&list);
	unlink(path("clients"));
}

/* identity_ssl_error names the first error queued, and empties the queue. */
static void
test_ssl_error(void)
{
	char		 err[256], want[256];
	const char	*first;

	ERR_clear_error();
	ERR_raise(ERR_LIB_EVP, EVP_R_DECODE_ERROR);
	ERR_raise(ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH);
	first = ERR_reason_error_string(ERR_peek_error());
	snprintf(want, sizeof(want), "certificate: %s", first != NULL ?
	    first : "?");
	identity_ssl_error(err, sizeof(err), "certificate");
	tap_ok(strcmp(err, want) == 0 && ERR_peek_error() == 0,
	    "identity_ssl_error gives the first of two errors: %s", err);
	identity_ssl_error(err, sizeof(err), "SSL_new");
	tap_ok(strcmp(err, "SSL_new failed") == 0,
	    "and with none queued: %s", err);
}

int
main(void)
{
	char cmd[600];

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_fingerprint_valid();
	test_against_openssl();
	test_create();
	test_race();
	test_modes();
	test_parse_line();
	test_known_hosts();
	test_clients();
	test_ssl_error();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmpdir);
	return tap_done();
}
