// @ts-check
/**
 * The few messages of PostgreSQL's frontend/backend protocol (version 3.0)
 * the STARTTLS tests need, written from the protocol documentation: the
 * SSLRequest, a StartupMessage, a simple Query, Terminate, and a reader for
 * the backend's replies. Integers are big-endian.
 *
 * Plain JavaScript with JSDoc types, on web APIs only (Uint8Array, DataView,
 * TextEncoder): one copy serves the Deno test (tests/postgres_starttls_test.ts,
 * type-checked through these annotations) and the npm package's suite
 * (tests/node/postgres.test.mjs, on Node.js, Bun and Deno), which cannot
 * import TypeScript.
 */

/** What the helpers read from: a secsock `Conn`/`SecureSocket`, a `Deno.Conn`. @typedef {{ read(p: Uint8Array): Promise<number | null> }} Reader */
/** What the helpers write to. @typedef {{ write(p: Uint8Array): Promise<number> }} Writer */

/** The SSLRequest code: 1234 in the high 16 bits, 5679 in the low 16 bits. */
export const SSL_REQUEST_CODE = 80877103;
/** Protocol version 3.0. */
const PROTOCOL_3_0 = 196608;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The parts one after another, in one new array (byte by byte: what passes
 * here is a few kilobytes at most).
 * @param {Uint8Array[]} parts
 */
const concat = (parts) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** @param {number} n */
function int32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
}

/** A NUL-terminated UTF-8 string. @param {string} s */
const cstring = (s) => concat([encoder.encode(s), new Uint8Array([0])]);

/** A message with no type byte (SSLRequest, StartupMessage): length, then body. @param {Uint8Array} body */
const untyped = (body) => concat([int32(body.length + 4), body]);

/**
 * A typed message: type byte, length (counting itself, not the type), body.
 * @param {string} type
 * @param {Uint8Array} body
 */
const typed = (type, body) => concat([encoder.encode(type), int32(body.length + 4), body]);

/** A big-endian view of `bytes` (which may be a window into a larger buffer). @param {Uint8Array} bytes */
const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The 8-byte SSLRequest. */
export const sslRequest = () => untyped(int32(SSL_REQUEST_CODE));

/**
 * A v3 StartupMessage with the given parameters (user, database…).
 * @param {Record<string, string>} params
 */
export const startupMessage = (params) =>
  untyped(concat([int32(PROTOCOL_3_0), ...Object.entries(params).flat().map(cstring), new Uint8Array([0])]));

/** A simple Query ('Q'). @param {string} sql */
export const query = (sql) => typed("Q", cstring(sql));

/** Terminate ('X'). */
export const terminate = () => typed("X", new Uint8Array(0));

/**
 * Writes all of `bytes` (a write may take only part of them).
 * @param {Writer} conn
 * @param {Uint8Array} bytes
 * @returns {Promise<void>}
 */
export async function writeAll(conn, bytes) {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * Reads one byte from a plain connection, and nothing more (the answer to
 * SSLRequest: what follows belongs to TLS).
 * @param {Reader} conn
 * @returns {Promise<string>}
 */
export async function readOneByte(conn) {
  const one = new Uint8Array(1);
  if (await conn.read(one) === null) throw new Error("connection closed before the SSLRequest answer");
  return String.fromCharCode(one[0]);
}

/**
 * Fields of an ErrorResponse or NoticeResponse by their one-letter code (S severity, C SQLSTATE, M message…).
 * @param {Uint8Array} body
 * @returns {Record<string, string>}
 */
export function errorFields(body) {
  /** @type {Record<string, string>} */
  const fields = {};
  for (let i = 0; i < body.length && body[i] !== 0;) {
    const end = body.indexOf(0, i + 1);
    fields[String.fromCharCode(body[i])] = decoder.decode(body.subarray(i + 1, end));
    i = end + 1;
  }
  return fields;
}

/** A backend ErrorResponse, as an Error carrying the fields. */
export class PostgresError extends Error {
  /** @param {Record<string, string>} fields */
  constructor(fields) {
    super(`${fields.S ?? "ERROR"} ${fields.C ?? "?????"}: ${fields.M ?? ""}`);
    /** The fields by their one-letter code. @readonly */
    this.fields = fields;
  }

  /** The SQLSTATE code, e.g. "28000". @returns {string | undefined} */
  get code() {
    return this.fields.C;
  }
}

/** One backend message. @typedef {{ type: string, body: Uint8Array }} BackendMessage */

/** Reads backend messages from a stream, buffering what arrived past a message's end. */
export class MessageReader {
  /** @type {Uint8Array} */
  #buffer = new Uint8Array(0);
  /** @type {Reader} */
  #conn;

  /** @param {Reader} conn */
  constructor(conn) {
    this.#conn = conn;
  }

  /** @param {number} n @returns {Promise<boolean>} whether `n` bytes are buffered (false: the stream ended first) */
  async #fill(n) {
    const chunk = new Uint8Array(16384);
    while (this.#buffer.length < n) {
      const got = await this.#conn.read(chunk);
      if (got === null) return false;
      this.#buffer = concat([this.#buffer, chunk.subarray(0, got)]);
    }
    return true;
  }

  /** @param {number} n */
  #take(n) {
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /**
   * The next message, or null at a clean end of stream.
   * @returns {Promise<BackendMessage | null>}
   */
  async next() {
    if (!await this.#fill(5)) {
      if (this.#buffer.length === 0) return null;
      throw new Error("stream ended inside a message header");
    }
    const header = this.#take(5);
    const length = view(header).getInt32(1);
    if (length < 4 || length > 1 << 24) throw new Error(`implausible message length ${length}`);
    if (!await this.#fill(length - 4)) throw new Error("stream ended inside a message body");
    return { type: String.fromCharCode(header[0]), body: this.#take(length - 4) };
  }
}

/**
 * What the backend said between StartupMessage and the first ReadyForQuery.
 * @typedef {{ parameters: Record<string, string>, backendPid: number, transactionStatus: string }} Startup
 */

/**
 * Sends a StartupMessage and reads until ReadyForQuery. Only
 * AuthenticationOk is expected (certificate authentication asks for nothing
 * more); an ErrorResponse rejects with a {@linkcode PostgresError}.
 * @param {Reader & Writer} conn
 * @param {MessageReader} reader
 * @param {Record<string, string>} params
 * @returns {Promise<Startup>}
 */
export async function startup(conn, reader, params) {
  await writeAll(conn, startupMessage(params));
  /** @type {Record<string, string>} */
  const parameters = {};
  let backendPid = 0;
  let authenticated = false;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during startup");
    switch (m.type) {
      case "R": {
        const code = view(m.body).getInt32(0);
        if (code !== 0) throw new Error(`server asked for authentication method ${code}; expected none (cert auth)`);
        authenticated = true;
        break;
      }
      case "S": {
        const [k, v] = decoder.decode(m.body).split("\0");
        parameters[k] = v;
        break;
      }
      case "K":
        backendPid = view(m.body).getInt32(0);
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

/**
 * Rows of a simple query, as text (null for SQL NULL), with column names.
 * @typedef {{ columns: string[], rows: (string | null)[][], commandTag: string }} QueryResult
 */

/**
 * Runs one simple query and reads to ReadyForQuery; an ErrorResponse rejects
 * with a {@linkcode PostgresError} once the backend is ready again.
 * @param {Reader & Writer} conn
 * @param {MessageReader} reader
 * @param {string} sql
 * @returns {Promise<QueryResult>}
 */
export async function simpleQuery(conn, reader, sql) {
  await writeAll(conn, query(sql));
  /** @type {QueryResult} */
  const result = { columns: [], rows: [], commandTag: "" };
  /** @type {PostgresError | null} */
  let error = null;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during a query");
    const body = m.body;
    const ints = view(body);
    switch (m.type) {
      case "T": {
        for (let f = 0, i = 2; f < ints.getInt16(0); f++) {
          const end = body.indexOf(0, i);
          result.columns.push(decoder.decode(body.subarray(i, end)));
          i = end + 1 + 18; // table OID, column number, type OID, size, modifier, format
        }
        break;
      }
      case "D": {
        /** @type {(string | null)[]} */
        const row = [];
        for (let c = 0, i = 2; c < ints.getInt16(0); c++) {
          const len = ints.getInt32(i);
          i += 4;
          row.push(len < 0 ? null : decoder.decode(body.subarray(i, i + len)));
          if (len > 0) i += len;
        }
        result.rows.push(row);
        break;
      }
      case "C":
        result.commandTag = decoder.decode(body.subarray(0, body.indexOf(0)));
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
