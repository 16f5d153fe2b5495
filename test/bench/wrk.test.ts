import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  combine,
  cpuMicros,
  describeErrors,
  parseCpuMicros,
  parseWrk,
} from "../../bench/lib/wrk.ts";

const summary = (extra: string) => `Running 8s test @ http://127.0.0.1:7101
  2 threads and 32 connections
  Latency Distribution
     50%    3.38ms
     75%    5.10ms
     90%    8.00ms
     99%   19.37ms
  64848 requests in 8.00s, 6.12MB read
${extra}Requests/sec:   8106.00
Transfer/sec:    783.41KB
`;

describe("wrk output (benchmarks)", () => {
  it("reads the rate, the percentiles and no errors from a clean run", () => {
    const figures = parseWrk(summary(""));
    assert.equal(figures.requestsPerSec, 8106);
    assert.equal(figures.p50Ms, 3.38);
    assert.equal(figures.p99Ms, 19.37);
    assert.equal(figures.requests, 64848);
    assert.equal(figures.errors, 0);
    assert.deepEqual(figures.errorKinds, { connect: 0, read: 0, write: 0, timeout: 0 });
    assert.equal(describeErrors(figures), "");
  });

  it("keeps socket errors by kind and non-2xx answers, and sums them over runs", () => {
    const figures = parseWrk(
      summary(
        "  Socket errors: connect 0, read 3, write 0, timeout 29\n  Non-2xx or 3xx responses: 4\n",
      ),
    );
    assert.equal(figures.errors, 32);
    assert.deepEqual(figures.errorKinds, { connect: 0, read: 3, write: 0, timeout: 29 });
    assert.equal(figures.non2xx, 4);
    assert.equal(describeErrors(figures), "errors 32 (read 3, timeout 29), non-2xx 4");
    const both = combine([figures, parseWrk(summary(""))]);
    assert.equal(both.errors, 32);
    assert.deepEqual(both.errorKinds, { connect: 0, read: 3, write: 0, timeout: 29 });
    assert.equal(both.requestsPerSec, 16212);
  });

  it("refuses output it cannot read", () => {
    assert.throws(
      () => parseWrk("unable to connect to 127.0.0.1:7101 Connection refused"),
      /cannot parse wrk output/,
    );
  });
});

it("a process's CPU time is read from /proc/<pid>/stat, whatever its command name holds", () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = "4242 (node (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0";
  assert.equal(parseCpuMicros(line), (250 + 75) * 10_000);
  assert.throws(() => parseCpuMicros("garbage"), /not a \/proc\/<pid>\/stat line/);
  assert.ok(cpuMicros(process.pid) > 0, "this process has used some CPU time");
  assert.equal(cpuMicros(undefined), 0);
});
