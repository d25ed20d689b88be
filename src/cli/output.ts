/**
 * Printing: text lines or one JSON object on stdout; the error line and notes on stderr, `error:` in red
 * on a terminal only (`style.ts`).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { colourFor, style } from "./style.js"

/** Prints `json` with `--json`, else the text lines. */
export const print = (json: boolean, value: unknown, lines: () => ReadonlyArray<string>): Effect.Effect<void> =>
  json ? Console.log(JSON.stringify(value)) : Console.log(lines().join("\n"))

/** One line, whatever the message holds. */
export const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const label = (text: string) => style(colourFor(process.stderr)).red(text)

/** Writes `error: <Tag>: <message>` for a failure value, with `suffix` (how many attempts were made). */
export const printError = (error: unknown, suffix = "") => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`${label("error:")} ${tag}: ${oneLine(message)}${suffix}\n`)
}

/** Writes the line of a defect (a bug, not a failure the program expects). */
export const printDefect = (defect: unknown) =>
  process.stderr.write(`${label("error:")} Defect: ${oneLine(defect instanceof Error ? defect.message : String(defect))}\n`)

/** Writes `note: <text>` on stderr: why the command did what it did. */
export const note = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stderr.write(`note: ${oneLine(text)}\n`))
