/**
 * Text that came from outside (server bodies, ids, JWT claims, paths the user gave) made safe for a
 * terminal: every control character is written as a visible escape, so that no ANSI/OSC sequence,
 * carriage return, backspace or bidi override reaches stdout or stderr as itself.
 */

/**
 * The characters escaped: C0 controls (U+0000–U+001F, newline included: a line is ours to end),
 * DEL and the C1 controls (U+007F–U+009F), and the bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu

const NAMED: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f" }

const hex = (code: number, width: number) => code.toString(16).padStart(width, "0")

/** Whether `text` holds a character that `escapeControls` would escape. */
export const hasControls = (text: string): boolean => {
  CONTROL.lastIndex = 0
  return CONTROL.test(text)
}

/**
 * `text` with every control character written as an escape: `\t`, `\n`, `\r`, `\b`, `\f`, `\xNN`
 * below U+0100, `\uNNNN` above. Text without one comes back unchanged, and escaping twice changes
 * nothing more (an escape is printable).
 */
export const escapeControls = (text: string): string =>
  text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0)
    return NAMED[c] ?? (code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`)
  })

/**
 * `JSON.stringify(value)` with the control characters it leaves as they are (DEL, C1, bidi) written
 * as `\uNNNN` escapes too: the same JSON value, and no control character in the text.
 */
export const toSafeJson = (value: unknown): string =>
  (JSON.stringify(value) ?? "null").replace(CONTROL, (c) => `\\u${hex(c.charCodeAt(0), 4)}`)
