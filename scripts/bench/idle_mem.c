/*
 * The floor for memory per idle connection (issue 15): OpenSSL's own heap for
 * an idle established SSL, with no binding around it. N client/server SSL
 * pairs over memory BIOs complete a handshake and one request/answer ("Q\n",
 * "A\n"; the client has read the TLS 1.3 tickets), then sit idle; glibc's
 * mallinfo2 gives the heap in use before and after. The memory BIOs are then
 * replaced by fresh empty ones, as secsock does after the handshake, so the
 * figure holds the SSL's state rather than the largest flight a BIO carried.
 * Freeing the clients leaves the server side alone.
 *
 * Built and run by profile.ts when `cc` and the OpenSSL headers are present:
 *   idle_mem <n> <chain.pem> <key.pem> <release-buffers 0|1> <1.2|1.3>
 * Prints one JSON line; sizes in bytes per SSL.
 */
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char tmp[65536];

static size_t in_use(void) {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

static void shuttle(BIO *from, BIO *to) {
  for (;;) {
    int n = BIO_read(from, tmp, sizeof tmp);
    if (n <= 0) return;
    BIO_write(to, tmp, n);
  }
}

struct pair {
  SSL *c, *s;
  BIO *cin, *cout, *sin, *sout;
};

static void set_bios(struct pair *p) {
  p->cin = BIO_new(BIO_s_mem());
  p->cout = BIO_new(BIO_s_mem());
  p->sin = BIO_new(BIO_s_mem());
  p->sout = BIO_new(BIO_s_mem());
  SSL_set_bio(p->c, p->cin, p->cout);
  SSL_set_bio(p->s, p->sin, p->sout);
}

static int establish(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx) {
  p->c = SSL_new(cctx);
  p->s = SSL_new(sctx);
  set_bios(p);
  SSL_set_connect_state(p->c);
  SSL_set_accept_state(p->s);
  for (int i = 0;; i++) {
    int rc = SSL_do_handshake(p->c);
    shuttle(p->cout, p->sin);
    int rs = SSL_do_handshake(p->s);
    shuttle(p->sout, p->cin);
    if (rc == 1 && rs == 1) break;
    if (i == 20) return 0;
  }
  unsigned char buf[16];
  if (SSL_write(p->c, "Q\n", 2) != 2) return 0;
  shuttle(p->cout, p->sin);
  if (SSL_read(p->s, buf, sizeof buf) != 2) return 0;
  if (SSL_write(p->s, "A\n", 2) != 2) return 0;
  shuttle(p->sout, p->cin);
  if (SSL_read(p->c, buf, sizeof buf) != 2) return 0; /* after the tickets */
  shuttle(p->cout, p->sin);
  SSL_read(p->s, buf, sizeof buf); /* nothing more: WANT_READ */
  ERR_clear_error();
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: idle_mem n chain key release 1.2|1.3\n");
    return 2;
  }
  int n = atoi(argv[1]);
  int release = atoi(argv[4]);
  int version = strcmp(argv[5], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX *sctx = SSL_CTX_new(TLS_method()), *cctx = SSL_CTX_new(TLS_method());
  if (SSL_CTX_use_certificate_chain_file(sctx, argv[2]) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, argv[3], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX *ctxs[2] = {sctx, cctx};
  for (int i = 0; i < 2; i++) {
    SSL_CTX_set_max_proto_version(ctxs[i], version);
    if (release) SSL_CTX_set_mode(ctxs[i], SSL_MODE_RELEASE_BUFFERS);
  }
  struct pair *pairs = calloc(n, sizeof *pairs);
  /* Warm-up: lazily loaded tables and the allocator's first arenas. */
  for (int i = 0; i < 8; i++) {
    struct pair w;
    if (!establish(&w, cctx, sctx)) return 1;
    SSL_free(w.c);
    SSL_free(w.s);
  }
  size_t m0 = in_use();
  for (int i = 0; i < n; i++) {
    if (!establish(&pairs[i], cctx, sctx)) {
      fprintf(stderr, "handshake %d failed\n", i);
      ERR_print_errors_fp(stderr);
      return 1;
    }
  }
  size_t m1 = in_use();
  for (int i = 0; i < n; i++) set_bios(&pairs[i]); /* SSL_set_bio frees the old ones */
  size_t m2 = in_use();
  for (int i = 0; i < n; i++) SSL_free(pairs[i].c);
  size_t m3 = in_use();
  const char *proto = n > 0 ? SSL_get_version(pairs[0].s) : "";
  for (int i = 0; i < n; i++) SSL_free(pairs[i].s);
  printf("{\"n\":%d,\"protocol\":\"%s\",\"pairBytesKeptBios\":%.0f,\"pairBytes\":%.0f,\"serverBytes\":%.0f,"
         "\"clientBytes\":%.0f}\n",
         n, proto, (double)(m1 - m0) / n, (double)(m2 - m0) / n, (double)(m3 - m0) / n, (double)(m2 - m3) / n);
  free(pairs);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return 0;
}
