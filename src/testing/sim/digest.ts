// Non-cryptographic hashing for the simulator: chain digests identify a log prefix in one
// number (so "same prefix" is one comparison, not a walk), and the run digest fingerprints a
// whole trace (so "same seed => same run" is one comparison). Two 32-bit lanes give a 53-bit
// value that is exact in a JavaScript number; an accidental collision could only hide a
// violation, never invent one.

export class Hasher {
  private h1: number;
  private h2: number;

  constructor(start = 0) {
    this.h1 = (start % 4294967296) | 0 || 0x243f6a88;
    this.h2 = Math.floor(start / 4294967296) ^ 0x85a308d3;
  }

  add(value: number): this {
    // Numbers above 32 bits (digests, large times) are absorbed as two words.
    if (value > 0xffffffff || value < -0x80000000) {
      this.addWord(Math.floor(value / 4294967296));
    }
    this.addWord(value | 0);
    return this;
  }

  addBytes(bytes: Uint8Array): this {
    this.addWord(bytes.length);
    let i = 0;
    for (; i + 4 <= bytes.length; i += 4) {
      this.addWord(
        bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24),
      );
    }
    let tail = 0;
    for (let shift = 0; i < bytes.length; i++, shift += 8) tail |= bytes[i]! << shift;
    return this.addWord(tail);
  }

  addString(text: string): this {
    this.addWord(text.length);
    for (let i = 0; i < text.length; i++) this.addWord(text.charCodeAt(i));
    return this;
  }

  private addWord(word: number): this {
    let k = Math.imul(word, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let h = this.h1 ^ k;
    h = (h << 13) | (h >>> 19);
    this.h1 = (Math.imul(h, 5) + 0xe6546b64) | 0;
    let g = this.h2 ^ Math.imul(word ^ (word >>> 16), 0x85ebca6b);
    g = (g << 17) | (g >>> 15);
    this.h2 = (Math.imul(g, 0xc2b2ae35) + this.h1) | 0;
    return this;
  }

  /** The 53-bit digest of everything added so far. */
  value(): number {
    let a = this.h1 ^ (this.h2 >>> 16);
    a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
    a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
    a ^= a >>> 16;
    let b = this.h2 ^ (a >>> 7);
    b = Math.imul(b ^ (b >>> 15), 0x2c1b3c6d);
    b = Math.imul(b ^ (b >>> 12), 0x297a2d39);
    b ^= b >>> 15;
    return (b & 0x1fffff) * 4294967296 + (a >>> 0);
  }
}

const ENTRY_TYPE_CODE = { normal: 1, "conf-change": 2 } as const;

/**
 * Digest of the log prefix ending with this entry, given the digest of the prefix before it.
 * Equal chain digests at an index mean equal logs up to that index.
 */
export function chainDigest(
  previous: number,
  entry: {
    readonly term: number;
    readonly type: "normal" | "conf-change";
    readonly data: Uint8Array;
  },
): number {
  return new Hasher(previous)
    .add(entry.term)
    .add(ENTRY_TYPE_CODE[entry.type])
    .addBytes(entry.data)
    .value();
}

/** The digest of the empty log (index 0). */
export const EMPTY_CHAIN_DIGEST = 0;

export function formatDigest(digest: number): string {
  return digest.toString(16).padStart(14, "0");
}
