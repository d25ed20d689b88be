/**
 * Runs the built CLI in a pseudo-terminal, as a person's shell would: util-linux `script` (in Debian's
 * essential bsdutils) gives the process a terminal for stdout and stderr, both captured together.
 */
import { execFile } from "node:child_process"
import { CLI, type Result, tempDir } from "./helpers.js"

/** A word for `sh -c`, single-quoted. */
export const shellQuote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`

/**
 * Runs `agent-identity args…` on a terminal with a clean environment (as `cli` does: protocol 2026-04
 * unless given, HOME a temp folder, TERM xterm); `output` is stdout and stderr as the terminal showed them,
 * with the terminal's `\r\n` read as `\n`.
 */
export const inTerminal = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Result> =>
  new Promise((resolve) => {
    const command = [process.execPath, CLI, ...args].map(shellQuote).join(" ")
    execFile("script", ["-qec", command, "/dev/null"], {
      env: { PATH: process.env["PATH"] ?? "", HOME: tempDir(), TERM: "xterm", AGENT_IDENTITY_PROTOCOL: "2026-04", ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout: stdout.replace(/\r\n/g, "\n"), stderr })
    })
  })

/** Whether `text` holds an ANSI escape sequence. */
export const hasAnsi = (text: string) => text.includes("\u001b[")
