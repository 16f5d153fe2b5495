// A structural pre-check of msgpack bytes before they are decoded.
//
// msgpackr decodes nested containers recursively, so absurdly deep nesting would end in a stack
// overflow whose depth depends on the process, not on the bytes: two nodes could then describe
// the same bad entry differently. Commands nest at most four levels (txn map > list > op map >
// bytes), so anything deeper, any extension type and any trailing byte is refused here, by a
// loop that depends on the bytes alone.

export const MAX_COMMAND_NESTING_DEPTH = 8;

/**
 * Returns undefined if the bytes are one well-formed msgpack value with at most maxDepth levels
 * of non-empty containers and no extension types; otherwise the reason.
 */
export function checkMsgpackShape(
  bytes: Uint8Array,
  maxDepth = MAX_COMMAND_NESTING_DEPTH,
): string | undefined {
  // Runs on every node for every applied entry: no allocation beyond the depth stack.
  const pending: number[] = [1]; // values still expected at each open nesting level
  const end = bytes.length;
  let offset = 0;
  while (pending.length > 0) {
    const top = pending.length - 1;
    const remaining = pending[top]!;
    if (remaining === 0) {
      pending.pop();
      continue;
    }
    pending[top] = remaining - 1;
    if (offset + 1 > end) return "the bytes end inside a value";
    const type = bytes[offset++]!;
    let skip = 0;
    let children = 0;
    if (type <= 0x7f || type >= 0xe0 || type === 0xc0 || type === 0xc2 || type === 0xc3) {
      skip = 0;
    } else if (type <= 0x8f) {
      children = (type & 0x0f) * 2;
    } else if (type <= 0x9f) {
      children = type & 0x0f;
    } else if (type <= 0xbf) {
      skip = type & 0x1f;
    } else {
      switch (type) {
        case 0xc4: // bin 8, 16, 32
        case 0xd9: // str 8, 16, 32
        case 0xc5:
        case 0xda:
        case 0xc6:
        case 0xdb: {
          const size = type === 0xc4 || type === 0xd9 ? 1 : type === 0xc5 || type === 0xda ? 2 : 4;
          if (offset + size > end) return "the bytes end inside a length";
          skip = readLength(bytes, offset, size);
          offset += size;
          break;
        }
        case 0xcc: // uint 8 / int 8
        case 0xd0:
          skip = 1;
          break;
        case 0xcd: // uint 16 / int 16
        case 0xd1:
          skip = 2;
          break;
        case 0xca: // float 32, uint 32, int 32
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb: // float 64, uint 64, int 64
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc: // array 16, array 32, map 16, map 32
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const size = type === 0xdc || type === 0xde ? 2 : 4;
          if (offset + size > end) return "the bytes end inside a count";
          children = readLength(bytes, offset, size) * (type >= 0xde ? 2 : 1);
          offset += size;
          break;
        }
        default:
          return `msgpack type 0x${type.toString(16)} (an extension or reserved type) is not part of the command format`;
      }
    }
    if (offset + skip > end) return "the bytes end inside a value";
    offset += skip;
    if (children > 0) {
      if (children > end - offset) return "a container declares more values than there are bytes";
      if (pending.length > maxDepth) return `values nest deeper than ${maxDepth} levels`;
      pending.push(children);
    }
  }
  return offset === end ? undefined : "bytes follow the command";
}

/** A big-endian unsigned length of 1, 2 or 4 bytes. */
function readLength(bytes: Uint8Array, offset: number, size: number): number {
  if (size === 1) return bytes[offset]!;
  if (size === 2) return (bytes[offset]! << 8) | bytes[offset + 1]!;
  return (
    bytes[offset]! * 0x1000000 +
    ((bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!)
  );
}
