/**
 * What a command prints on stdout, as text: one JSON object with `--json` (control characters escaped),
 * else the lines, each escaped (src/Domain/Text.ts). Pure and free of the Effect runtime, so that the
 * `header` fast path (fastHeader.ts) prints exactly what `output.ts` prints.
 */
import * as Redacted from "effect/Redacted"
import { type AuthorizationHeader, requestHeaders } from "../Domain/Headers.js"
import { escapeControls, toSafeJson } from "../Domain/Text.js"

/** The text of `value` with `--json`, else of the lines (no final newline). */
export const formatOutput = (json: boolean, value: unknown, lines: () => ReadonlyArray<string>): string =>
  json ? toSafeJson(value) : lines().map(escapeControls).join("\n")

/** `header --json`: the value and its scheme, and under 2026-06 every header to send by name. */
export const headerJson = (header: AuthorizationHeader, protocol: "2026-04" | "2026-06") => {
  const authorization = Redacted.value(header.value)
  return protocol === "2026-04"
    ? { authorization, scheme: header.scheme }
    : { authorization, scheme: header.scheme, headers: requestHeaders(header) }
}
