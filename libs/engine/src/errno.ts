/** `e` is a Node.js system error with one of `codes` (`ENOENT`, …). */
export function isErrnoCode(e: unknown, ...codes: readonly string[]): boolean {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' && codes.includes(e.code);
}
