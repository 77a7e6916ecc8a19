/**
 * Raw TLS extension data OpenSSL hands out during a handshake: the
 * ClientHello's extensions (for SNI before OpenSSL parses it) and OCSP
 * stapling responses.
 *
 * @module
 */
import { libcrypto, libssl } from "./library.ts";
import { isNull, type Pointer, PointerSlot, readBytes, writeBytes } from "./memory.ts";
import { getTlsextStatusOcspResp, setTlsextStatusOcspResp } from "./ctrl.ts";

/**
 * Out-parameters of the getters below, shared: every handshake calls them, and
 * they are read right after a call that never re-enters JavaScript.
 */
const outData = new PointerSlot();
const outSize = new BigUint64Array(1);
const outLength = new Uint32Array(1);

/** The body of a ClientHello extension (inside the client-hello callback), or null (SSL_client_hello_get0_ext(3)). */
export function clientHelloExtension(ssl: Pointer, type: number): Uint8Array | null {
  if (libssl().SSL_client_hello_get0_ext(ssl, type, outData.buffer, outSize) !== 1) return null;
  const pointer = outData.pointer;
  return isNull(pointer) ? new Uint8Array(0) : readBytes(pointer, Number(outSize[0]));
}

/** The ALPN protocol the handshake selected, as bytes, or null (SSL_get0_alpn_selected(3)). */
export function selectedAlpn(ssl: Pointer): Uint8Array | null {
  libssl().SSL_get0_alpn_selected(ssl, outData.buffer, outLength);
  const pointer = outData.pointer;
  return isNull(pointer) || outLength[0] === 0 ? null : readBytes(pointer, outLength[0]);
}

/** Hands OpenSSL a copy of an OCSP response to staple (it frees the copy). */
export function stapleOcspResponse(ssl: Pointer, response: Uint8Array): boolean {
  const copy = libcrypto().CRYPTO_malloc(BigInt(response.length), null, 0);
  if (isNull(copy)) return false;
  writeBytes(copy, response);
  // OpenSSL owns the copy from here on, whatever it returns.
  return setTlsextStatusOcspResp(ssl, copy, response.length);
}

/** The OCSP response the server stapled (client side), or null. */
export function stapledOcspResponse(ssl: Pointer): Uint8Array | null {
  const { data, length } = getTlsextStatusOcspResp(ssl);
  return length > 0 && !isNull(data) ? readBytes(data, length) : null;
}
