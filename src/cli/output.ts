/** Printing: text lines or one JSON object on stdout. */
import * as Console from "effect/Console"
import type * as Effect from "effect/Effect"

/** Prints `json` with `--json`, else the text lines. */
export const print = (json: boolean, value: unknown, lines: () => ReadonlyArray<string>): Effect.Effect<void> =>
  json ? Console.log(JSON.stringify(value)) : Console.log(lines().join("\n"))
