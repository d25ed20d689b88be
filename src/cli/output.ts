/**
 * Printing: text lines or one JSON object on stdout; warnings, notes and the error line on stderr,
 * `error:` in red on a terminal only (`style.ts`). Every line goes through `escapeControls`
 * (src/Domain/Text.ts): the ids, paths, server bodies and JWT claims it holds came from outside, and no
 * control character of theirs may reach a terminal.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { escapeControls } from "../Domain/Text.js"
import { formatOutput } from "./format.js"
import { colourFor, style } from "./style.js"

/** Prints `json` with `--json` (as JSON, control characters escaped), else the text lines, escaped. */
export const print = (json: boolean, value: unknown, lines: () => ReadonlyArray<string>): Effect.Effect<void> =>
  Console.log(formatOutput(json, value, lines))

/** One line, whatever the message holds. */
export const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const label = (text: string) => style(colourFor(process.stderr)).red(text)

/** Writes `error: <Tag>: <message>` for a failure value, on one escaped line, with `suffix` (how many attempts were made). */
export const printError = (error: unknown, suffix = "") => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`${label("error:")} ${escapeControls(tag)}: ${escapeControls(oneLine(message + suffix))}\n`)
}

/** Writes the line of a defect (a bug, not a failure the program expects). */
export const printDefect = (defect: unknown) =>
  process.stderr.write(`${label("error:")} Defect: ${escapeControls(oneLine(defect instanceof Error ? defect.message : String(defect)))}\n`)

/** Writes `warning: <text>` on stderr, escaped. */
export const warn = (text: string): Effect.Effect<void> =>
  Effect.sync(() => void process.stderr.write(`warning: ${escapeControls(oneLine(text))}\n`))

/** Writes `note: <text>` on stderr, escaped: why the command did what it did. */
export const note = (text: string): Effect.Effect<void> =>
  Effect.sync(() => void process.stderr.write(`note: ${escapeControls(oneLine(text))}\n`))

/**
 * A warning when auth.json can be read by its group or by others. OpenSSH refuses such a key file;
 * Codex uses it, so we do too, but say so: it holds the login and the agent's private key.
 */
export const warnIfExposed = (codexHome: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    const file = path.join(codexHome, "auth.json")
    let mode: number
    try {
      const stat = fs.statSync(file)
      if (!stat.isFile()) return Effect.void
      mode = stat.mode & 0o777
    } catch {
      return Effect.void
    }
    if ((mode & 0o044) === 0) return Effect.void
    const who = (mode & 0o004) !== 0 ? "every user" : "its group"
    return warn(
      `${file} can be read by ${who} (mode 0${mode.toString(8)}); it holds your login and agent key: run chmod 600 on it`
    )
  })
