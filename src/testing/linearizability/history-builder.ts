// Pairs invocation and completion events into operations. All three parsers feed this, so the
// rules about pairing, ordering and unknown outcomes live in one place.
import { CheckerError, HistoryParseError } from "./errors.ts";
import type {
  History,
  HistoryFormat,
  ModelName,
  Operation,
  OperationKind,
  Outcome,
  Value,
} from "./types.ts";

/** Far above any history a client run records; a bigger one is refused instead of exhausting memory. */
export const MAX_OPERATIONS = 2_000_000;

export interface InvokeEvent {
  readonly process: string;
  readonly kind: OperationKind;
  readonly key: string;
  /** write/append: the value written; cas: the new value. */
  readonly value: Value;
  /** cas: the value compared against. */
  readonly expected: Value;
  /** Timestamp in any single unit, or null when the file gives none (file order is then real-time order). */
  readonly time: bigint | null;
  readonly line: number;
}

export interface CompleteEvent {
  readonly process: string;
  /** When the completion repeats the operation, it must match the invocation. */
  readonly kind: OperationKind | null;
  readonly outcome: Outcome;
  /** read with outcome ok: the value returned. */
  readonly value: Value;
  /** False when the event omitted the read's value (an ok read must say what it read). */
  readonly valuePresent?: boolean;
  /** cas with outcome ok: whether it swapped. */
  readonly swapped: boolean;
  readonly time: bigint | null;
  readonly line: number;
}

interface PendingOperation {
  readonly invoke: InvokeEvent;
  complete: CompleteEvent | null;
  invokeSeq: number;
  completeSeq: number;
}

export class HistoryBuilder {
  private readonly source: string;
  private readonly operations: PendingOperation[] = [];
  private readonly pendingByProcess = new Map<string, PendingOperation>();
  private timed: boolean | null = null;

  constructor(source: string) {
    this.source = source;
  }

  invoke(event: InvokeEvent): void {
    this.checkTimed(event.time, event.line);
    const pending = this.pendingByProcess.get(event.process);
    if (pending !== undefined) {
      throw new HistoryParseError(
        this.source,
        event.line,
        `process ${event.process} invokes a new operation while its operation from line ${pending.invoke.line} has no completion; give each concurrent client its own process id, or record the missing completion (outcome unknown if it timed out)`,
      );
    }
    if (this.operations.length >= MAX_OPERATIONS) {
      throw new CheckerError(
        "HISTORY_TOO_LARGE",
        `${this.source}:${event.line}: more than ${MAX_OPERATIONS} operations; split the history into shorter runs`,
      );
    }
    const operation: PendingOperation = {
      invoke: event,
      complete: null,
      invokeSeq: 0,
      completeSeq: 0,
    };
    this.operations.push(operation);
    this.pendingByProcess.set(event.process, operation);
  }

  complete(event: CompleteEvent): void {
    this.checkTimed(event.time, event.line);
    const pending = this.pendingByProcess.get(event.process);
    if (pending === undefined) {
      throw new HistoryParseError(
        this.source,
        event.line,
        `completion for process ${event.process} without a preceding invocation by that process; every completion must follow its invocation in the file`,
      );
    }
    if (event.kind !== null && event.kind !== pending.invoke.kind) {
      throw new HistoryParseError(
        this.source,
        event.line,
        `completion says operation "${event.kind}" but process ${event.process} invoked "${pending.invoke.kind}" at line ${pending.invoke.line}`,
      );
    }
    if (event.time !== null && pending.invoke.time !== null && event.time < pending.invoke.time) {
      throw new HistoryParseError(
        this.source,
        event.line,
        `completion time ${event.time} is earlier than its invocation time ${pending.invoke.time} (line ${pending.invoke.line}); timestamps must come from one monotonic clock`,
      );
    }
    if (pending.invoke.kind === "read" && event.outcome === "ok" && event.valuePresent === false) {
      throw new HistoryParseError(
        this.source,
        event.line,
        `an ok completion of a read must give the value read ("value", null when the key was absent)`,
      );
    }
    pending.complete = event;
    this.pendingByProcess.delete(event.process);
  }

  build(format: HistoryFormat, initialValue: Value, declaredModel: ModelName | null): History {
    this.assignOrder();
    const operations: Operation[] = this.operations.map((pending, id) => {
      const { invoke, complete } = pending;
      const outcome: Outcome = complete === null ? "unknown" : complete.outcome;
      return {
        id,
        process: invoke.process,
        kind: invoke.kind,
        key: invoke.key,
        value:
          invoke.kind === "read"
            ? outcome === "ok" && complete
              ? complete.value
              : null
            : invoke.value,
        expected: invoke.kind === "cas" ? invoke.expected : null,
        outcome,
        swapped: invoke.kind === "cas" && outcome === "ok" && complete?.swapped === true,
        callOrder: pending.invokeSeq,
        // An unknown outcome means the effect may land arbitrarily late: its return is infinitely late.
        returnOrder: outcome === "unknown" ? Number.POSITIVE_INFINITY : pending.completeSeq,
        invokeLine: invoke.line,
        completeLine: complete === null ? null : complete.line,
      };
    });
    return { source: this.source, format, operations, initialValue, declaredModel };
  }

  private checkTimed(time: bigint | null, line: number): void {
    const timed = time !== null;
    if (this.timed === null) this.timed = timed;
    else if (this.timed !== timed) {
      throw new HistoryParseError(
        this.source,
        line,
        timed
          ? "this event has a timestamp but earlier ones do not; give every event a timestamp or none"
          : "this event has no timestamp but earlier ones do; give every event a timestamp or none",
      );
    }
  }

  /**
   * Real-time order: by timestamp when the file has them, else file order. At equal timestamps
   * invocations sort before completions, so operations whose bounds touch count as concurrent:
   * with coarse clocks that is the only safe reading (it never reports a false violation).
   */
  private assignOrder(): void {
    interface Slot {
      time: bigint;
      isInvoke: boolean;
      fileOrder: number;
      operation: PendingOperation;
    }
    const slots: Slot[] = [];
    for (const operation of this.operations) {
      slots.push({
        time: operation.invoke.time ?? 0n,
        isInvoke: true,
        fileOrder: operation.invoke.line,
        operation,
      });
      if (operation.complete !== null) {
        slots.push({
          time: operation.complete.time ?? 0n,
          isInvoke: false,
          fileOrder: operation.complete.line,
          operation,
        });
      }
    }
    if (this.timed === true) {
      slots.sort((a, b) => {
        if (a.time !== b.time) return a.time < b.time ? -1 : 1;
        if (a.isInvoke !== b.isInvoke) return a.isInvoke ? -1 : 1;
        return a.fileOrder - b.fileOrder;
      });
    } else {
      slots.sort((a, b) => a.fileOrder - b.fileOrder);
    }
    slots.forEach((slot, index) => {
      if (slot.isInvoke) slot.operation.invokeSeq = index;
      else slot.operation.completeSeq = index;
    });
  }
}
