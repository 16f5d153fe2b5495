// One simulated cluster member: its durable storage, its volatile core and state machine, and
// what its Readies have reported so far.

import type { MemoryStorage, Message, RaftNode, ReadState, Ready, Role } from "../../raft/index.ts";
import type { Prng } from "./prng.ts";
import { SimStateMachine } from "./state-machine.ts";

/**
 * Deliberate bugs the simulator can plant in its own node layer, to show that the checkers
 * catch them in whole runs (see test/testing/sim/mutations.test.ts). Never used otherwise.
 * - "local-reads": serve reads from the local state machine at once, without ReadIndex.
 * - "lose-log-tail": a crash loses the last few persisted entries (an fsync that lied).
 * - "forget-votes": a crash loses the node's vote (its hard state was not really fsynced).
 * - "never-heal": the liveness phase isolates every node instead of healing the network.
 */
export type Mutation = "local-reads" | "lose-log-tail" | "forget-votes" | "never-heal";

/** Where an armed crash strikes inside the next Ready that persists something. */
export type CrashPoint = "after-persist" | "after-send";

export class SimNode {
  readonly id: number;
  readonly random: () => number;
  /** Durable: survives crashes. Undefined until the node is first started. */
  storage: MemoryStorage | undefined;
  /** Volatile: undefined while the node is down. */
  raft: RaftNode | undefined;
  machine = new SimStateMachine();
  incarnation = 0;
  role: Role = "follower";
  leaderId = 0;
  /** Term and commit as last persisted. */
  term = 0;
  commit = 0;
  /** Read states waiting for the state machine to reach their index. */
  readStates: ReadState[] = [];
  /** Asynchronous persistence: the Ready being written, handled when the write completes. */
  pendingReady: Ready | undefined;
  /** Messages of the pending Ready already sent before it was persisted (leader only). */
  earlySent: Set<Message> | undefined;
  armedCrash: CrashPoint | undefined;
  /**
   * A paused process (a long GC pause, SIGSTOP, a stalled VM) does nothing before this time:
   * its timers, deliveries and disk completions wait, and then run late.
   */
  pausedUntil = 0;
  /** Incremented when the node goes down; a scheduled restart names the down period it ends. */
  downToken = 0;

  constructor(id: number, prng: Prng) {
    this.id = id;
    const own = prng.fork();
    this.random = () => own.next();
  }

  get running(): boolean {
    return this.raft !== undefined;
  }

  isPaused(now: number): boolean {
    return this.pausedUntil > now;
  }
}
