/*
 * Who is who: our own key and certificate, fingerprints, the servers we
 * have met (known_hosts) and the clients the server lets in (--clients).
 *
 * Files that hold a key are made once and never replaced: they are
 * written to a temporary file and linked into place, so a second process
 * making the same file at the same moment loses the race cleanly and
 * reads what the winner wrote.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ptychat.h"

#define IDENTITY_PREFIX		"SHA256:"
#define IDENTITY_PREFIX_LEN	7
#define IDENTITY_B64_LEN	43	/* 32 bytes, unpadded */
#define IDENTITY_DAYS		3650	/* a made certificate's life */
#define IDENTITY_FILE_MAX	(16 * 1024 * 1024)	/* a clients file */

/*
 * Puts "what: OpenSSL's reason" in err and empties the error queue.  The
 * reason is the earliest error queued, where OpenSSL found the fault; the
 * ones after it are its callers' view (a certificate whose key does not
 * decode is "decode error", then "ee key too small").
 */
void
identity_ssl_error(char *err, size_t errlen, const char *what)
{
	const char	*reason;
	unsigned long	 e;

	e = ERR_peek_error();
	reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	if (reason != NULL)
		snprintf(err, errlen, "%s: %s", what, reason);
	else
		snprintf(err, errlen, "%s failed", what);
	ERR_clear_error();
}

/*
 * The directory for our files: $XDG_CONFIG_HOME/ptychat, or
 * $HOME/.config/ptychat (XDG ignores a relative XDG_CONFIG_HOME).  It
 * and its parent are made 0700 when missing; one that exists is left as
 * it is.  Returns 0, or -1 with one line in err.
 */
int
identity_dir(char *path, size_t len, char *err, size_t errlen)
{
	const char	*base, *home;
	struct passwd	*pw;
	char		 parent[PATH_MAX];
	int		 n;

	base = getenv("XDG_CONFIG_HOME");
	if (base != NULL && base[0] == '/')
		n = snprintf(parent, sizeof(parent), "%s", base);
	else {
		home = getenv("HOME");
		if (home == NULL || home[0] != '/') {
			pw = getpwuid(getuid());
			home = pw != NULL ? pw->pw_dir : NULL;
		}
		if (home == NULL || home[0] != '/') {
			snprintf(err, errlen, "no home directory: set HOME or "
			    "XDG_CONFIG_HOME");
			return -1;
		}
		n = snprintf(parent, sizeof(parent), "%s/.config", home);
	}
	if (n < 0 || (size_t)n >= sizeof(parent) ||
	    (n = snprintf(path, len, "%s/ptychat", parent)) < 0 ||
	    (size_t)n >= len) {
		snprintf(err, errlen, "%s: name too long", parent);
		return -1;
	}
	if (io_mkdir(parent) == -1) {
		snprintf(err, errlen, "%s: %s", parent, strerror(errno));
		return -1;
	}
	if (io_mkdir(path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Whether the len bytes at s are a fingerprint as we write them. */
int
identity_fingerprint_valid(const char *s, size_t len)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	size_t			 i;

	if (len != IDENTITY_PREFIX_LEN + IDENTITY_B64_LEN ||
	    memcmp(s, IDENTITY_PREFIX, IDENTITY_PREFIX_LEN) != 0)
		return 0;
	for (i = IDENTITY_PREFIX_LEN; i < len; i++)
		if (s[i] == '\0' || (p = strchr(b64, s[i])) == NULL)
			return 0;
	/* 43 digits carry 258 bits: the last two of 256 are zero. */
	return ((p - b64) & 3) == 0;
}

/* The fingerprint of key into out; returns 0, or -1 (OpenSSL's queue). */
static int
identity_key_fingerprint(EVP_PKEY *key, char out[FINGERPRINT_MAX])
{
	unsigned char	*der = NULL, digest[EVP_MAX_MD_SIZE];
	unsigned char	 b64[EVP_ENCODE_LENGTH(EVP_MAX_MD_SIZE)];
	unsigned int	 dlen;
	int		 len, ok;

	if ((len = i2d_PUBKEY(key, &der)) <= 0)
		return -1;
	ok = EVP_Digest(der, (size_t)len, digest, &dlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || dlen != 32)
		return -1;
	len = EVP_EncodeBlock(b64, digest, (int)dlen);
	while (len > 0 && b64[len - 1] == '=')
		len--;
	snprintf(out, FINGERPRINT_MAX, "%s%.*s", IDENTITY_PREFIX, len,
	    (const char *)b64);
	return 0;
}

/*
 * "SHA256:" and the unpadded base64 of the SHA-256 of cert's public key
 * (its DER SubjectPublicKeyInfo), as OpenSSH writes it.  Returns 0, or
 * -1 when the certificate has no key OpenSSL can encode.
 */
int
identity_fingerprint(X509 *cert, char out[FINGERPRINT_MAX])
{
	EVP_PKEY	*key;
	int		 r;

	r = (key = X509_get0_pubkey(cert)) == NULL ? -1 :
	    identity_key_fingerprint(key, out);
	if (r == -1)
		ERR_clear_error();
	return r;
}

/*
 * Opens file, a regular file, for reading, with its status in *st.
 * Returns the fd, or -1 with one line in err and errno kept (ENOENT: it
 * does not exist).
 */
static int
identity_open(const char *file, struct stat *st, char *err, size_t errlen)
{
	int fd, saved;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, st) == -1) {
		saved = errno;
		snprintf(err, errlen, "%s: %s", file, strerror(saved));
		if (fd != -1)
			close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* A key file is never read through a prompt for a passphrase. */
static int
identity_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * Reads the private key in file into *key.  Returns 0; 1 when the file
 * does not exist; -1 with one line in err, also when it is readable or
 * writable by anyone but its owner.
 */
static int
identity_read_key(const char *file, EVP_PKEY **key, char *err,
    size_t errlen)
{
	struct stat	 st;
	BIO		*bio;
	int		 fd;

	if ((fd = identity_open(file, &st, err, errlen)) == -1)
		return errno == ENOENT ? 1 : -1;
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: permissions %04o are too open for "
		    "a private key; run chmod 600 %s", file,
		    (unsigned)(st.st_mode & 07777), file);
		close(fd);
		return -1;
	}
	if ((bio = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		identity_ssl_error(err, errlen, file);
		return -1;
	}
	*key = PEM_read_bio_PrivateKey(bio, NULL, identity_no_passphrase,
	    NULL);
	BIO_free(bio);
	if (*key == NULL) {
		snprintf(err, errlen, "%s: not a PEM private key without a "
		    "passphrase", file);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Reads the certificate in file; returns 0, 1 when missing, or -1. */
static int
identity_read_cert(const char *file, X509 **cert, char *err, size_t errlen)
{
	struct stat	 st;
	BIO		*bio;
	int		 fd;

	if ((fd = identity_open(file, &st, err, errlen)) == -1)
		return errno == ENOENT ? 1 : -1;
	if ((bio = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		identity_ssl_error(err, errlen, file);
		return -1;
	}
	*cert = PEM_read_bio_X509(bio, NULL, identity_no_passphrase, NULL);
	BIO_free(bio);
	if (*cert == NULL) {
		snprintf(err, errlen, "%s: not a PEM certificate", file);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Adds extension nid with value to cert; returns 0, or -1. */
static int
identity_add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/*
 * A self-signed certificate for key, with cn as its subject, valid from
 * an hour ago (for clocks a little behind) for IDENTITY_DAYS.  Returns
 * it, or NULL (OpenSSL's queue).
 */
static X509 *
identity_make_cert(EVP_PKEY *key, const char *cn)
{
	unsigned char	 serial[8];
	X509		*cert;
	X509_NAME	*name;
	BIGNUM		*bn = NULL;
	int		 ok;

	if ((cert = X509_new()) == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7F;	/* positive, as RFC 5280 asks */
	serial[0] |= 0x01;	/* and never zero */
	ok = (bn = BN_bin2bn(serial, sizeof(serial), NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	if (!ok)
		goto fail;
	if (!X509_set_version(cert, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -60 * 60) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), IDENTITY_DAYS, 0,
	    NULL) == NULL ||
	    !X509_set_pubkey(cert, key))
		goto fail;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name))
		goto fail;
	if (identity_add_ext(cert, NID_basic_constraints,
	    "critical,CA:FALSE") == -1 ||
	    identity_add_ext(cert, NID_key_usage,
	    "critical,digitalSignature") == -1 ||
	    identity_add_ext(cert, NID_ext_key_usage,
	    "serverAuth,clientAuth") == -1 ||
	    identity_add_ext(cert, NID_subject_key_identifier, "hash") == -1)
		goto fail;
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		goto fail;
	return cert;
fail:
	X509_free(cert);
	return NULL;
}

/*
 * Writes the len bytes at data to file, mode 0600, unless file exists:
 * into a temporary file in the same directory first, which is then
 * linked to its name, so that file is either whole or absent and never
 * replaced.  Returns 0; 1 when file already exists; -1 with one line in
 * err.
 */
static int
identity_write_new(const char *file, const void *data, size_t len,
    char *err, size_t errlen)
{
	char	 tmp[PATH_MAX], dir[PATH_MAX], *slash;
	int	 fd, dfd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", file) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "%s: name too long", file);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) == -1 || io_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	r = link(tmp, file);
	if (r == -1 && errno != EEXIST)
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
	else if (r == -1)
		r = 1;
	unlink(tmp);
	if (r != 0)
		return r;
	/* The new name outlives a crash too. */
	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Writes the PEM of key (or cert) to a new file; see identity_write_new. */
static int
identity_write_pem(const char *file, EVP_PKEY *key, X509 *cert, char *err,
    size_t errlen)
{
	BIO	*bio;
	char	*data;
	long	 len;
	int	 r;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		identity_ssl_error(err, errlen, file);
		return -1;
	}
	if ((key != NULL && !PEM_write_bio_PrivateKey(bio, key, NULL, NULL,
	    0, NULL, NULL)) ||
	    (cert != NULL && !PEM_write_bio_X509(bio, cert))) {
		BIO_free(bio);
		identity_ssl_error(err, errlen, file);
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	r = identity_write_new(file, data, (size_t)len, err, errlen);
	/* The key's bytes do not linger in freed memory. */
	if (key != NULL)
		OPENSSL_cleanse(data, (size_t)len);
	BIO_free(bio);
	return r;
}

/* Whether file exists (anything but ENOENT counts as yes). */
static int
identity_exists(const char *file)
{
	struct stat st;

	return stat(file, &st) == 0 || errno != ENOENT;
}

/*
 * Loads keyfile and certfile (certfile NULL: a key alone, with a
 * self-signed certificate made in memory).  With create, a missing key
 * file is made: a P-256 key, written atomically, 0600, never
 * overwriting; and so is a missing certificate file, self-signed for cn,
 * for the key in keyfile.  A key file open to group or others is
 * refused.  Returns 0, or -1 with one line in err and id all zero.
 */
int
identity_load(struct identity *id, const char *keyfile,
    const char *certfile, int create, const char *cn, char *err,
    size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*cert = NULL;
	int		 r, tries;

	memset(id, 0, sizeof(*id));
	ERR_clear_error();
	for (tries = 0; key == NULL; tries++) {
		if ((r = identity_read_key(keyfile, &key, err, errlen)) == -1)
			goto fail;
		if (r == 0)
			break;
		if (!create || tries > 0) {
			snprintf(err, errlen, "%s: %s", keyfile,
			    strerror(ENOENT));
			goto fail;
		}
		/* A certificate without its key is not ours to replace. */
		if (certfile != NULL && identity_exists(certfile)) {
			snprintf(err, errlen, "%s exists but its key %s does "
			    "not: restore the key, or remove %s to make a new "
			    "one", certfile, keyfile, certfile);
			goto fail;
		}
		if ((key = EVP_EC_gen("P-256")) == NULL) {
			identity_ssl_error(err, errlen, "making a P-256 key");
			goto fail;
		}
		r = identity_write_pem(keyfile, key, NULL, err, errlen);
		if (r == -1)
			goto fail;
		if (r == 1) {
			/* Made by another process meanwhile: use that. */
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	if (certfile == NULL) {
		if ((cert = identity_make_cert(key, cn)) == NULL) {
			identity_ssl_error(err, errlen,
			    "making a certificate");
			goto fail;
		}
	} else {
		for (tries = 0; cert == NULL; tries++) {
			r = identity_read_cert(certfile, &cert, err, errlen);
			if (r == -1)
				goto fail;
			if (r == 0)
				break;
			if (!create || tries > 0) {
				snprintf(err, errlen, "%s: %s", certfile,
				    strerror(ENOENT));
				goto fail;
			}
			if ((cert = identity_make_cert(key, cn)) == NULL) {
				identity_ssl_error(err, errlen,
				    "making a certificate");
				goto fail;
			}
			r = identity_write_pem(certfile, NULL, cert, err,
			    errlen);
			if (r == -1)
				goto fail;
			if (r == 1) {
				X509_free(cert);
				cert = NULL;
			}
		}
		if (X509_check_private_key(cert, key) != 1) {
			snprintf(err, errlen, "%s is not the certificate of "
			    "the key in %s", certfile, keyfile);
			goto fail;
		}
	}
	if (identity_key_fingerprint(key, id->fingerprint) == -1) {
		identity_ssl_error(err, errlen, keyfile);
		goto fail;
	}
	id->key = key;
	id->cert = cert;
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	memset(id, 0, sizeof(*id));
	return -1;
}

void
identity_free(struct identity *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	memset(id, 0, sizeof(*id));
}

static int
identity_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One line of known_hosts (its newline gone), parsed in place: three
 * fields HOST PORT FINGERPRINT apart by spaces or tabs, a trailing CR
 * ignored.  Returns 1 for an entry, with the fields in *kl pointing into
 * line; 0 for a blank line or a '#' comment; -1 for anything else, which
 * matches nothing.
 */
int
known_hosts_parse_line(const char *line, size_t len, struct known_line *kl)
{
	const char	*field[3], *p = line, *end = line + len;
	size_t		 flen[3];
	int		 n;

	if (len > 0 && line[len - 1] == '\r')
		end--;
	while (p < end && identity_space(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	for (n = 0; p < end; n++) {
		if (n == 3)
			return -1;
		field[n] = p;
		while (p < end && !identity_space(*p)) {
			/* Printable ASCII only: no CR, no NUL, no escapes. */
			if (*p <= ' ' || *p > '~')
				return -1;
			p++;
		}
		flen[n] = (size_t)(p - field[n]);
		while (p < end && identity_space(*p))
			p++;
	}
	if (n != 3 || !identity_fingerprint_valid(field[2], flen[2]))
		return -1;
	kl->host = field[0];
	kl->hostlen = flen[0];
	kl->port = field[1];
	kl->portlen = flen[1];
	kl->fp = field[2];
	kl->fplen = flen[2];
	return 1;
}

/* Whether s is one known_hosts field: printable ASCII, no '#' first. */
static int
known_hosts_field_ok(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '#')
		return 0;
	for (p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return 0;
	return 1;
}

/*
 * Looks for host and port in file.  Returns KNOWN_MATCH when a line has
 * them with fp; KNOWN_CHANGED when lines have them but none with fp, with
 * the first such line's fingerprint in recorded and its number in *line;
 * KNOWN_NEW when no line has them or the file does not exist.  Host
 * names compare without regard to case.  Returns -1 with err when the
 * file cannot be read.  recorded and line may be NULL.
 */
int
known_hosts_check(const char *file, const char *host, const char *port,
    const char *fp, char *recorded, int *line, char *err, size_t errlen)
{
	struct known_line	 kl;
	FILE			*f;
	char			*buf = NULL;
	size_t			 cap = 0, hlen, plen, flen;
	ssize_t			 n;
	int			 lineno = 0, first = 0, result = KNOWN_NEW;

	if ((f = fopen(file, "re")) == NULL) {
		if (errno == ENOENT)
			return KNOWN_NEW;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	hlen = strlen(host);
	plen = strlen(port);
	flen = strlen(fp);
	while ((n = getline(&buf, &cap, f)) != -1) {
		lineno++;
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (known_hosts_parse_line(buf, (size_t)n, &kl) != 1 ||
		    kl.hostlen != hlen || strncasecmp(kl.host, host, hlen) != 0 ||
		    kl.portlen != plen || memcmp(kl.port, port, plen) != 0)
			continue;
		if (kl.fplen == flen && memcmp(kl.fp, fp, flen) == 0) {
			result = KNOWN_MATCH;
			first = lineno;
			break;
		}
		if (result == KNOWN_NEW) {
			result = KNOWN_CHANGED;
			first = lineno;
			if (recorded != NULL)
				snprintf(recorded, FINGERPRINT_MAX, "%.*s",
				    (int)kl.fplen, kl.fp);
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		result = -1;
	}
	free(buf);
	fclose(f);
	if (result != -1 && result != KNOWN_NEW && line != NULL)
		*line = first;
	return result;
}

/*
 * Appends "host port fp" to file (made 0600 when missing), on a line of
 * its own even when the file's last line has no newline.  Returns 0, or
 * -1 with one line in err; a host or port with spaces or controls, or a
 * malformed fp, is refused rather than written.
 */
int
known_hosts_add(const char *file, const char *host, const char *port,
    const char *fp, char *err, size_t errlen)
{
	struct stat	 st;
	char		*entry, last;
	int		 fd, len, r;

	if (!known_hosts_field_ok(host) || !known_hosts_field_ok(port) ||
	    !identity_fingerprint_valid(fp, strlen(fp))) {
		snprintf(err, errlen, "%s: not a host, port and fingerprint "
		    "to record", file);
		return -1;
	}
	/* Read and write: the last byte says whether a newline is due. */
	if ((fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	last = '\n';
	if (fstat(fd, &st) == -1 || (st.st_size > 0 &&
	    pread(fd, &last, 1, st.st_size - 1) != 1)) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		close(fd);
		return -1;
	}
	len = asprintf(&entry, "%s%s %s %s\n", last == '\n' ? "" : "\n",
	    host, port, fp);
	if (len == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		close(fd);
		return -1;
	}
	r = io_write_all(fd, entry, (size_t)len);
	if (r == -1)
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
	free(entry);
	if (close(fd) == -1 && r == 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		r = -1;
	}
	return r;
}

/*
 * Checks one clients line (its newline and any CR gone) and, for an
 * entry, fills *ce.  Returns 1 for an entry, 0 for a blank line or a
 * comment, -1 with why pointed at the reason.
 */
static int
clients_parse_line(const char *p, const char *end, struct client_entry *ce,
    const char **why)
{
	const char	*fp, *name;
	size_t		 fplen, len;
	uint32_t	 cp = 0;
	int		 n;

	while (p < end && identity_space(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	fp = p;
	while (p < end && !identity_space(*p))
		p++;
	fplen = (size_t)(p - fp);
	/* The base64 tool pads with '='; one is forgiven. */
	if (fplen == IDENTITY_PREFIX_LEN + IDENTITY_B64_LEN + 1 &&
	    fp[fplen - 1] == '=')
		fplen--;
	if (!identity_fingerprint_valid(fp, fplen)) {
		*why = "not a fingerprint (SHA256: and 43 base64 digits)";
		return -1;
	}
	while (p < end && identity_space(*p))
		p++;
	while (end > p && identity_space(end[-1]))
		end--;
	name = p;
	if ((len = (size_t)(end - name)) == 0) {
		*why = "no name after the fingerprint";
		return -1;
	}
	if (len >= sizeof(ce->name)) {
		*why = "name longer than 63 bytes";
		return -1;
	}
	/* Names go into window titles and logs: printable text only. */
	while (p < end) {
		if ((n = utf8_decode(p, (size_t)(end - p), &cp)) <= 0 ||
		    (cp != ' ' && !utf8_printable(cp))) {
			*why = "name not printable UTF-8 (a tab, a control, "
			    "or bad bytes)";
			return -1;
		}
		p += n;
	}
	memset(ce, 0, sizeof(*ce));
	memcpy(ce->fingerprint, fp, fplen);
	memcpy(ce->name, name, len);
	return 1;
}

/* An entry's place, for finding a key listed twice. */
struct clients_seen {
	const struct client_entry	*ce;
	unsigned long			 line;
};

static int
clients_seen_cmp(const void *a, const void *b)
{
	const struct clients_seen	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->ce->fingerprint, y->ce->fingerprint)) != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Whether a fingerprint is among the n entries of v (from lines) twice:
 * sorted, so that a long file costs n log n.  Returns 0, or -1 with err
 * naming the earliest line that repeats a key (ENOMEM too).
 */
static int
clients_duplicate(const struct client_entry *v, const unsigned long *lines,
    size_t n, const char *file, char *err, size_t errlen)
{
	struct clients_seen	*seen;
	size_t			 i, dup = 0;

	if (n < 2)
		return 0;
	if ((seen = calloc(n, sizeof(*seen))) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		seen[i].ce = &v[i];
		seen[i].line = lines[i];
	}
	qsort(seen, n, sizeof(*seen), clients_seen_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(seen[i - 1].ce->fingerprint,
		    seen[i].ce->fingerprint) == 0 &&
		    (dup == 0 || seen[i].line < seen[dup].line))
			dup = i;
	if (dup != 0) {
		/* The entry before it in the sort is the first listing. */
		for (i = dup; i > 0 && strcmp(seen[i - 1].ce->fingerprint,
		    seen[dup].ce->fingerprint) == 0; i--)
			;
		snprintf(err, errlen, "%s:%lu: %s is listed already, on "
		    "line %lu as %s", file, seen[dup].line,
		    seen[dup].ce->fingerprint, seen[i].line, seen[i].ce->name);
	}
	free(seen);
	return dup != 0 ? -1 : 0;
}

/*
 * Parses a clients file's len bytes: "SHA256:... NAME" a line, '#'
 * comments and blank lines, CRLF or LF.  NAME is the rest of the line
 * (inner spaces kept), 1 to 63 bytes of printable UTF-8.  A fingerprint
 * listed twice is an error; one name may have several keys.  Returns 0
 * with list filled (whatever it held is not freed), or -1 with
 * "FILE:LINE: why" in err and list untouched.
 */
int
clients_parse(const char *text, size_t len, const char *file,
    struct client_list *list, char *err, size_t errlen)
{
	struct client_entry	 ce, *v = NULL, *grown;
	const char		*p = text, *end = text + len, *eol, *why;
	size_t			 n = 0, cap = 0;
	unsigned long		 lineno = 0, *lines = NULL, *grown_lines;
	int			 r;

	for (; p < end; p = eol + 1) {
		lineno++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		why = NULL;
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			why = "a NUL byte";
			r = -1;
		} else
			r = clients_parse_line(p, eol > p && eol[-1] == '\r' ?
			    eol - 1 : eol, &ce, &why);
		if (r == 0)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "%s:%lu: %s", file, lineno, why);
			goto fail;
		}
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = reallocarray(v, cap, sizeof(*v))) ==
			    NULL) {
				snprintf(err, errlen, "%s: %s", file,
				    strerror(errno));
				goto fail;
			}
			v = grown;
			if ((grown_lines = reallocarray(lines, cap,
			    sizeof(*lines))) == NULL) {
				snprintf(err, errlen, "%s: %s", file,
				    strerror(errno));
				goto fail;
			}
			lines = grown_lines;
		}
		lines[n] = lineno;
		v[n++] = ce;
	}
	if (clients_duplicate(v, lines, n, file, err, errlen) == -1)
		goto fail;
	free(lines);
	list->v = v;
	list->n = n;
	return 0;
fail:
	free(v);
	free(lines);
	return -1;
}

/*
 * Reads the whole clients file into a new buffer with room bytes to
 * spare after its text, which is *len bytes long; its status goes in
 * *st.  Returns the buffer, or NULL with one line in err.
 */
char *
clients_read(const char *file, size_t room, size_t *len, struct stat *st,
    char *err, size_t errlen)
{
	char	*text;
	ssize_t	 n;
	int	 fd;

	*len = 0;
	if ((fd = identity_open(file, st, err, errlen)) == -1)
		return NULL;
	if (st->st_size > IDENTITY_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than 16 MiB", file);
		close(fd);
		return NULL;
	}
	/* One byte more than its size, to see it grow meanwhile. */
	if ((text = malloc((size_t)st->st_size + 1 + room)) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		close(fd);
		return NULL;
	}
	while (*len <= (size_t)st->st_size && (n = read(fd, text + *len,
	    (size_t)st->st_size + 1 - *len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", file, strerror(errno));
			free(text);
			close(fd);
			return NULL;
		}
		*len += (size_t)n;
	}
	close(fd);
	if (*len > (size_t)st->st_size) {
		snprintf(err, errlen, "%s: changed while being read", file);
		free(text);
		return NULL;
	}
	return text;
}

/*
 * Reads and parses the clients file; see clients_parse.  Returns 0, or
 * -1 with one line in err and list untouched.
 */
int
clients_load(const char *file, struct client_list *list, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*text;
	size_t		 len;
	int		 r;

	if ((text = clients_read(file, 0, &len, &st, err, errlen)) == NULL)
		return -1;
	r = clients_parse(text, len, file, list, err, errlen);
	free(text);
	return r;
}

/* The name listed for fp, or NULL when fp is not on the list. */
const char *
clients_find(const struct client_list *list, const char *fp)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (strcmp(list->v[i].fingerprint, fp) == 0)
			return list->v[i].name;
	return NULL;
}

void
clients_free(struct client_list *list)
{
	free(list->v);
	list->v = NULL;
	list->n = 0;
}
