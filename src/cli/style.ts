/**
 * Colour, only where a person reads it: the stream is a terminal, `NO_COLOR` is unset or empty
 * (no-color.org) and `TERM` is not `dumb`. Pipes, files and scripts get plain text.
 */

/** Whether to colour what is written to `stream`. */
export const colourFor = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb"

export interface Style {
  readonly bold: (text: string) => string
  readonly dim: (text: string) => string
  readonly red: (text: string) => string
  readonly cyan: (text: string) => string
}

const sgr = (open: string) => (text: string) => `\u001b[${open}m${text}\u001b[0m`

/** ANSI styles when `colour`, else none. */
export const style = (colour: boolean): Style =>
  colour
    ? { bold: sgr("1"), dim: sgr("2"), red: sgr("31"), cyan: sgr("36") }
    : { bold: (t) => t, dim: (t) => t, red: (t) => t, cyan: (t) => t }
