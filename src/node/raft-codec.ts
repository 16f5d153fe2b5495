// The peer transport's encoding of consensus messages ({k: "raft", m}), in place of msgpack: a
// fixed binary layout, written and read with a DataView. Every write crosses it twice on the
// leader (one append per follower) and once on each follower, and msgpack's maps of twelve named
// fields (four per entry) cost several times more to build and to read back. Messages that carry
// a snapshot, and every other envelope, stay msgpack (encode returns undefined).
//
//   u8  CUSTOM_BODY_MARKER (0xc1)   u8 layout version (1)   u8 message type   u8 flags
//   f64 from   f64 to   f64 term   f64 logTerm   f64 index   f64 commit   f64 rejectHint
//   u32 entry count, then per entry: f64 term   f64 index   u8 entry type   u32 length   bytes
//   [u32 length   bytes]  the context, if flags says there is one
//
// Integers travel as float64, exact for every safe integer. Big-endian throughout.
import {
  type Entry,
  type EntryType,
  MESSAGE_TYPES,
  type Message,
  type MessageType,
} from "../raft/index.ts";
import { CUSTOM_BODY_MARKER, type MessageCodec } from "../transport/index.ts";

const LAYOUT_VERSION = 1;
const TYPE_CODES = new Map<MessageType, number>(MESSAGE_TYPES.map((type, code) => [type, code]));
const ENTRY_TYPES: readonly EntryType[] = ["normal", "conf-change"];
const FLAG_REJECT = 1;
const FLAG_CONTEXT = 2;
const HEADER_BYTES = 4 + 7 * 8 + 4;
const ENTRY_HEADER_BYTES = 8 + 8 + 1 + 4;
const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

/** An envelope the member sends: a consensus message, or something this codec leaves alone. */
export type RaftEnvelope = { readonly k: "raft"; readonly m: Message } | { readonly k: string };

export class RaftCodecError extends Error {
  constructor(message: string) {
    super(`malformed consensus message: ${message}`);
    this.name = "RaftCodecError";
  }
}

function encode(envelope: RaftEnvelope): Uint8Array | undefined {
  if (envelope.k !== "raft") return undefined;
  const m = (envelope as { m: Message }).m;
  if (m.snapshot !== undefined) return undefined;
  const typeCode = TYPE_CODES.get(m.type);
  if (typeCode === undefined) return undefined;
  let size = HEADER_BYTES;
  for (const entry of m.entries) size += ENTRY_HEADER_BYTES + entry.data.length;
  if (m.context !== undefined) size += 4 + m.context.length;
  // From Node.js' shared pool when small; the frame copies it right away.
  const buffer = Buffer.allocUnsafe(size);
  const view = new DataView(buffer.buffer, buffer.byteOffset, size);
  let at = 0;
  buffer[at++] = CUSTOM_BODY_MARKER;
  buffer[at++] = LAYOUT_VERSION;
  buffer[at++] = typeCode;
  buffer[at++] = (m.reject ? FLAG_REJECT : 0) | (m.context !== undefined ? FLAG_CONTEXT : 0);
  view.setFloat64(at, m.from);
  view.setFloat64(at + 8, m.to);
  view.setFloat64(at + 16, m.term);
  view.setFloat64(at + 24, m.logTerm);
  view.setFloat64(at + 32, m.index);
  view.setFloat64(at + 40, m.commit);
  view.setFloat64(at + 48, m.rejectHint);
  view.setUint32(at + 56, m.entries.length);
  at += 60;
  for (const entry of m.entries) {
    view.setFloat64(at, entry.term);
    view.setFloat64(at + 8, entry.index);
    buffer[at + 16] = entry.type === "conf-change" ? 1 : 0;
    view.setUint32(at + 17, entry.data.length);
    at += ENTRY_HEADER_BYTES;
    buffer.set(entry.data, at);
    at += entry.data.length;
  }
  if (m.context !== undefined) {
    view.setUint32(at, m.context.length);
    buffer.set(m.context, at + 4);
    at += 4 + m.context.length;
  }
  if (at !== size) throw new Error(`consensus message encoded to ${at} bytes, expected ${size}`);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

function readCount(view: DataView, at: number, name: string): number {
  const value = view.getUint32(at);
  if (value > view.byteLength) throw new RaftCodecError(`${name} ${value} exceeds the body`);
  return value;
}

function readNumber(view: DataView, at: number, name: string): number {
  const value = view.getFloat64(at);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RaftCodecError(`${name} ${value} is not a non-negative safe integer`);
  }
  return value;
}

function decode(body: Uint8Array): RaftEnvelope {
  const size = body.length;
  if (size < HEADER_BYTES) throw new RaftCodecError(`${size} bytes, shorter than the header`);
  if (body[0] !== CUSTOM_BODY_MARKER || body[1] !== LAYOUT_VERSION) {
    throw new RaftCodecError(`unknown layout ${body[0]}/${body[1]}; are all nodes on one version?`);
  }
  const type = MESSAGE_TYPES[body[2]!];
  if (type === undefined) throw new RaftCodecError(`unknown message type ${body[2]}`);
  const flags = body[3]!;
  if ((flags & ~(FLAG_REJECT | FLAG_CONTEXT)) !== 0) throw new RaftCodecError(`flags ${flags}`);
  const view = new DataView(body.buffer, body.byteOffset, size);
  const from = readNumber(view, 4, "from");
  const to = readNumber(view, 12, "to");
  const term = readNumber(view, 20, "term");
  const logTerm = readNumber(view, 28, "logTerm");
  const index = readNumber(view, 36, "index");
  const commit = readNumber(view, 44, "commit");
  const rejectHint = readNumber(view, 52, "rejectHint");
  const count = readCount(view, 60, "entry count");
  let at = HEADER_BYTES;
  let entries: readonly Entry[] = NO_ENTRIES;
  if (count > 0) {
    const list: Entry[] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (at + ENTRY_HEADER_BYTES > size) throw new RaftCodecError(`entry ${i} is cut short`);
      const entryType = ENTRY_TYPES[body[at + 16]!];
      if (entryType === undefined) throw new RaftCodecError(`entry type ${body[at + 16]}`);
      const length = readCount(view, at + 17, "entry length");
      const start = at + ENTRY_HEADER_BYTES;
      if (start + length > size) throw new RaftCodecError(`entry ${i} is cut short`);
      list[i] = {
        term: readNumber(view, at, "entry term"),
        index: readNumber(view, at + 8, "entry index"),
        type: entryType,
        data: body.subarray(start, start + length),
      };
      at = start + length;
    }
    entries = list;
  }
  let context: Uint8Array | undefined;
  if ((flags & FLAG_CONTEXT) !== 0) {
    if (at + 4 > size) throw new RaftCodecError("the context is cut short");
    const length = readCount(view, at, "context length");
    if (at + 4 + length > size) throw new RaftCodecError("the context is cut short");
    context = body.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  if (at !== size) throw new RaftCodecError(`${size - at} bytes after the message`);
  const m: Message = {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    snapshot: undefined,
    context,
  };
  return { k: "raft", m };
}

/** The member's codec for the peer transport. */
export const raftCodec: MessageCodec<RaftEnvelope> = { encode, decode };
