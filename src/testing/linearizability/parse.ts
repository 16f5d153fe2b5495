// Reads a history file in any supported format, inferring the format when not given.
import { CheckerError } from "./errors.ts";
import { parseEdn } from "./parse-edn.ts";
import { parseJepsen } from "./parse-jepsen.ts";
import { parseJsonl } from "./parse-jsonl.ts";
import type { History, HistoryFormat } from "./types.ts";

export const HISTORY_FORMATS: readonly HistoryFormat[] = ["jsonl", "jepsen", "edn"];

/** Guesses the format from the first non-blank line. */
export function detectFormat(text: string, source: string): HistoryFormat {
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === "") continue;
    if (/^INFO\s+jepsen/.test(line)) return "jepsen";
    if (/^\{\s*:/.test(line)) return "edn";
    if (line.startsWith("{")) return "jsonl";
    throw new CheckerError(
      "HISTORY_FORMAT_UNKNOWN",
      `${source}:${index + 1}: cannot tell the history format from ${JSON.stringify(line.slice(0, 60))}; expected JSON lines, Jepsen log lines ("INFO jepsen.util - …") or EDN maps ("{:process …}"), or pass --format`,
    );
  }
  throw new CheckerError(
    "HISTORY_FORMAT_UNKNOWN",
    `${source}: the file is empty; a history needs at least one event`,
  );
}

export function parseHistory(text: string, source: string, format?: HistoryFormat): History {
  switch (format ?? detectFormat(text, source)) {
    case "jsonl":
      return parseJsonl(text, source);
    case "jepsen":
      return parseJepsen(text, source);
    case "edn":
      return parseEdn(text, source);
  }
}
