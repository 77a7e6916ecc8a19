/**
 * The OpenSSL functions secsock calls, one table per library, with the C
 * declarations as comments. Sizes that are `size_t`/`long` in C are 64-bit
 * here and take BigInt arguments, which keeps Deno on its fast FFI path.
 * None of these is `nonblocking`: callbacks must run on the JS thread, inside
 * the call that triggered them.
 *
 * @module
 */
import type { ForeignInterface } from "./runtime.ts";

/** Symbols from libssl.so.3. */
export const SSL_SYMBOLS = {
  // const SSL_METHOD *TLS_method(void);
  TLS_method: { parameters: [], result: "pointer" },
  // SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth);
  SSL_CTX_new: { parameters: ["pointer"], result: "pointer" },
  // void SSL_CTX_free(SSL_CTX *ctx);
  SSL_CTX_free: { parameters: ["pointer"], result: "void" },
  // long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg);
  SSL_CTX_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" },
  // long SSL_CTX_callback_ctrl(SSL_CTX *ctx, int cmd, void (*fp)(void));
  SSL_CTX_callback_ctrl: { parameters: ["pointer", "i32", "function"], result: "i64" },
  // uint64_t SSL_CTX_set_options(SSL_CTX *ctx, uint64_t op);
  SSL_CTX_set_options: { parameters: ["pointer", "u64"], result: "u64" },
  // uint64_t SSL_CTX_clear_options(SSL_CTX *ctx, uint64_t op);
  SSL_CTX_clear_options: { parameters: ["pointer", "u64"], result: "u64" },
  // int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *str);
  SSL_CTX_set_cipher_list: { parameters: ["pointer", "buffer"], result: "i32" },
  // int SSL_CTX_set_ciphersuites(SSL_CTX *ctx, const char *str);
  SSL_CTX_set_ciphersuites: { parameters: ["pointer", "buffer"], result: "i32" },
  // void SSL_CTX_set_security_level(SSL_CTX *ctx, int level);
  SSL_CTX_set_security_level: { parameters: ["pointer", "i32"], result: "void" },
  // int SSL_CTX_get_security_level(const SSL_CTX *ctx);
  SSL_CTX_get_security_level: { parameters: ["pointer"], result: "i32" },
  // int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx);
  SSL_CTX_set_default_verify_paths: { parameters: ["pointer"], result: "i32" },
  // int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath);
  SSL_CTX_load_verify_locations: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // X509_STORE *SSL_CTX_get_cert_store(const SSL_CTX *ctx);
  SSL_CTX_get_cert_store: { parameters: ["pointer"], result: "pointer" },
  // int SSL_CTX_add_client_CA(SSL_CTX *ctx, X509 *cacert);
  SSL_CTX_add_client_CA: { parameters: ["pointer", "pointer"], result: "i32" },
  // int SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x);
  SSL_CTX_use_certificate: { parameters: ["pointer", "pointer"], result: "i32" },
  // int SSL_CTX_use_PrivateKey(SSL_CTX *ctx, EVP_PKEY *pkey);
  SSL_CTX_use_PrivateKey: { parameters: ["pointer", "pointer"], result: "i32" },
  // int SSL_CTX_check_private_key(const SSL_CTX *ctx);
  SSL_CTX_check_private_key: { parameters: ["pointer"], result: "i32" },
  // void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, SSL_verify_cb verify_callback);
  SSL_CTX_set_verify: { parameters: ["pointer", "i32", "function"], result: "void" },
  // void SSL_CTX_set_cert_verify_callback(SSL_CTX *ctx, int (*cb)(X509_STORE_CTX *, void *), void *arg);
  SSL_CTX_set_cert_verify_callback: { parameters: ["pointer", "function", "pointer"], result: "void" },
  // void SSL_CTX_set_verify_depth(SSL_CTX *ctx, int depth);
  SSL_CTX_set_verify_depth: { parameters: ["pointer", "i32"], result: "void" },
  // void SSL_CTX_set_info_callback(SSL_CTX *ctx, void (*cb)(const SSL *ssl, int type, int val));
  SSL_CTX_set_info_callback: { parameters: ["pointer", "function"], result: "void" },
  // void SSL_CTX_set_client_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *ssl, X509 **x509, EVP_PKEY **pkey));
  SSL_CTX_set_client_cert_cb: { parameters: ["pointer", "function"], result: "void" },
  // int SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *sid_ctx, unsigned int sid_ctx_len);
  SSL_CTX_set_session_id_context: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // int SSL_set_session_id_context(SSL *ssl, const unsigned char *sid_ctx, unsigned int sid_ctx_len);
  SSL_set_session_id_context: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // X509 *SSL_CTX_get0_certificate(const SSL_CTX *ctx);
  SSL_CTX_get0_certificate: { parameters: ["pointer"], result: "pointer" },
  // X509_VERIFY_PARAM *SSL_CTX_get0_param(SSL_CTX *ctx);
  SSL_CTX_get0_param: { parameters: ["pointer"], result: "pointer" },
  // int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int protos_len);
  SSL_CTX_set_alpn_protos: { parameters: ["pointer", "buffer", "u32"], result: "i32" },

  // SSL *SSL_new(SSL_CTX *ctx);
  SSL_new: { parameters: ["pointer"], result: "pointer" },
  // void SSL_free(SSL *ssl);
  SSL_free: { parameters: ["pointer"], result: "void" },
  // void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio);
  SSL_set_bio: { parameters: ["pointer", "pointer", "pointer"], result: "void" },
  // void SSL_set_connect_state(SSL *s);
  SSL_set_connect_state: { parameters: ["pointer"], result: "void" },
  // void SSL_set_accept_state(SSL *s);
  SSL_set_accept_state: { parameters: ["pointer"], result: "void" },
  // int SSL_do_handshake(SSL *s);
  SSL_do_handshake: { parameters: ["pointer"], result: "i32" },
  // int SSL_read(SSL *ssl, void *buf, int num);
  SSL_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // int SSL_write(SSL *ssl, const void *buf, int num);
  SSL_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // int SSL_shutdown(SSL *s);
  SSL_shutdown: { parameters: ["pointer"], result: "i32" },
  // int SSL_get_shutdown(const SSL *s);
  SSL_get_shutdown: { parameters: ["pointer"], result: "i32" },
  // int SSL_get_error(const SSL *s, int ret_code);
  SSL_get_error: { parameters: ["pointer", "i32"], result: "i32" },
  // long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg);
  SSL_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" },
  // int SSL_set1_host(SSL *s, const char *hostname);
  SSL_set1_host: { parameters: ["pointer", "buffer"], result: "i32" },
  // X509_VERIFY_PARAM *SSL_get0_param(SSL *ssl);
  SSL_get0_param: { parameters: ["pointer"], result: "pointer" },
  // void SSL_set_hostflags(SSL *s, unsigned int flags);
  SSL_set_hostflags: { parameters: ["pointer", "u32"], result: "void" },
  // void SSL_set_verify(SSL *s, int mode, SSL_verify_cb callback);
  SSL_set_verify: { parameters: ["pointer", "i32", "function"], result: "void" },
  // void SSL_set_info_callback(SSL *ssl, void (*cb)(const SSL *ssl, int type, int val));
  SSL_set_info_callback: { parameters: ["pointer", "function"], result: "void" },
  // long SSL_get_verify_result(const SSL *ssl);
  SSL_get_verify_result: { parameters: ["pointer"], result: "i64" },
  // OSSL_HANDSHAKE_STATE SSL_get_state(const SSL *ssl);
  SSL_get_state: { parameters: ["pointer"], result: "i32" },
  // int SSL_get_verify_mode(const SSL *s);
  SSL_get_verify_mode: { parameters: ["pointer"], result: "i32" },
  // X509 *SSL_get1_peer_certificate(const SSL *s);
  SSL_get1_peer_certificate: { parameters: ["pointer"], result: "pointer" },
  // STACK_OF(X509) *SSL_get_peer_cert_chain(const SSL *s);
  SSL_get_peer_cert_chain: { parameters: ["pointer"], result: "pointer" },
  // const char *SSL_get_version(const SSL *s);
  SSL_get_version: { parameters: ["pointer"], result: "pointer" },
  // const SSL_CIPHER *SSL_get_current_cipher(const SSL *s);
  SSL_get_current_cipher: { parameters: ["pointer"], result: "pointer" },
  // STACK_OF(SSL_CIPHER) *SSL_CTX_get_ciphers(const SSL_CTX *ctx);
  SSL_CTX_get_ciphers: { parameters: ["pointer"], result: "pointer" },
  // const char *SSL_CIPHER_get_name(const SSL_CIPHER *c);
  SSL_CIPHER_get_name: { parameters: ["pointer"], result: "pointer" },
  // const char *SSL_state_string_long(const SSL *s);
  SSL_state_string_long: { parameters: ["pointer"], result: "pointer" },
  // const char *SSL_alert_type_string_long(int value);
  SSL_alert_type_string_long: { parameters: ["i32"], result: "pointer" },
  // const char *SSL_alert_desc_string_long(int value);
  SSL_alert_desc_string_long: { parameters: ["i32"], result: "pointer" },
  // void SSL_get0_alpn_selected(const SSL *ssl, const unsigned char **data, unsigned int *len);
  SSL_get0_alpn_selected: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  // const char *SSL_get_servername(const SSL *s, const int type);
  SSL_get_servername: { parameters: ["pointer", "i32"], result: "pointer" },
  // STACK_OF(X509_NAME) *SSL_get_client_CA_list(const SSL *s);
  SSL_get_client_CA_list: { parameters: ["pointer"], result: "pointer" },
  // int SSL_get_ex_data_X509_STORE_CTX_idx(void);
  SSL_get_ex_data_X509_STORE_CTX_idx: { parameters: [], result: "i32" },
  // int SSL_use_certificate(SSL *ssl, X509 *x);
  SSL_use_certificate: { parameters: ["pointer", "pointer"], result: "i32" },
  // int SSL_use_PrivateKey(SSL *ssl, EVP_PKEY *pkey);
  SSL_use_PrivateKey: { parameters: ["pointer", "pointer"], result: "i32" },
  // void SSL_CTX_set_client_hello_cb(SSL_CTX *c, SSL_client_hello_cb_fn cb, void *arg);
  SSL_CTX_set_client_hello_cb: { parameters: ["pointer", "function", "pointer"], result: "void" },
  // int SSL_client_hello_get0_ext(SSL *s, unsigned int type, const unsigned char **out, size_t *outlen);
  SSL_client_hello_get0_ext: { parameters: ["pointer", "u32", "buffer", "buffer"], result: "i32" },
  // SSL_CTX *SSL_set_SSL_CTX(SSL *ssl, SSL_CTX *ctx);
  SSL_set_SSL_CTX: { parameters: ["pointer", "pointer"], result: "pointer" },
  // void SSL_set_verify_depth(SSL *s, int depth);
  SSL_set_verify_depth: { parameters: ["pointer", "i32"], result: "void" },
  // int SSL_CTX_get_verify_depth(const SSL_CTX *ctx);
  SSL_CTX_get_verify_depth: { parameters: ["pointer"], result: "i32" },
  // void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg);
  SSL_CTX_set_alpn_select_cb: { parameters: ["pointer", "function", "pointer"], result: "void" },
  // void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, SSL_CTX_keylog_cb_func cb);
  SSL_CTX_set_keylog_callback: { parameters: ["pointer", "function"], result: "void" },
  // int SSL_export_keying_material(SSL *s, unsigned char *out, size_t olen, const char *label, size_t llen,
  //                                const unsigned char *context, size_t contextlen, int use_context);
  SSL_export_keying_material: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize", "buffer", "usize", "i32"],
    result: "i32",
  },
  // size_t SSL_get_finished(const SSL *s, void *buf, size_t count);
  SSL_get_finished: { parameters: ["pointer", "buffer", "usize"], result: "usize" },
  // size_t SSL_get_peer_finished(const SSL *s, void *buf, size_t count);
  SSL_get_peer_finished: { parameters: ["pointer", "buffer", "usize"], result: "usize" },
  // SSL_SESSION *SSL_get1_session(SSL *ssl);
  SSL_get1_session: { parameters: ["pointer"], result: "pointer" },
  // int SSL_set_session(SSL *to, SSL_SESSION *session);
  SSL_set_session: { parameters: ["pointer", "pointer"], result: "i32" },
  // int SSL_session_reused(const SSL *s);
  SSL_session_reused: { parameters: ["pointer"], result: "i32" },
  // int SSL_SESSION_is_resumable(const SSL_SESSION *s);
  SSL_SESSION_is_resumable: { parameters: ["pointer"], result: "i32" },
  // void SSL_SESSION_free(SSL_SESSION *ses);
  SSL_SESSION_free: { parameters: ["pointer"], result: "void" },
  // int SSL_SESSION_up_ref(SSL_SESSION *ses);
  SSL_SESSION_up_ref: { parameters: ["pointer"], result: "i32" },
  // int i2d_SSL_SESSION(const SSL_SESSION *in, unsigned char **pp);
  i2d_SSL_SESSION: { parameters: ["pointer", "buffer"], result: "i32" },
  // SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **pp, long length);
  d2i_SSL_SESSION: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  // const unsigned char *SSL_SESSION_get_id(const SSL_SESSION *s, unsigned int *len);
  SSL_SESSION_get_id: { parameters: ["pointer", "buffer"], result: "pointer" },
  // const unsigned char *SSL_SESSION_get0_id_context(const SSL_SESSION *s, unsigned int *sid_ctx_length);
  SSL_SESSION_get0_id_context: { parameters: ["pointer", "buffer"], result: "pointer" },
  // const char *SSL_SESSION_get0_hostname(const SSL_SESSION *s);
  SSL_SESSION_get0_hostname: { parameters: ["pointer"], result: "pointer" },
  // X509 *SSL_SESSION_get0_peer(SSL_SESSION *s);
  SSL_SESSION_get0_peer: { parameters: ["pointer"], result: "pointer" },
  // void SSL_CTX_sess_set_new_cb(SSL_CTX *ctx, int (*new_session_cb)(SSL *, SSL_SESSION *));
  SSL_CTX_sess_set_new_cb: { parameters: ["pointer", "function"], result: "void" },
  // void SSL_CTX_sess_set_remove_cb(SSL_CTX *ctx, void (*remove_session_cb)(SSL_CTX *, SSL_SESSION *));
  SSL_CTX_sess_set_remove_cb: { parameters: ["pointer", "function"], result: "void" },
  // void SSL_CTX_sess_set_get_cb(SSL_CTX *ctx,
  //   SSL_SESSION *(*get_session_cb)(SSL *, const unsigned char *, int, int *));
  SSL_CTX_sess_set_get_cb: { parameters: ["pointer", "function"], result: "void" },
  // int SSL_verify_client_post_handshake(SSL *s);
  SSL_verify_client_post_handshake: { parameters: ["pointer"], result: "i32" },
  // void SSL_CTX_set_post_handshake_auth(SSL_CTX *ctx, int val);
  SSL_CTX_set_post_handshake_auth: { parameters: ["pointer", "i32"], result: "void" },
  // void SSL_set_post_handshake_auth(SSL *s, int val);
  SSL_set_post_handshake_auth: { parameters: ["pointer", "i32"], result: "void" },
  // int SSL_key_update(SSL *s, int updatetype);
  SSL_key_update: { parameters: ["pointer", "i32"], result: "i32" },
  // int SSL_is_init_finished(const SSL *s);
  SSL_is_init_finished: { parameters: ["pointer"], result: "i32" },
  // int SSL_renegotiate(SSL *s);
  SSL_renegotiate: { parameters: ["pointer"], result: "i32" },
} as const satisfies ForeignInterface;

/** Symbols from libcrypto.so.3. */
export const CRYPTO_SYMBOLS = {
  // unsigned long OpenSSL_version_num(void);
  OpenSSL_version_num: { parameters: [], result: "u64" },
  // const char *OpenSSL_version(int type);
  OpenSSL_version: { parameters: ["i32"], result: "pointer" },
  // void CRYPTO_free(void *ptr, const char *file, int line);  (OPENSSL_free)
  CRYPTO_free: { parameters: ["pointer", "pointer", "i32"], result: "void" },

  // unsigned long ERR_get_error(void);
  ERR_get_error: { parameters: [], result: "u64" },
  // unsigned long ERR_peek_error(void);
  ERR_peek_error: { parameters: [], result: "u64" },
  // unsigned long ERR_peek_last_error(void);
  ERR_peek_last_error: { parameters: [], result: "u64" },
  // void ERR_clear_error(void);
  ERR_clear_error: { parameters: [], result: "void" },
  // const char *ERR_lib_error_string(unsigned long e);
  ERR_lib_error_string: { parameters: ["u64"], result: "pointer" },
  // const char *ERR_reason_error_string(unsigned long e);
  ERR_reason_error_string: { parameters: ["u64"], result: "pointer" },

  // const BIO_METHOD *BIO_s_mem(void);
  BIO_s_mem: { parameters: [], result: "pointer" },
  // BIO *BIO_new(const BIO_METHOD *type);
  BIO_new: { parameters: ["pointer"], result: "pointer" },
  // int BIO_free(BIO *a);
  BIO_free: { parameters: ["pointer"], result: "i32" },
  // int BIO_read(BIO *b, void *data, int dlen);
  BIO_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // int BIO_write(BIO *b, const void *data, int dlen);
  BIO_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // long BIO_ctrl(BIO *bp, int cmd, long larg, void *parg);
  BIO_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" },
  // size_t BIO_ctrl_pending(BIO *b);
  BIO_ctrl_pending: { parameters: ["pointer"], result: "usize" },

  // X509 *PEM_read_bio_X509(BIO *bp, X509 **x, pem_password_cb *cb, void *u);
  PEM_read_bio_X509: { parameters: ["pointer", "pointer", "function", "pointer"], result: "pointer" },
  // int PEM_write_bio_X509(BIO *bp, const X509 *x);
  PEM_write_bio_X509: { parameters: ["pointer", "pointer"], result: "i32" },
  // X509 *d2i_X509_bio(BIO *bp, X509 **x509);
  d2i_X509_bio: { parameters: ["pointer", "pointer"], result: "pointer" },
  // int i2d_X509_bio(BIO *bp, const X509 *x509);
  i2d_X509_bio: { parameters: ["pointer", "pointer"], result: "i32" },
  // X509 *d2i_X509(X509 **a, const unsigned char **ppin, long length);
  d2i_X509: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  // int i2d_X509(const X509 *a, unsigned char **out);
  i2d_X509: { parameters: ["pointer", "buffer"], result: "i32" },
  // EVP_PKEY *PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u);
  PEM_read_bio_PrivateKey: { parameters: ["pointer", "pointer", "function", "pointer"], result: "pointer" },
  // EVP_PKEY *d2i_PrivateKey_bio(BIO *bp, EVP_PKEY **a);
  d2i_PrivateKey_bio: { parameters: ["pointer", "pointer"], result: "pointer" },
  // EVP_PKEY *d2i_PKCS8PrivateKey_bio(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u);
  d2i_PKCS8PrivateKey_bio: { parameters: ["pointer", "pointer", "function", "pointer"], result: "pointer" },

  // void X509_free(X509 *a);
  X509_free: { parameters: ["pointer"], result: "void" },
  // int X509_up_ref(X509 *a);
  X509_up_ref: { parameters: ["pointer"], result: "i32" },
  // X509_NAME *X509_get_subject_name(const X509 *a);
  X509_get_subject_name: { parameters: ["pointer"], result: "pointer" },
  // X509_NAME *X509_get_issuer_name(const X509 *a);
  X509_get_issuer_name: { parameters: ["pointer"], result: "pointer" },
  // int X509_NAME_print_ex(BIO *out, const X509_NAME *nm, int indent, unsigned long flags);
  X509_NAME_print_ex: { parameters: ["pointer", "pointer", "i32", "u64"], result: "i32" },
  // ASN1_INTEGER *X509_get_serialNumber(X509 *x);
  X509_get_serialNumber: { parameters: ["pointer"], result: "pointer" },
  // BIGNUM *ASN1_INTEGER_to_BN(const ASN1_INTEGER *ai, BIGNUM *bn);
  ASN1_INTEGER_to_BN: { parameters: ["pointer", "pointer"], result: "pointer" },
  // char *BN_bn2hex(const BIGNUM *a);
  BN_bn2hex: { parameters: ["pointer"], result: "pointer" },
  // void BN_free(BIGNUM *a);
  BN_free: { parameters: ["pointer"], result: "void" },
  // const ASN1_TIME *X509_get0_notBefore(const X509 *x);
  X509_get0_notBefore: { parameters: ["pointer"], result: "pointer" },
  // const ASN1_TIME *X509_get0_notAfter(const X509 *x);
  X509_get0_notAfter: { parameters: ["pointer"], result: "pointer" },
  // int ASN1_TIME_to_tm(const ASN1_TIME *s, struct tm *tm);
  ASN1_TIME_to_tm: { parameters: ["pointer", "buffer"], result: "i32" },
  // const EVP_MD *EVP_sha256(void);
  EVP_sha256: { parameters: [], result: "pointer" },
  // int X509_digest(const X509 *data, const EVP_MD *type, unsigned char *md, unsigned int *len);
  X509_digest: { parameters: ["pointer", "pointer", "buffer", "buffer"], result: "i32" },
  // int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
  //                const EVP_MD *type, ENGINE *impl);
  EVP_Digest: { parameters: ["buffer", "usize", "buffer", "buffer", "pointer", "pointer"], result: "i32" },
  // int X509_check_host(X509 *x, const char *chk, size_t chklen, unsigned int flags, char **peername);
  X509_check_host: { parameters: ["pointer", "buffer", "usize", "u32", "pointer"], result: "i32" },
  // int X509_check_ip_asc(X509 *x, const char *ipasc, unsigned int flags);
  X509_check_ip_asc: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  // void *X509_get_ext_d2i(const X509 *x, int nid, int *crit, int *idx);
  X509_get_ext_d2i: { parameters: ["pointer", "i32", "pointer", "pointer"], result: "pointer" },
  // void GENERAL_NAMES_free(GENERAL_NAMES *a);
  GENERAL_NAMES_free: { parameters: ["pointer"], result: "void" },
  // const unsigned char *ASN1_STRING_get0_data(const ASN1_STRING *x);
  ASN1_STRING_get0_data: { parameters: ["pointer"], result: "pointer" },
  // int ASN1_STRING_length(const ASN1_STRING *x);
  ASN1_STRING_length: { parameters: ["pointer"], result: "i32" },
  // void *GENERAL_NAME_get0_value(const GENERAL_NAME *a, int *ptype);
  GENERAL_NAME_get0_value: { parameters: ["pointer", "buffer"], result: "pointer" },
  // int GENERAL_NAME_get0_otherName(const GENERAL_NAME *gen, ASN1_OBJECT **poid, ASN1_TYPE **pvalue);
  GENERAL_NAME_get0_otherName: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // int i2d_GENERAL_NAME(const GENERAL_NAME *a, unsigned char **out);
  i2d_GENERAL_NAME: { parameters: ["pointer", "buffer"], result: "i32" },
  // int i2d_ASN1_TYPE(const ASN1_TYPE *a, unsigned char **out);
  i2d_ASN1_TYPE: { parameters: ["pointer", "buffer"], result: "i32" },
  // int OBJ_obj2txt(char *buf, int buf_len, const ASN1_OBJECT *a, int no_name);
  OBJ_obj2txt: { parameters: ["buffer", "i32", "pointer", "i32"], result: "i32" },
  // int X509_check_private_key(const X509 *x, const EVP_PKEY *k);
  X509_check_private_key: { parameters: ["pointer", "pointer"], result: "i32" },

  // void EVP_PKEY_free(EVP_PKEY *key);
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  // int EVP_PKEY_up_ref(EVP_PKEY *key);
  EVP_PKEY_up_ref: { parameters: ["pointer"], result: "i32" },
  // const char *EVP_PKEY_get0_type_name(const EVP_PKEY *key);
  EVP_PKEY_get0_type_name: { parameters: ["pointer"], result: "pointer" },
  // int EVP_PKEY_get_bits(const EVP_PKEY *pkey);
  EVP_PKEY_get_bits: { parameters: ["pointer"], result: "i32" },

  // X509_STORE *X509_STORE_new(void);
  X509_STORE_new: { parameters: [], result: "pointer" },
  // void X509_STORE_free(X509_STORE *xs);
  X509_STORE_free: { parameters: ["pointer"], result: "void" },
  // int X509_STORE_set_default_paths(X509_STORE *ctx);
  X509_STORE_set_default_paths: { parameters: ["pointer"], result: "i32" },
  // int X509_STORE_add_cert(X509_STORE *xs, X509 *x);
  X509_STORE_add_cert: { parameters: ["pointer", "pointer"], result: "i32" },
  // STACK_OF(X509_OBJECT) *X509_STORE_get0_objects(const X509_STORE *xs);
  X509_STORE_get0_objects: { parameters: ["pointer"], result: "pointer" },
  // X509 *X509_OBJECT_get0_X509(const X509_OBJECT *a);  (NULL for a CRL)
  X509_OBJECT_get0_X509: { parameters: ["pointer"], result: "pointer" },
  // void *X509_STORE_CTX_get_ex_data(const X509_STORE_CTX *ctx, int idx);
  X509_STORE_CTX_get_ex_data: { parameters: ["pointer", "i32"], result: "pointer" },
  // int X509_STORE_CTX_get_error(const X509_STORE_CTX *ctx);
  X509_STORE_CTX_get_error: { parameters: ["pointer"], result: "i32" },
  // void X509_STORE_CTX_set_error(X509_STORE_CTX *ctx, int s);
  X509_STORE_CTX_set_error: { parameters: ["pointer", "i32"], result: "void" },
  // int X509_STORE_CTX_get_error_depth(const X509_STORE_CTX *ctx);
  X509_STORE_CTX_get_error_depth: { parameters: ["pointer"], result: "i32" },
  // X509 *X509_STORE_CTX_get_current_cert(const X509_STORE_CTX *ctx);
  X509_STORE_CTX_get_current_cert: { parameters: ["pointer"], result: "pointer" },
  // STACK_OF(X509) *X509_STORE_CTX_get0_chain(const X509_STORE_CTX *ctx);
  X509_STORE_CTX_get0_chain: { parameters: ["pointer"], result: "pointer" },
  // const char *X509_verify_cert_error_string(long n);
  X509_verify_cert_error_string: { parameters: ["i64"], result: "pointer" },
  // int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *ipasc);
  X509_VERIFY_PARAM_set1_ip_asc: { parameters: ["pointer", "buffer"], result: "i32" },
  // unsigned long X509_VERIFY_PARAM_get_flags(const X509_VERIFY_PARAM *param);
  X509_VERIFY_PARAM_get_flags: { parameters: ["pointer"], result: "u64" },
  // int X509_STORE_CTX_set_ex_data(X509_STORE_CTX *ctx, int idx, void *data);
  X509_STORE_CTX_set_ex_data: { parameters: ["pointer", "i32", "pointer"], result: "i32" },
  // int CRYPTO_get_ex_new_index(int class_index, long argl, void *argp,
  //   CRYPTO_EX_new *new_func, CRYPTO_EX_dup *dup_func, CRYPTO_EX_free *free_func);
  CRYPTO_get_ex_new_index: {
    parameters: ["i32", "i64", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  // X509_STORE_CTX *X509_STORE_CTX_new(void);
  X509_STORE_CTX_new: { parameters: [], result: "pointer" },
  // void X509_STORE_CTX_free(X509_STORE_CTX *ctx);
  X509_STORE_CTX_free: { parameters: ["pointer"], result: "void" },
  // int X509_STORE_CTX_init(X509_STORE_CTX *ctx, X509_STORE *trust_store, X509 *target, STACK_OF(X509) *untrusted);
  X509_STORE_CTX_init: { parameters: ["pointer", "pointer", "pointer", "pointer"], result: "i32" },
  // int X509_STORE_CTX_set_purpose(X509_STORE_CTX *ctx, int purpose);
  X509_STORE_CTX_set_purpose: { parameters: ["pointer", "i32"], result: "i32" },
  // X509_VERIFY_PARAM *X509_STORE_CTX_get0_param(const X509_STORE_CTX *ctx);
  X509_STORE_CTX_get0_param: { parameters: ["pointer"], result: "pointer" },
  // int X509_verify_cert(X509_STORE_CTX *ctx);
  X509_verify_cert: { parameters: ["pointer"], result: "i32" },
  // int X509_VERIFY_PARAM_set1_host(X509_VERIFY_PARAM *param, const char *name, size_t namelen);
  X509_VERIFY_PARAM_set1_host: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // void X509_VERIFY_PARAM_set_hostflags(X509_VERIFY_PARAM *param, unsigned int flags);
  X509_VERIFY_PARAM_set_hostflags: { parameters: ["pointer", "u32"], result: "void" },
  // int X509_VERIFY_PARAM_set1_email(X509_VERIFY_PARAM *param, const char *email, size_t emaillen);
  X509_VERIFY_PARAM_set1_email: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // void X509_VERIFY_PARAM_set_time(X509_VERIFY_PARAM *param, time_t t);
  X509_VERIFY_PARAM_set_time: { parameters: ["pointer", "i64"], result: "void" },
  // void X509_VERIFY_PARAM_set_depth(X509_VERIFY_PARAM *param, int depth);
  X509_VERIFY_PARAM_set_depth: { parameters: ["pointer", "i32"], result: "void" },
  // int X509_VERIFY_PARAM_set_flags(X509_VERIFY_PARAM *param, unsigned long flags);
  X509_VERIFY_PARAM_set_flags: { parameters: ["pointer", "u64"], result: "i32" },
  // int X509_PURPOSE_get_by_sname(const char *sname);
  X509_PURPOSE_get_by_sname: { parameters: ["buffer"], result: "i32" },
  // X509_PURPOSE *X509_PURPOSE_get0(int idx);
  X509_PURPOSE_get0: { parameters: ["i32"], result: "pointer" },
  // int X509_PURPOSE_get_id(const X509_PURPOSE *xp);
  X509_PURPOSE_get_id: { parameters: ["pointer"], result: "i32" },
  // int X509_check_email(X509 *x, const char *chk, size_t chklen, unsigned int flags);
  X509_check_email: { parameters: ["pointer", "buffer", "usize", "u32"], result: "i32" },

  // void *CRYPTO_malloc(size_t num, const char *file, int line);  (OPENSSL_malloc)
  CRYPTO_malloc: { parameters: ["usize", "pointer", "i32"], result: "pointer" },
  // PKCS12 *d2i_PKCS12_bio(BIO *bp, PKCS12 **p12);
  d2i_PKCS12_bio: { parameters: ["pointer", "pointer"], result: "pointer" },
  // void PKCS12_free(PKCS12 *a);
  PKCS12_free: { parameters: ["pointer"], result: "void" },
  // int PKCS12_mac_present(const PKCS12 *p12);
  PKCS12_mac_present: { parameters: ["pointer"], result: "i32" },
  // int PKCS12_verify_mac(PKCS12 *p12, const char *pass, int passlen);
  PKCS12_verify_mac: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // int PKCS12_parse(PKCS12 *p12, const char *pass, EVP_PKEY **pkey, X509 **cert, STACK_OF(X509) **ca);
  PKCS12_parse: { parameters: ["pointer", "buffer", "buffer", "buffer", "buffer"], result: "i32" },
  // OSSL_PROVIDER *OSSL_PROVIDER_load(OSSL_LIB_CTX *libctx, const char *name);
  OSSL_PROVIDER_load: { parameters: ["pointer", "buffer"], result: "pointer" },
  // int OSSL_PROVIDER_available(OSSL_LIB_CTX *libctx, const char *name);
  OSSL_PROVIDER_available: { parameters: ["pointer", "buffer"], result: "i32" },
  // void *OPENSSL_sk_pop(OPENSSL_STACK *st);
  OPENSSL_sk_pop: { parameters: ["pointer"], result: "pointer" },
  // void OPENSSL_sk_free(OPENSSL_STACK *st);
  OPENSSL_sk_free: { parameters: ["pointer"], result: "void" },
  // OPENSSL_STACK *OPENSSL_sk_new_null(void);
  OPENSSL_sk_new_null: { parameters: [], result: "pointer" },
  // int OPENSSL_sk_push(OPENSSL_STACK *st, const void *data);
  OPENSSL_sk_push: { parameters: ["pointer", "pointer"], result: "i32" },
  // int OPENSSL_sk_num(const OPENSSL_STACK *st);
  OPENSSL_sk_num: { parameters: ["pointer"], result: "i32" },
  // void *OPENSSL_sk_value(const OPENSSL_STACK *st, int i);
  OPENSSL_sk_value: { parameters: ["pointer", "i32"], result: "pointer" },
} as const satisfies ForeignInterface;
