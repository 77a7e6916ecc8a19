/**
 * `Deno.bench` micro-benchmarks of the FFI path per record:
 * `deno bench -A scripts/bench/ffi_bench.ts`.
 *
 * - the cost of single trivial FFI calls (what secsock pays per call);
 * - one 16 KiB record through two in-process SSL objects with memory BIOs
 *   (SSL_write → BIO_read → BIO_write → SSL_read: encrypt + decrypt, no
 *   sockets), with the suites and buffer modes that matter;
 * - one 16 KiB record through secsock itself, client and server in this
 *   process over a loopback TCP pair (adds socket.ts, Promises and TCP).
 *
 * bench.ts reports the same figures (via ffi_probe.ts) next to
 * `openssl speed -evp aes-128-gcm -bytes 16384`.
 *
 * @module
 */
import { loopbackPair } from "./ffi_probe.ts";
import { MemoryPair, trivialCalls } from "./membio.ts";

const RECORD = 16384;

const { calls } = trivialCalls();
for (const [name, fn] of Object.entries(calls)) {
  Deno.bench(`FFI call: ${name}`, { group: "one FFI call", baseline: name.startsWith("BIO_ctrl") }, fn);
}

const aes128 = new MemoryPair({ suite: "TLS_AES_128_GCM_SHA256", releaseBuffers: true });
const aes128NoRelease = new MemoryPair({ suite: "TLS_AES_128_GCM_SHA256", releaseBuffers: false });
const aes256 = new MemoryPair({ suite: "TLS_AES_256_GCM_SHA384", releaseBuffers: true });
Deno.bench(
  "memory-BIO round trip, 16 KiB, TLS_AES_128_GCM_SHA256, RELEASE_BUFFERS (secsock's mode)",
  { group: "one 16 KiB record, encrypt + decrypt", baseline: true },
  () => void aes128.roundTrip(RECORD),
);
Deno.bench(
  "memory-BIO round trip, 16 KiB, TLS_AES_128_GCM_SHA256, buffers kept",
  { group: "one 16 KiB record, encrypt + decrypt" },
  () => void aes128NoRelease.roundTrip(RECORD),
);
Deno.bench(
  "memory-BIO round trip, 16 KiB, TLS_AES_256_GCM_SHA384, RELEASE_BUFFERS",
  { group: "one 16 KiB record, encrypt + decrypt" },
  () => void aes256.roundTrip(RECORD),
);

const loop = await loopbackPair();
const chunk = new Uint8Array(RECORD).fill(0x5a);
const sink = new Uint8Array(65536);
Deno.bench(
  `secsock write + read, 16 KiB, in-process loopback TCP (${loop.cipher})`,
  { group: "one 16 KiB record, encrypt + decrypt" },
  async () => {
    const reading = (async () => {
      for (let got = 0; got < RECORD;) {
        const n = await loop.server.read(sink);
        if (n === null) throw new Error("early EOF");
        got += n;
      }
    })();
    await loop.client.write(chunk);
    await reading;
  },
);

globalThis.addEventListener("unload", () => {
  loop.close();
  aes128.close();
  aes128NoRelease.close();
  aes256.close();
});
