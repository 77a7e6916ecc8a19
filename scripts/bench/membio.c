/*
 * Native baseline for scripts/bench/membio.ts: the same memory-BIO round trip
 * (SSL_write -> BIO_read -> BIO_write -> SSL_read, one 16 KiB record) in C,
 * so that the difference to the Deno FFI version is the FFI/JS cost alone.
 * Built and run by ffi_probe.ts when gcc and the OpenSSL headers are present:
 *   membio <suite> <release-buffers 0|1> <milliseconds> <chain.pem> <key.pem> <record bytes>
 * Prints one JSON line.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char tmp[4 * 16384 + 4096];

static void shuttle(BIO *from, BIO *to) {
  for (;;) {
    int n = BIO_read(from, tmp, sizeof tmp);
    if (n <= 0) return;
    BIO_write(to, tmp, n);
  }
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: membio suite release ms chain key size\n");
    return 2;
  }
  const char *suite = argv[1];
  int release = atoi(argv[2]);
  double ms = atof(argv[3]);
  int size = atoi(argv[6]);
  SSL_CTX *sctx = SSL_CTX_new(TLS_method()), *cctx = SSL_CTX_new(TLS_method());
  if (SSL_CTX_use_certificate_chain_file(sctx, argv[4]) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, argv[5], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX *ctxs[2] = {sctx, cctx};
  for (int i = 0; i < 2; i++) {
    if (SSL_CTX_set_ciphersuites(ctxs[i], suite) != 1) return 1;
    if (release) SSL_CTX_set_mode(ctxs[i], SSL_MODE_RELEASE_BUFFERS);
  }
  SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
  BIO *cin = BIO_new(BIO_s_mem()), *cout = BIO_new(BIO_s_mem());
  BIO *sin = BIO_new(BIO_s_mem()), *sout = BIO_new(BIO_s_mem());
  SSL_set_bio(c, cin, cout);
  SSL_set_bio(s, sin, sout);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  for (int i = 0;; i++) {
    int rc = SSL_do_handshake(c);
    shuttle(cout, sin);
    int rs = SSL_do_handshake(s);
    shuttle(sout, cin);
    if (rc == 1 && rs == 1) break;
    if (i == 20) {
      fprintf(stderr, "handshake did not finish\n");
      return 1;
    }
  }
  unsigned char scratch[16];
  SSL_read(c, scratch, sizeof scratch);
  ERR_clear_error();
  static unsigned char plain[16384], out[65536];
  memset(plain, 0x5a, sizeof plain);
  long records = 0;
  double t0 = now_ns(), end = t0 + ms * 1e6, t1;
  for (;;) {
    for (int k = 0; k < 256; k++) {
      SSL_write(c, plain, size);
      int n = BIO_read(cout, tmp, sizeof tmp);
      BIO_write(sin, tmp, n);
      if (SSL_read(s, out, sizeof out) != size) {
        fprintf(stderr, "round trip failed\n");
        return 1;
      }
    }
    records += 256;
    t1 = now_ns();
    if (t1 >= end) break;
  }
  double ns = (t1 - t0) / records;
  printf("{\"mbps\":%.1f,\"nsPerRecord\":%.1f,\"records\":%ld,\"cipher\":\"%s\"}\n", size * 1e3 / ns, ns, records,
         SSL_CIPHER_get_name(SSL_get_current_cipher(c)));
  SSL_free(c);
  SSL_free(s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return 0;
}
