/**
 * The peers of scripts/bench/profile.ts: Deno's own TLS (rustls) in other
 * processes, so that nothing the peer does is counted in the measured one.
 *
 * @module
 */
import { type CertKind, fixturePath, HOST } from "./common.ts";

const HERE = new URL(".", import.meta.url).pathname;
const encoder = new TextEncoder();

// ------------------------------------------------------------------ peers (other processes)

/** A process we talk to by lines on stdin/stdout. */
export class Peer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), { args, stdin: "piped", stdout: "piped", stderr: "inherit" })
      .spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.#buffer.indexOf("\n");
      if (i >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("peer exited");
      this.#buffer += value;
    }
  }

  async ask(command: string): Promise<string> {
    await this.#writer.write(encoder.encode(command + "\n"));
    return await this.line();
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // gone
    }
    await this.#child.status;
    try {
      await this.#writer.close();
    } catch {
      // gone
    }
    await this.#reader.cancel().catch(() => {});
  }
}

/** Deno's TLS server (scripts/bench/deno_peer.ts, the benchmark protocol) with the given certificate. */
export async function denoServer(cert: CertKind): Promise<{ peer: Peer; port: number }> {
  const peer = new Peer(["run", "-A", `${HERE}deno_peer.ts`, "server", "--cert", cert, "--lifetime", "600"]);
  return { peer, port: JSON.parse(await peer.line()).port };
}

/** The client peer: Deno's TLS client, driven by commands (see `peerClient`). */
export const clientPeer = () => new Peer(["run", "-A", `${HERE}profile.ts`, "peer-client"]);

/**
 * `peer-client`: reads commands on stdin, answers one line each.
 * - `hs <port> <n>`: n sequential connections: handshake, close;
 * - `hold <port> <n> <tls 0|1>`: opens n connections, each sends "Q\n" and
 *   reads "A\n", and keeps them open;
 * - `release`: closes the held connections.
 */
export async function peerClient(): Promise<void> {
  const ca = Deno.readTextFileSync(fixturePath("ca.pem"));
  const held: Deno.Conn[] = [];
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  const say = (s: string) => Deno.stdout.writeSync(encoder.encode(s + "\n"));
  const open = async (port: number, tls: boolean): Promise<Deno.Conn> => {
    if (!tls) return await Deno.connect({ hostname: HOST, port });
    const conn = await Deno.connectTls({ hostname: HOST, port, caCerts: [ca] });
    await conn.handshake();
    return conn;
  };
  for await (const chunk of lines) {
    pending += chunk;
    for (let i = pending.indexOf("\n"); i >= 0; i = pending.indexOf("\n")) {
      const [cmd, ...args] = pending.slice(0, i).split(" ");
      pending = pending.slice(i + 1);
      try {
        if (cmd === "hs") {
          const [port, n] = args.map(Number);
          for (let k = 0; k < n; k++) {
            const conn = await open(port, true);
            conn.close();
          }
        } else if (cmd === "hold") {
          const [port, n, tls] = args.map(Number);
          const buf = new Uint8Array(16);
          for (let k = 0; k < n; k += 32) {
            await Promise.all(Array.from({ length: Math.min(32, n - k) }, async () => {
              const conn = await open(port, tls === 1);
              held.push(conn);
              await conn.write(encoder.encode("Q\n"));
              if ((await conn.read(buf)) === null) throw new Error("no answer");
            }));
          }
        } else if (cmd === "release") {
          for (const c of held.splice(0)) c.close();
        }
        say("ok");
      } catch (error) {
        say(`error ${error}`);
      }
    }
  }
}
