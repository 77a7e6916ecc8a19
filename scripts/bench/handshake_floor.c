/*
 * The C floor for full handshakes (issue 15): what OpenSSL itself costs per
 * full handshake on this machine, with no binding, no sockets and no event
 * loop around it. In one thread, N handshakes between a client SSL and a
 * server SSL over memory BIOs, set up like secsock's benchmark peers:
 *
 * - server: the fixture chain + key; client: trusts only the fixture CA,
 *   SSL_VERIFY_PEER, and checks the IP address 127.0.0.1 (the benchmark
 *   connects to 127.0.0.1, which secsock checks with
 *   X509_VERIFY_PARAM_set1_ip_asc and sends no SNI for; the fixture leaves
 *   carry that IP SAN), with secsock's host-check flags;
 * - both: the options and mode secsock's SecureSocketContext sets
 *   (SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION,
 *   SSL_MODE_RELEASE_BUFFERS, TLS 1.2 minimum), default groups and ciphers.
 *
 * Each side's work is timed on its own with the thread's CPU clock: taking
 * its peer's bytes (BIO_write into its read BIO), its SSL call, and handing
 * its own bytes on (BIO_read from its write BIO) — what one process of a
 * two-process setup would do with a socket. The timed work per handshake is
 * SSL_new + BIOs + the handshake + the client's SSL_read that processes the
 * TLS 1.3 session tickets (it then wants more input: fine) + one
 * close_notify each (secsock's close() sends one) + SSL_free. Contexts are
 * made once, outside the timing, as a server or client keeps its context.
 *
 * Built and run by profile_hsfloor.ts when `cc` and the OpenSSL headers are
 * present:
 *   handshake_floor <n> <chain.pem> <key.pem> <ca.pem> <1.2|1.3>
 * Prints one JSON line; times in µs of CPU per handshake.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The bytes in flight from one side to the other: one flight at a time,
 * since the sides take turns and each first takes all its peer sent. */
static unsigned char wire[1 << 20];
static size_t wire_len;

struct side {
  SSL *ssl;
  BIO *in, *out; /* owned by ssl after SSL_set_bio */
  double cpu_ns;
  double t0;
};

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void begin(struct side *s) { s->t0 = cpu_ns(); }
static void end(struct side *s) { s->cpu_ns += cpu_ns() - s->t0; }

/* Inside a timed section: take what the peer sent. */
static void take(struct side *s) {
  if (wire_len == 0) return;
  if (BIO_write(s->in, wire, (int)wire_len) != (int)wire_len) {
    fprintf(stderr, "BIO_write failed\n");
    exit(1);
  }
  wire_len = 0;
}

/* Inside a timed section: hand on what this side wrote. */
static void give(struct side *s) {
  for (;;) {
    if (wire_len == sizeof wire) {
      fprintf(stderr, "flight larger than %zu bytes\n", sizeof wire);
      exit(1);
    }
    int n = BIO_read(s->out, wire + wire_len, (int)(sizeof wire - wire_len));
    if (n <= 0) return;
    wire_len += (size_t)n;
  }
}

static void open_side(struct side *s, SSL_CTX *ctx) {
  s->ssl = SSL_new(ctx);
  s->in = BIO_new(BIO_s_mem());
  s->out = BIO_new(BIO_s_mem());
  if (!s->ssl || !s->in || !s->out) {
    fprintf(stderr, "SSL_new/BIO_new failed\n");
    exit(1);
  }
  SSL_set_bio(s->ssl, s->in, s->out);
}

/* A step of one side: take the peer's bytes, run the handshake, hand on. */
static int handshake_step(struct side *s) {
  begin(s);
  take(s);
  int r = SSL_do_handshake(s->ssl);
  if (r != 1) {
    int e = SSL_get_error(s->ssl, r);
    if (e != SSL_ERROR_WANT_READ) {
      fprintf(stderr, "handshake failed (SSL_get_error %d)\n", e);
      ERR_print_errors_fp(stderr);
      exit(1);
    }
  }
  give(s);
  end(s);
  return r == 1;
}

static char protocol[32], cipher[64], group[64];
static long verify_result = -1;

/* One full handshake; the sides' CPU time is added to c and s. */
static void one_handshake(SSL_CTX *cctx, SSL_CTX *sctx, struct side *c, struct side *s, int keep_details) {
  wire_len = 0;
  begin(c);
  open_side(c, cctx);
  SSL_set_connect_state(c->ssl);
  SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") != 1) {
    fprintf(stderr, "X509_VERIFY_PARAM_set1_ip_asc failed\n");
    exit(1);
  }
  end(c);
  begin(s);
  open_side(s, sctx);
  SSL_set_accept_state(s->ssl);
  end(s);

  int cdone = 0, sdone = 0;
  for (int i = 0; !(cdone && sdone); i++) {
    if (i == 20) {
      fprintf(stderr, "handshake did not finish\n");
      exit(1);
    }
    if (!cdone) cdone = handshake_step(c);
    if (!sdone) sdone = handshake_step(s);
  }

  /* The client processes what came after its handshake (TLS 1.3 tickets). */
  unsigned char buf[16];
  begin(c);
  take(c);
  int r = SSL_read(c->ssl, buf, sizeof buf);
  if (r > 0 || SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
    fprintf(stderr, "client SSL_read after the handshake: %d\n", r);
    exit(1);
  }
  ERR_clear_error();
  end(c);

  if (keep_details) {
    snprintf(protocol, sizeof protocol, "%s", SSL_get_version(c->ssl));
    snprintf(cipher, sizeof cipher, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
    verify_result = SSL_get_verify_result(c->ssl);
    /* 3.5 offers a post-quantum hybrid first: say which key exchange ran. */
    const char *g = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));
    snprintf(group, sizeof group, "%s", g ? g : "?");
  }

  /* close(): each side sends its close_notify and frees its SSL. */
  begin(c);
  SSL_shutdown(c->ssl);
  give(c);
  SSL_free(c->ssl);
  end(c);
  wire_len = 0; /* the peer is gone before it would read it */
  begin(s);
  SSL_shutdown(s->ssl);
  give(s);
  SSL_free(s->ssl);
  end(s);
  wire_len = 0;
  ERR_clear_error();
}

static SSL_CTX *new_ctx(int version) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (!ctx) return NULL;
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, version);
  return ctx;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: handshake_floor n chain.pem key.pem ca.pem 1.2|1.3\n");
    return 2;
  }
  int n = atoi(argv[1]);
  int version = strcmp(argv[5], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
  if (n < 1) {
    fprintf(stderr, "n must be at least 1\n");
    return 2;
  }
  SSL_CTX *sctx = new_ctx(version), *cctx = new_ctx(version);
  /* secsock gives every server context a session ID context. */
  static const unsigned char sid_ctx[] = "handshake_floor";
  if (!sctx || !cctx || SSL_CTX_use_certificate_chain_file(sctx, argv[2]) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_set_session_id_context(sctx, sid_ctx, sizeof sid_ctx - 1) != 1 ||
      SSL_CTX_load_verify_locations(cctx, argv[4], NULL) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

  struct side c = {0}, s = {0};
  /* Warm-up: lazily loaded providers, tables, the allocator's arenas. */
  int warm = n / 10 < 10 ? 10 : n / 10;
  for (int i = 0; i < warm; i++) one_handshake(cctx, sctx, &c, &s, i == 0);
  if (verify_result != X509_V_OK) {
    fprintf(stderr, "verification did not succeed: %ld\n", verify_result);
    return 1;
  }
  if (strcmp(protocol, version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3") != 0) {
    fprintf(stderr, "negotiated %s\n", protocol);
    return 1;
  }
  c.cpu_ns = s.cpu_ns = 0;
  double w0 = wall_ns(), t0 = cpu_ns();
  for (int i = 0; i < n; i++) one_handshake(cctx, sctx, &c, &s, 0);
  double w1 = wall_ns(), t1 = cpu_ns();

  double client = c.cpu_ns / n / 1e3, server = s.cpu_ns / n / 1e3;
  double bigger = client > server ? client : server;
  printf("{\"n\":%d,\"openssl\":\"%s\",\"protocol\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\",\"clientUs\":%.1f,\"serverUs\":%.1f,"
         "\"totalUs\":%.1f,\"threadCpuUs\":%.1f,\"wallUs\":%.1f,\"ceilingPerSec\":%.0f}\n",
         n, OpenSSL_version(OPENSSL_VERSION), protocol, cipher, group, client, server, client + server, (t1 - t0) / n / 1e3,
         (w1 - w0) / n / 1e3, 1e6 / bigger);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return 0;
}
