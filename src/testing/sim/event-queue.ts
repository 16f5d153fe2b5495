// The simulator's agenda: a binary min-heap of events ordered by simulated time, ties broken by
// insertion order so that equal-time events run in a deterministic sequence.

interface Slot<T> {
  readonly time: number;
  readonly sequence: number;
  readonly event: T;
}

export class EventQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private sequence = 0;
  private readonly maxSize: number;

  /** `maxSize` bounds the agenda: a runaway producer is a harness bug, reported loudly. */
  constructor(maxSize = 1_000_000) {
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.heap.length;
  }

  push(time: number, event: T): void {
    if (this.heap.length >= this.maxSize) {
      throw new Error(`event queue is full (${this.maxSize} events): a producer is running away`);
    }
    const slot: Slot<T> = { time, sequence: this.sequence++, event };
    const heap = this.heap;
    let index = heap.length;
    heap.push(slot);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!before(slot, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = slot;
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime(): number {
    return this.heap[0]?.time ?? Number.POSITIVE_INFINITY;
  }

  pop(): { time: number; event: T } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let index = 0;
      const length = heap.length;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= length) break;
        const right = left + 1;
        const child = right < length && before(heap[right]!, heap[left]!) ? right : left;
        if (!before(heap[child]!, last)) break;
        heap[index] = heap[child]!;
        index = child;
      }
      heap[index] = last;
    }
    return { time: top.time, event: top.event };
  }
}

function before<T>(a: Slot<T>, b: Slot<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
}
