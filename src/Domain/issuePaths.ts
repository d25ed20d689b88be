/**
 * Where a Schema decode failed, as field paths, without formatting the offending values: they may be
 * secrets, or hostile (deep nesting that overflows a formatter's recursion). The issue tree's depth
 * follows the schema, not the value.
 */
import type * as ParseResult from "effect/ParseResult"

const toArray = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> => (Array.isArray(value) ? value : [value as A])

/** The distinct paths (`a.b.0`) at which `issue` failed; `root` names the top. */
export const issuePaths = (issue: ParseResult.ParseIssue, root: string, prefix: ReadonlyArray<PropertyKey> = []): Array<string> => {
  switch (issue._tag) {
    case "Pointer":
      return issuePaths(issue.issue, root, [...prefix, ...toArray(issue.path)])
    case "Composite":
      return [...new Set(toArray(issue.issues).flatMap((i) => issuePaths(i, root, prefix)))]
    case "Refinement":
    case "Transformation":
      return issuePaths(issue.issue, root, prefix)
    default:
      return [prefix.length === 0 ? root : prefix.map(String).join(".")]
  }
}
