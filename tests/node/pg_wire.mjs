/**
 * The few messages of PostgreSQL's frontend/backend protocol 3.0 the Node.js
 * STARTTLS test needs, over any secsock `Conn`-like object (`read`/`write`):
 * SSLRequest, StartupMessage, a simple Query, Terminate, and a reader for
 * the backend's typed messages. Integers are big-endian.
 */
import { Buffer } from "node:buffer";

/** The SSLRequest code: 1234 in the high 16 bits, 5679 in the low 16 bits. */
const SSL_REQUEST_CODE = 80877103;
/** Protocol version 3.0. */
const PROTOCOL_3_0 = 196608;

const int32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstring = (s) => Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0])]);
/** A message without a type byte (SSLRequest, StartupMessage). */
const untyped = (body) => Buffer.concat([int32(body.length + 4), body]);
/** A typed message: type byte, length (counting itself, not the type), body. */
const typed = (type, body) => Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);

/** The 8-byte SSLRequest. */
export const sslRequest = () => untyped(int32(SSL_REQUEST_CODE));
/** A StartupMessage with the given parameters (user, database, …). */
export const startupMessage = (params) =>
  untyped(Buffer.concat([int32(PROTOCOL_3_0), ...Object.entries(params).flat().map(cstring), Buffer.from([0])]));
/** A simple Query ('Q'). */
export const query = (sql) => typed("Q", cstring(sql));
/** Terminate ('X'). */
export const terminate = () => typed("X", Buffer.alloc(0));

/** Writes all of `bytes` (a Conn's write may take part of them). */
export async function writeAll(conn, bytes) {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Reads one byte, and nothing more (the answer to SSLRequest: what follows belongs to TLS). */
export async function readOneByte(conn) {
  const one = new Uint8Array(1);
  if (await conn.read(one) === null) throw new Error("connection closed before the SSLRequest answer");
  return String.fromCharCode(one[0]);
}

/** Fields of an ErrorResponse by their one-letter code (S severity, C SQLSTATE, M message, …). */
function errorFields(body) {
  const fields = {};
  for (let i = 0; i < body.length && body[i] !== 0;) {
    const end = body.indexOf(0, i + 1);
    fields[String.fromCharCode(body[i])] = body.subarray(i + 1, end).toString("utf8");
    i = end + 1;
  }
  return fields;
}

/** An ErrorResponse from the backend. */
export class PostgresError extends Error {
  constructor(fields) {
    super(`${fields.S ?? "ERROR"} ${fields.C ?? "?????"}: ${fields.M ?? ""}`);
    this.fields = fields;
    this.code = fields.C;
  }
}

/** Reads backend messages `{ type, body }`, keeping what arrived past a message's end. */
export class MessageReader {
  #buffer = Buffer.alloc(0);
  #conn;
  constructor(conn) {
    this.#conn = conn;
  }

  async #fill(n) {
    const chunk = new Uint8Array(16384);
    while (this.#buffer.length < n) {
      const got = await this.#conn.read(chunk);
      if (got === null) return false;
      this.#buffer = Buffer.concat([this.#buffer, chunk.subarray(0, got)]);
    }
    return true;
  }

  #take(n) {
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** The next message, or null at a clean end of stream. */
  async next() {
    if (!await this.#fill(5)) {
      if (this.#buffer.length === 0) return null;
      throw new Error("stream ended inside a message header");
    }
    const header = this.#take(5);
    const length = header.readInt32BE(1);
    if (length < 4 || length > 1 << 24) throw new Error(`implausible message length ${length}`);
    if (!await this.#fill(length - 4)) throw new Error("stream ended inside a message body");
    return { type: String.fromCharCode(header[0]), body: this.#take(length - 4) };
  }
}

/**
 * Sends a StartupMessage and reads to ReadyForQuery. Certificate
 * authentication asks for nothing: only AuthenticationOk is accepted.
 * Resolves to `{ parameters, backendPid, transactionStatus }`.
 */
export async function startup(conn, reader, params) {
  await writeAll(conn, startupMessage(params));
  const parameters = {};
  let backendPid = 0;
  let authenticated = false;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during startup");
    switch (m.type) {
      case "R": {
        const code = m.body.readInt32BE(0);
        if (code !== 0) throw new Error(`server asked for authentication method ${code}; expected none (cert auth)`);
        authenticated = true;
        break;
      }
      case "S": {
        const [k, v] = m.body.toString("utf8").split("\0");
        parameters[k] = v;
        break;
      }
      case "K":
        backendPid = m.body.readInt32BE(0);
        break;
      case "N":
        break;
      case "E":
        throw new PostgresError(errorFields(m.body));
      case "Z":
        if (!authenticated) throw new Error("ReadyForQuery before AuthenticationOk");
        return { parameters, backendPid, transactionStatus: String.fromCharCode(m.body[0]) };
      default:
        throw new Error(`unexpected message '${m.type}' during startup`);
    }
  }
}

/** Runs a simple Query; resolves to `{ columns, rows, commandTag }` (text values, null for SQL NULL). */
export async function simpleQuery(conn, reader, sql) {
  await writeAll(conn, query(sql));
  const result = { columns: [], rows: [], commandTag: "" };
  let error = null;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during a query");
    const body = m.body;
    switch (m.type) {
      case "T": {
        for (let f = 0, i = 2; f < body.readInt16BE(0); f++) {
          const end = body.indexOf(0, i);
          result.columns.push(body.subarray(i, end).toString("utf8"));
          i = end + 1 + 18; // table OID, column number, type OID, size, modifier, format
        }
        break;
      }
      case "D": {
        const row = [];
        for (let c = 0, i = 2; c < body.readInt16BE(0); c++) {
          const len = body.readInt32BE(i);
          i += 4;
          row.push(len < 0 ? null : body.subarray(i, i + len).toString("utf8"));
          if (len > 0) i += len;
        }
        result.rows.push(row);
        break;
      }
      case "C":
        result.commandTag = body.subarray(0, body.indexOf(0)).toString("utf8");
        break;
      case "E":
        error = new PostgresError(errorFields(body));
        break;
      case "N":
      case "S":
      case "I":
        break;
      case "Z":
        if (error) throw error;
        return result;
      default:
        throw new Error(`unexpected message '${m.type}' during a query`);
    }
  }
}
