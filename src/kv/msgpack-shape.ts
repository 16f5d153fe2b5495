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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pending: number[] = [1]; // values still expected at each open nesting level
  let offset = 0;
  const need = (size: number): boolean => offset + size <= bytes.length;
  while (pending.length > 0) {
    const top = pending.length - 1;
    if (pending[top] === 0) {
      pending.pop();
      continue;
    }
    pending[top] = (pending[top] ?? 0) - 1;
    if (!need(1)) return "the bytes end inside a value";
    const type = bytes[offset++] ?? 0;
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
      const lengthSize: Record<number, number> = { 196: 1, 197: 2, 198: 4, 217: 1, 218: 2, 219: 4 };
      const fixedSize: Record<number, number> = {
        202: 4,
        203: 8,
        204: 1,
        205: 2,
        206: 4,
        207: 8,
        208: 1,
        209: 2,
        210: 4,
        211: 8,
      };
      const countSize: Record<number, [number, number]> = {
        220: [2, 1],
        221: [4, 1],
        222: [2, 2],
        223: [4, 2],
      };
      const byteLength = lengthSize[type];
      const fixed = fixedSize[type];
      const count = countSize[type];
      if (byteLength !== undefined) {
        if (!need(byteLength)) return "the bytes end inside a length";
        skip = readLength(view, offset, byteLength);
        offset += byteLength;
      } else if (fixed !== undefined) {
        skip = fixed;
      } else if (count !== undefined) {
        if (!need(count[0])) return "the bytes end inside a count";
        children = readLength(view, offset, count[0]) * count[1];
        offset += count[0];
      } else {
        return `msgpack type 0x${type.toString(16)} (an extension or reserved type) is not part of the command format`;
      }
    }
    if (!need(skip)) return "the bytes end inside a value";
    offset += skip;
    if (children > 0) {
      if (children > bytes.length - offset)
        return "a container declares more values than there are bytes";
      if (pending.length > maxDepth) return `values nest deeper than ${maxDepth} levels`;
      pending.push(children);
    }
  }
  return offset === bytes.length ? undefined : "bytes follow the command";
}

function readLength(view: DataView, offset: number, size: number): number {
  if (size === 1) return view.getUint8(offset);
  if (size === 2) return view.getUint16(offset);
  return view.getUint32(offset);
}
