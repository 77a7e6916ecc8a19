/**
 * The few messages of PostgreSQL's frontend/backend protocol (version 3.0)
 * the STARTTLS test needs, written from the protocol documentation: the
 * SSLRequest, a StartupMessage, a simple Query, Terminate, and a reader for
 * the backend's replies. Byte order is network order throughout.
 */
import { concat, enc, type Reader, writeAll, type Writer } from "../helpers.ts";

/** The SSLRequest code: 1234 in the high 16 bits, 5679 in the low 16 bits. */
export const SSL_REQUEST_CODE = 80877103;
/** Protocol version 3.0. */
const PROTOCOL_3_0 = 196608;

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
}

/** A message with no type byte (SSLRequest, StartupMessage): length, then body. */
function untyped(body: Uint8Array): Uint8Array {
  return concat([int32(body.length + 4), body]);
}

/** A typed message: type byte, length (counting itself, not the type), body. */
function typed(type: string, body: Uint8Array): Uint8Array {
  return concat([enc(type), int32(body.length + 4), body]);
}

const cstring = (s: string) => concat([enc(s), new Uint8Array([0])]);

/** The 8-byte SSLRequest. */
export function sslRequest(): Uint8Array {
  return untyped(int32(SSL_REQUEST_CODE));
}

/** A v3 StartupMessage with the given parameters (user, database…). */
export function startupMessage(params: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [int32(PROTOCOL_3_0)];
  for (const [k, v] of Object.entries(params)) parts.push(cstring(k), cstring(v));
  parts.push(new Uint8Array([0]));
  return untyped(concat(parts));
}

/** A simple Query ('Q'). */
export function query(sql: string): Uint8Array {
  return typed("Q", cstring(sql));
}

/** Terminate ('X'). */
export function terminate(): Uint8Array {
  return typed("X", new Uint8Array(0));
}

/** One backend message. */
export interface BackendMessage {
  type: string;
  body: Uint8Array;
}

/** Reads backend messages from a stream, buffering what arrived past a message's end. */
export class MessageReader {
  #buffer = new Uint8Array(0);
  readonly #reader: Reader;

  constructor(reader: Reader) {
    this.#reader = reader;
  }

  async #fill(n: number): Promise<boolean> {
    const chunk = new Uint8Array(16384);
    while (this.#buffer.length < n) {
      const got = await this.#reader.read(chunk);
      if (got === null) return false;
      this.#buffer = concat([this.#buffer, chunk.subarray(0, got)]);
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  /** The next message, or null at a clean end of stream. */
  async next(): Promise<BackendMessage | null> {
    if (!await this.#fill(5)) {
      if (this.#buffer.length === 0) return null;
      throw new Error("stream ended inside a message header");
    }
    const header = this.#take(5);
    const type = String.fromCharCode(header[0]);
    const length = new DataView(header.buffer).getInt32(1);
    if (length < 4 || length > 1 << 24) throw new Error(`implausible message length ${length}`);
    if (!await this.#fill(length - 4)) throw new Error("stream ended inside a message body");
    return { type, body: this.#take(length - 4) };
  }
}

/** Reads one byte from a plain connection (the answer to SSLRequest), reading nothing more. */
export async function readOneByte(reader: Reader): Promise<string> {
  const one = new Uint8Array(1);
  const n = await reader.read(one);
  if (n === null) throw new Error("connection closed before the SSLRequest answer");
  return String.fromCharCode(one[0]);
}

/** Fields of an ErrorResponse or NoticeResponse by their one-letter code (S severity, C SQLSTATE, M message…). */
export function errorFields(body: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = {};
  const d = new TextDecoder();
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]);
    const end = body.indexOf(0, i + 1);
    fields[code] = d.decode(body.subarray(i + 1, end));
    i = end + 1;
  }
  return fields;
}

/** A backend ErrorResponse, as an Error carrying the fields. */
export class PostgresError extends Error {
  readonly fields: Record<string, string>;
  constructor(fields: Record<string, string>) {
    super(`${fields.S ?? "ERROR"} ${fields.C ?? "?????"}: ${fields.M ?? ""}`);
    this.fields = fields;
  }
  /** The SQLSTATE code, e.g. "28000". */
  get code(): string | undefined {
    return this.fields.C;
  }
}

/** What the backend said between StartupMessage and the first ReadyForQuery. */
export interface Startup {
  parameters: Record<string, string>;
  backendPid: number;
  transactionStatus: string;
}

/**
 * Sends a StartupMessage and reads until ReadyForQuery. Only
 * AuthenticationOk is expected (certificate authentication asks for nothing
 * more); an ErrorResponse rejects with a {@linkcode PostgresError}.
 */
export async function startup(
  conn: Reader & Writer,
  reader: MessageReader,
  params: Record<string, string>,
): Promise<Startup> {
  await writeAll(conn, startupMessage(params));
  const parameters: Record<string, string> = {};
  let backendPid = 0;
  let authenticated = false;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during startup");
    const view = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    switch (m.type) {
      case "R": {
        const code = view.getInt32(0);
        if (code !== 0) throw new Error(`server asked for authentication method ${code}; expected none (cert auth)`);
        authenticated = true;
        break;
      }
      case "S": {
        const [k, v] = new TextDecoder().decode(m.body).split("\0");
        parameters[k] = v;
        break;
      }
      case "K":
        backendPid = view.getInt32(0);
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

/** Rows of a simple query, as text (null for SQL NULL), with column names. */
export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
  commandTag: string;
}

/** Runs one simple query and reads to ReadyForQuery. */
export async function simpleQuery(conn: Reader & Writer, reader: MessageReader, sql: string): Promise<QueryResult> {
  await writeAll(conn, query(sql));
  const d = new TextDecoder();
  const result: QueryResult = { columns: [], rows: [], commandTag: "" };
  let error: PostgresError | null = null;
  for (;;) {
    const m = await reader.next();
    if (!m) throw new Error("connection closed during a query");
    const view = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    switch (m.type) {
      case "T": {
        const n = view.getInt16(0);
        let i = 2;
        for (let f = 0; f < n; f++) {
          const end = m.body.indexOf(0, i);
          result.columns.push(d.decode(m.body.subarray(i, end)));
          i = end + 1 + 18; // table OID, column number, type OID, size, modifier, format
        }
        break;
      }
      case "D": {
        const n = view.getInt16(0);
        let i = 2;
        const row: (string | null)[] = [];
        for (let c = 0; c < n; c++) {
          const len = view.getInt32(i);
          i += 4;
          if (len < 0) row.push(null);
          else {
            row.push(d.decode(m.body.subarray(i, i + len)));
            i += len;
          }
        }
        result.rows.push(row);
        break;
      }
      case "C":
        result.commandTag = d.decode(m.body.subarray(0, m.body.indexOf(0)));
        break;
      case "E":
        error = new PostgresError(errorFields(m.body));
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
