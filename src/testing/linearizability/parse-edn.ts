// EDN key-value histories, one map per line, e.g.
//   {:process 3, :type :invoke, :f :append, :key "0", :value "x 3 0 y"}
// Only the subset of EDN these files use is read: maps, vectors, strings, keywords, integers,
// nil and booleans. Every key starts as the empty string.
import { HistoryParseError } from "./errors.ts";
import { HistoryBuilder } from "./history-builder.ts";
import type { History, OperationKind, Outcome, Value } from "./types.ts";

interface Keyword {
  readonly keyword: string;
}
type Edn = string | number | boolean | null | Keyword | Edn[] | Map<string, Edn>;

class Reader {
  private position = 0;
  constructor(
    private readonly text: string,
    private readonly fail: (problem: string) => never,
  ) {}

  readTop(): Edn {
    const value = this.read();
    this.skipSpace();
    if (this.position < this.text.length)
      this.fail(`unexpected text after the map at column ${this.position + 1}`);
    return value;
  }

  private skipSpace(): void {
    while (this.position < this.text.length && /[\s,]/.test(this.text[this.position]!))
      this.position++;
  }

  private read(): Edn {
    this.skipSpace();
    const c = this.text[this.position];
    if (c === undefined) return this.fail("unexpected end of line");
    if (c === "{") {
      this.position++;
      const map = new Map<string, Edn>();
      for (;;) {
        this.skipSpace();
        if (this.text[this.position] === "}") {
          this.position++;
          return map;
        }
        const key = this.read();
        if (typeof key !== "object" || key === null || !("keyword" in key)) {
          this.fail(`map keys must be keywords (column ${this.position})`);
        }
        map.set((key as Keyword).keyword, this.read());
      }
    }
    if (c === "[") {
      this.position++;
      const items: Edn[] = [];
      for (;;) {
        this.skipSpace();
        if (this.text[this.position] === "]") {
          this.position++;
          return items;
        }
        items.push(this.read());
      }
    }
    if (c === '"') return this.readString();
    const start = this.position;
    while (this.position < this.text.length && !/[\s,{}[\]"]/.test(this.text[this.position]!)) {
      this.position++;
    }
    const token = this.text.slice(start, this.position);
    if (token === "") return this.fail(`unexpected ${JSON.stringify(c)} at column ${start + 1}`);
    if (token === "nil") return null;
    if (token === "true" || token === "false") return token === "true";
    if (token.startsWith(":")) return { keyword: token.slice(1) };
    if (/^-?\d+$/.test(token)) return Number(token);
    return this.fail(`unsupported EDN token ${JSON.stringify(token)} at column ${start + 1}`);
  }

  private readString(): string {
    this.position++;
    let out = "";
    for (;;) {
      const c = this.text[this.position++];
      if (c === undefined) return this.fail("unterminated string");
      if (c === '"') return out;
      if (c === "\\") {
        const escaped = this.text[this.position++];
        const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\" };
        const replacement = escaped === undefined ? undefined : map[escaped];
        if (replacement === undefined)
          return this.fail(`unsupported string escape \\${escaped ?? ""}`);
        out += replacement;
      } else out += c;
    }
  }
}

const KINDS: ReadonlyMap<string, OperationKind> = new Map(
  Object.entries({
    get: "read",
    read: "read",
    put: "write",
    write: "write",
    append: "append",
    delete: "delete",
    cas: "cas",
  }) as [string, OperationKind][],
);

function keywordName(value: Edn | undefined): string | undefined {
  return typeof value === "object" && value !== null && "keyword" in value
    ? value.keyword
    : undefined;
}

function scalar(value: Edn | undefined): Value | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "number") return value;
  return undefined;
}

export function parseEdn(text: string, source: string): History {
  const builder = new HistoryBuilder(source);
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!.trim();
    if (raw === "") continue;
    const line = index + 1;
    const fail = (problem: string): never => {
      throw new HistoryParseError(source, line, problem);
    };
    const event = new Reader(raw, fail).readTop();
    if (!(event instanceof Map))
      fail("each line must be one EDN map {:process … :type … :f … :key … :value …}");
    const map = event as Map<string, Edn>;
    const processField = map.get("process");
    if (typeof processField !== "number" && typeof processField !== "string") {
      fail(":process must be an integer or a string");
    }
    const process = String(processField);
    const type = keywordName(map.get("type"));
    const fName = keywordName(map.get("f"));
    const kind = fName === undefined ? undefined : KINDS.get(fName);
    if (kind === undefined)
      fail(`:f must be one of :get :put :append :delete :cas, got ${fName ?? "nothing"}`);
    const key = map.get("key");
    if (typeof key !== "string" && typeof key !== "number")
      fail(":key must be a string or an integer");
    const valueField = map.get("value");
    if (type === "invoke") {
      let value: Value = null;
      let expected: Value = null;
      if (kind === "cas") {
        if (!Array.isArray(valueField) || valueField.length !== 2)
          fail("a :cas needs :value [<from> <to>]");
        const pair = valueField as Edn[];
        const from = scalar(pair[0]);
        const to = scalar(pair[1]);
        if (from === undefined || to === undefined)
          fail("cas values must be strings, integers or nil");
        expected = from as Value;
        value = to as Value;
      } else if (kind !== "read") {
        const parsed = scalar(valueField);
        if (parsed === undefined) fail(":value must be a string, an integer or nil");
        value = parsed as Value;
      }
      builder.invoke({ process, kind: kind!, key: String(key), value, expected, time: null, line });
    } else if (type === "ok" || type === "fail" || type === "info") {
      const outcome: Outcome = type === "ok" ? "ok" : type === "fail" ? "fail" : "unknown";
      let value: Value = null;
      if (kind === "read" && outcome === "ok") {
        const parsed = scalar(valueField);
        if (parsed === undefined) fail(":value of a get must be a string, an integer or nil");
        value = parsed as Value;
      }
      builder.complete({ process, kind: kind!, outcome, value, swapped: true, time: null, line });
    } else {
      fail(`:type must be :invoke, :ok, :fail or :info, got ${type ?? "nothing"}`);
    }
  }
  return builder.build("edn", "", "kv");
}
