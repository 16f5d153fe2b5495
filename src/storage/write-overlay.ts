// The writes of state-machine batches that are applied but not yet committed by LMDB's writer
// thread ("async" sync mode). Reads consult the overlay first, so they see every applied batch
// at once, while the commits happen off the main thread; an entry leaves the overlay when the
// batch that wrote it last has committed (from then on LMDB's own reads return it).

/** One key's newest uncommitted write: a value, or null for a delete. */
export interface OverlayEntry {
  readonly key: Buffer;
  readonly value: Buffer | null;
  /** The batch that wrote it; batches commit in this order. */
  readonly batch: number;
}

export interface OverlayRangeBounds {
  /** First key of the range (inclusive unless exclusiveStart). */
  start: Buffer;
  exclusiveStart: boolean;
  /** First key past the range; undefined = no upper bound. */
  end: Buffer | undefined;
}

const keyOf = (key: Buffer): string => key.toString("latin1");

export class WriteOverlay {
  readonly #entries = new Map<string, OverlayEntry>();
  /** The keys (names) written by each uncommitted batch; bounds what a commit has to scan. */
  readonly #batchKeys = new Map<number, string[]>();

  get size(): number {
    return this.#entries.size;
  }

  /** Uncommitted batches. */
  get batches(): number {
    return this.#batchKeys.size;
  }

  /** The newest uncommitted write of key: a value, null (deleted), or undefined (not here). */
  lookup(key: Buffer): Buffer | null | undefined {
    return this.lookupName(keyOf(key));
  }

  /** lookup() by the key's name (overlayKey(key)), for a caller that already has it. */
  lookupName(name: string): Buffer | null | undefined {
    const entry = this.#entries.get(name);
    return entry === undefined ? undefined : entry.value;
  }

  /** Records one batch's writes (in the order they were made; a later write of a key wins). */
  add(batch: number, writes: ReadonlyMap<string, { key: Buffer; value: Buffer | null }>): void {
    const names: string[] = [];
    for (const [name, write] of writes) {
      this.#entries.set(name, { key: write.key, value: write.value, batch });
      names.push(name);
    }
    this.#batchKeys.set(batch, names);
  }

  /** The batch has committed: its entries that no later batch overwrote leave the overlay. */
  committed(batch: number): void {
    const names = this.#batchKeys.get(batch);
    if (names === undefined) return;
    this.#batchKeys.delete(batch);
    for (const name of names) {
      const entry = this.#entries.get(name);
      if (entry !== undefined && entry.batch <= batch) this.#entries.delete(name);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#batchKeys.clear();
  }

  /** Every entry, in ascending byte order of key (a copy, safe to keep). */
  sorted(): OverlayEntry[] {
    return [...this.#entries.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  }

  /** The entries inside the bounds, in ascending byte order of key (a copy, safe to keep). */
  sortedWithin(bounds: OverlayRangeBounds): OverlayEntry[] {
    const out: OverlayEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (inBounds(entry.key, bounds)) out.push(entry);
    }
    return out.sort((a, b) => Buffer.compare(a.key, b.key));
  }
}

/** Keys under a write map for one batch in progress (the same naming as the overlay). */
export function overlayKey(key: Buffer): string {
  return keyOf(key);
}

export function inBounds(key: Buffer, bounds: OverlayRangeBounds): boolean {
  const fromStart = Buffer.compare(key, bounds.start);
  if (fromStart < 0 || (fromStart === 0 && bounds.exclusiveStart)) return false;
  return bounds.end === undefined || Buffer.compare(key, bounds.end) < 0;
}

/**
 * Merges a range read from the database (ascending, lazily iterated) with the overlay's entries
 * in the same bounds (ascending): an overlay value replaces the database's, an overlay delete
 * hides it. Stops at limit entries or once the key + value bytes reach maxBytes.
 */
export function mergeRange(
  stored: Iterable<{ key: Buffer; value: Buffer }>,
  overlay: readonly OverlayEntry[],
  limit: number,
  maxBytes: number,
): Array<{ key: Buffer; value: Buffer }> {
  const out: Array<{ key: Buffer; value: Buffer }> = [];
  let bytes = 0;
  let next = 0;
  const emit = (key: Buffer, value: Buffer): boolean => {
    out.push({ key, value });
    bytes += key.length + value.length;
    return out.length >= limit || bytes >= maxBytes;
  };
  for (const entry of stored) {
    // Overlay keys before this stored key come first.
    while (next < overlay.length && Buffer.compare(overlay[next]!.key, entry.key) < 0) {
      const pending = overlay[next++]!;
      if (pending.value !== null && emit(pending.key, pending.value)) return out;
    }
    if (next < overlay.length && Buffer.compare(overlay[next]!.key, entry.key) === 0) {
      const pending = overlay[next++]!;
      if (pending.value !== null && emit(pending.key, pending.value)) return out;
      continue;
    }
    if (emit(entry.key, entry.value)) return out;
  }
  while (next < overlay.length) {
    const pending = overlay[next++]!;
    if (pending.value !== null && emit(pending.key, pending.value)) return out;
  }
  return out;
}
